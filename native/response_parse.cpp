// parse_response: a worker's loader.v1.CallResponse wire bytes in, (sid, outputs) out, with
// every output's data a read-only Payload view into those bytes.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "arguments.hpp"
#include "codec.hpp"
#include "fields.hpp"
#include "wire.hpp"

namespace aiges::codec {
namespace {

// (key, type, status, desc, data) of one Data message.
py::tuple read_output(WireReader& parent, int depth,
                      const std::shared_ptr<const HeldBuffer>& message) {
  WireReader msg = parent.sub(parent.read_length_delimited());
  py::str key("");
  std::int32_t type = 0, status = 0;
  py::dict desc;
  Span data{msg.pos(), 0};
  while (!msg.at_end()) {
    const Tag tag = msg.read_tag();
    if (is(tag, 1, kLengthDelimited)) {
      key = read_string(msg.field("key"));
    } else if (is(tag, 2, kVarint)) {
      type = to_int32(msg.field("type").read_varint());
    } else if (is(tag, 3, kVarint)) {
      status = to_int32(msg.field("status").read_varint());
    } else if (is(tag, 4, kLengthDelimited)) {
      read_map_entry(msg.field("desc"), depth - 1, desc);
    } else if (is(tag, 5, kLengthDelimited)) {
      data = msg.field("data").read_length_delimited();  // the last occurrence wins, as in protobuf
    } else {
      msg.skip(tag, depth);
    }
  }
  // View into the response, no copy.
  py::object view = py::cast(Payload{message, message->bytes().substr(data.offset, data.size)});
  return py::make_tuple(std::move(key), type, status, std::move(desc), std::move(view));
}

py::tuple parse_response(py::handle raw) {
  const std::shared_ptr<const HeldBuffer> message = hold_bytes(raw, "parse_response: raw");
  const std::string_view bytes = message->bytes();
  WireReader msg("CallResponse", reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  py::str sid("");
  py::list outputs;
  try {
    while (!msg.at_end()) {
      const Tag tag = msg.read_tag();
      if (is(tag, 1, kLengthDelimited)) {
        sid = read_string(msg.field("sid"));
      } else if (is(tag, 2, kLengthDelimited)) {
        outputs.append(read_output(msg.field("outputs", outputs.size()), kMaxDepth - 1, message));
      } else {
        msg.skip(tag, kMaxDepth);
      }
    }
  } catch (const DecodeFailure& failure) {
    // aiges_embed's translator does not catch this module's copy of DecodeFailure (each
    // module has its own hidden type), so its DecodeError is raised here by hand.
    PyErr_SetString(state().decode_error, failure.what());
    throw py::error_already_set();
  }
  return py::make_tuple(std::move(sid), std::move(outputs));
}

}  // namespace

void bind_response_parse(py::module_& m) {
  m.def("parse_response", &parse_response, py::arg("raw"),
        "Decode loader.v1.CallResponse bytes as protobuf does: (sid, [(key, type, status,\n"
        "desc, data)]), each data a read-only Payload view into raw. Raises DecodeError naming\n"
        "the field path and byte offset:\n"
        "'CallResponse.outputs[0].type: truncated varint at byte 7'.");
}

}  // namespace aiges::codec

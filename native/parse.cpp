// parse_call: loader.v1.CallRequest wire bytes in, the contract's objects out, with every
// input payload a view into the request bytes.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "arguments.hpp"
#include "buffer.hpp"
#include "dto.hpp"
#include "fields.hpp"
#include "wire.hpp"

namespace aiges {
namespace {

constexpr std::int32_t kDataText = 0;

struct ParsedCall {
  py::str sid;
  py::dict params;
  py::object data;  // DataListCls
  py::list accepts;
  py::str usr_tag;
  std::int32_t pers_id = 0;
};

// Where payload views point, and whether text inputs are copied out instead.
struct Source {
  std::shared_ptr<const HeldBuffer> message;
  bool copy_text;
};

py::object data_object(const Source& source, Span span, std::int32_t type) {
  const char* bytes = source.message->bytes().data() + span.offset;
  if (source.copy_text && type == kDataText) {
    // Copy: text inputs are small, and wrappers json.loads() or decode() them, which want bytes.
    return py::bytes(bytes, span.size);
  }
  // View into the request, no copy.
  return py::cast(Payload{source.message, {bytes, span.size}});
}

py::object read_data(WireReader& parent, int depth, const Source& source) {
  WireReader msg = parent.sub(parent.read_length_delimited());
  DataListNode node;
  node.key = py::str("");
  py::dict desc;
  Span data{msg.pos(), 0};
  while (!msg.at_end()) {
    const Tag tag = msg.read_tag();
    if (is(tag, 1, kLengthDelimited)) {
      node.key = read_string(msg.field("key"));
    } else if (is(tag, 2, kVarint)) {
      node.type = to_int32(msg.field("type").read_varint());
    } else if (is(tag, 3, kVarint)) {
      node.status = to_int32(msg.field("status").read_varint());
    } else if (is(tag, 4, kLengthDelimited)) {
      read_map_entry(msg.field("desc"), depth - 1, desc);
    } else if (is(tag, 5, kLengthDelimited)) {
      data = msg.field("data").read_length_delimited();
    } else {
      msg.skip(tag, depth);
    }
  }
  node.desc = std::move(desc);
  node.data = data_object(source, data, node.type);
  node.len = static_cast<std::int64_t>(data.size);
  return py::cast(std::move(node));
}

// An Accept as the tuple (key, type or None when absent, attrs).
py::tuple read_accept(WireReader& parent, int depth) {
  WireReader msg = parent.sub(parent.read_length_delimited());
  py::str key("");
  py::object type = py::none();
  py::dict attrs;
  while (!msg.at_end()) {
    const Tag tag = msg.read_tag();
    if (is(tag, 1, kLengthDelimited)) {
      key = read_string(msg.field("key"));
    } else if (is(tag, 2, kVarint)) {
      type = py::int_(to_int32(msg.field("type").read_varint()));
    } else if (is(tag, 3, kLengthDelimited)) {
      read_map_entry(msg.field("attrs"), depth - 1, attrs);
    } else {
      msg.skip(tag, depth);
    }
  }
  return py::make_tuple(key, type, attrs);
}

ParsedCall parse_call(py::handle raw, bool copy_text) {
  const Source source{hold_bytes(raw, "parse_call: raw"), copy_text};
  const std::string_view bytes = source.message->bytes();
  WireReader msg("CallRequest", reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  ParsedCall call{py::str(""), py::dict(), py::none(), py::list(), py::str(""), 0};
  py::list inputs;
  while (!msg.at_end()) {
    const Tag tag = msg.read_tag();
    if (is(tag, 1, kLengthDelimited)) {
      call.sid = read_string(msg.field("sid"));
    } else if (is(tag, 2, kLengthDelimited)) {
      read_map_entry(msg.field("params"), kMaxDepth - 1, call.params);
    } else if (is(tag, 3, kLengthDelimited)) {
      inputs.append(read_data(msg.field("inputs", inputs.size()), kMaxDepth - 1, source));
    } else if (is(tag, 4, kLengthDelimited)) {
      call.accepts.append(read_accept(msg.field("accepts", call.accepts.size()), kMaxDepth - 1));
    } else if (is(tag, 5, kLengthDelimited)) {
      call.usr_tag = read_string(msg.field("usr_tag"));
    } else if (is(tag, 6, kVarint)) {
      call.pers_id = to_int32(msg.field("pers_id").read_varint());
    } else {
      msg.skip(tag, kMaxDepth);
    }
  }
  call.data = py::cast(DataListCls{std::move(inputs)});
  return call;
}

}  // namespace

void bind_parse(py::module_& m) {
  py::class_<ParsedCall>(m, "ParsedCall", "A decoded loader.v1.CallRequest.")
      .def_readonly("sid", &ParsedCall::sid)
      .def_readonly("params", &ParsedCall::params)
      .def_readonly("data", &ParsedCall::data)
      .def_readonly("accepts", &ParsedCall::accepts)
      .def_readonly("usr_tag", &ParsedCall::usr_tag)
      .def_readonly("pers_id", &ParsedCall::pers_id)
      .def("__repr__", [](const ParsedCall& self) {
        return py::str("ParsedCall(sid={!r}, params={!r}, data={!r}, accepts={!r}, usr_tag={!r}, "
                       "pers_id={})")
            .format(self.sid, self.params, self.data, self.accepts, self.usr_tag, self.pers_id);
      });
  m.def("parse_call", &parse_call, py::arg("raw"), py::arg("copy_text") = true,
        "Decode loader.v1.CallRequest bytes exactly as protobuf does. Input payloads are\n"
        "read-only Payload views into raw, except text inputs (type 0), which are bytes copies\n"
        "when copy_text is true. Raises DecodeError on malformed input, naming the field path\n"
        "and byte offset: 'CallRequest.inputs[1].desc.key: truncated length at byte 40'.");
}

}  // namespace aiges

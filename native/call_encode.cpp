// encode_call: a translated AIGES request in, loader.v1.CallRequest wire bytes out, written
// once into a bytes object of its exact size. A Base64Span input is decoded straight into its
// place in the message: the one pass over the payload on the way to the worker.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arguments.hpp"
#include "base64.hpp"
#include "codec.hpp"
#include "data_message.hpp"
#include "wire.hpp"

namespace aiges::codec {
namespace {

// An input's data: bytes to copy, or base64 text (raw, maybe escaped) to decode.
struct Source {
  std::string_view bytes;
  const Base64Span* span = nullptr;
  std::size_t data_chars = 0;  // base64 characters before the padding, escapes resolved
  std::size_t size = 0;        // bytes written
};

struct PlannedInput {
  DataHead head;
  Source data;
  std::size_t size = 0;  // of the encoded Data message
};

// No attrs: the worker never reads them, and the gateway keeps its own to render the reply.
struct PlannedAccept {
  std::string_view key;
  std::optional<std::int32_t> type;
  std::size_t size = 0;  // of the encoded Accept message
};

struct Plan {
  std::string_view sid;
  std::vector<MapEntry> params;
  std::vector<PlannedInput> inputs;
  std::vector<PlannedAccept> accepts;
  std::size_t base64_chars = 0;
};

// A tuple of `fewest` to `most` items; `what` names it, its function included.
py::tuple fields_of(py::handle item, std::size_t fewest, std::size_t most,
                    const std::string& what) {
  const Py_ssize_t count = PyTuple_Check(item.ptr()) ? PyTuple_GET_SIZE(item.ptr()) : -1;
  if (count < static_cast<Py_ssize_t>(fewest) || count > static_cast<Py_ssize_t>(most)) {
    const std::string wanted =
        std::to_string(fewest) + (most == fewest ? "" : " or " + std::to_string(most));
    throw py::type_error(what + " must be a tuple of " + wanted + ", not " + type_name(item));
  }
  return py::reinterpret_borrow<py::tuple>(item);
}

// Checks a span's escapes and padding with the GIL held, so the decode pass only has the
// alphabet left to check; returns the base64 characters before the padding.
std::size_t plan_base64(const Base64Span& span, std::size_t index) {
  const Base64Span::Layout layout = span.layout();
  const std::string where = "inputs[" + std::to_string(index) + "]: ";
  if (layout.fault == Base64Span::Fault::kEscape) {
    raise_base64_error(index, where + "escape in base64");
  }
  if (layout.fault == Base64Span::Fault::kPadding) {
    raise_base64_error(index, where + "bad base64 padding");
  }
  return layout.data_chars;
}

Source source_of(py::handle data, std::size_t index, Pins& pins) {
  Source source;
  if (py::isinstance<Base64Span>(data)) {
    pins.objects.push_back(py::reinterpret_borrow<py::object>(data));
    source.span = &data.cast<const Base64Span&>();
    source.bytes = source.span->text();
    source.data_chars = plan_base64(*source.span, index);
    source.size = b64::decoded_size(source.data_chars);
    return source;
  }
  HeldBuffer& held = pins.buffers.emplace_back();
  if (!held.acquire(data, PyBUF_C_CONTIGUOUS)) {
    PyErr_Clear();
    throw py::type_error("encode_call: inputs[" + std::to_string(index) +
                         "] data must be a Base64Span or bytes-like, not " + type_name(data));
  }
  source.bytes = held.bytes();
  source.size = source.bytes.size();
  return source;
}

std::size_t accept_size(const PlannedAccept& accept) {
  std::size_t size = accept.key.empty() ? 0 : length_delimited_size(accept.key.size());
  if (accept.type) size += int32_field_size(*accept.type);  // optional: present even when 0
  return size;
}

PlannedInput plan_input(py::handle item, std::size_t index, Pins& pins) {
  const std::string what = "encode_call: inputs[" + std::to_string(index) + "]";
  const py::tuple fields = fields_of(item, 5, 5, what);
  PlannedInput in;
  in.head.key = str_of(fields[0], pins, what + " key");
  in.head.type = int32_of(fields[1], what + " type");
  in.head.status = int32_of(fields[2], what + " status");
  in.head.desc = entries_of(fields[3], pins, what + " desc");
  in.data = source_of(fields[4], index, pins);
  in.size = in.head.message_size(in.data.size);
  return in;
}

// (key, type or None) or (key, type or None, attrs): the attrs are not read.
PlannedAccept plan_accept(py::handle item, std::size_t index, Pins& pins) {
  const std::string what = "encode_call: accepts[" + std::to_string(index) + "]";
  const py::tuple fields = fields_of(item, 2, 3, what);
  PlannedAccept accept;
  accept.key = str_of(fields[0], pins, what + " key");
  if (!fields[1].is_none()) accept.type = int32_of(fields[1], what + " type");
  accept.size = accept_size(accept);
  return accept;
}

std::size_t request_size(const Plan& plan) {
  std::size_t size = plan.sid.empty() ? 0 : length_delimited_size(plan.sid.size());
  size += map_field_size(plan.params);
  for (const PlannedInput& in : plan.inputs) size += length_delimited_size(in.size);
  for (const PlannedAccept& accept : plan.accepts) size += length_delimited_size(accept.size);
  return size;
}

// Unescapes "\/" (the only escape plan_base64 lets through) a block at a time and decodes.
bool decode_escaped(std::string_view raw, std::size_t data_chars, std::uint8_t* out) {
  constexpr std::size_t kBlock = 4096;  // a multiple of 4: blocks hold whole quads
  std::uint8_t block[kBlock];
  std::size_t filled = 0, at = 0;
  for (std::size_t taken = 0; taken < data_chars; ++taken) {
    if (raw[at] == '\\') ++at;
    block[filled++] = static_cast<std::uint8_t>(raw[at++]);
    if (filled == kBlock && taken + 1 < data_chars) {
      if (!b64::decode_quads(block, kBlock / 4, out)) return false;
      out += kBlock / 4 * 3;
      filled = 0;
    }
  }
  return b64::decode_data(block, filled, out);
}

bool write_data(WireWriter& writer, const Source& data) {
  if (data.size == 0) return true;
  writer.tag(5, kLengthDelimited);
  writer.varint(data.size);
  if (data.span == nullptr) {
    writer.raw(data.bytes);
    return true;
  }
  auto* out = reinterpret_cast<std::uint8_t*>(writer.position());
  writer = WireWriter(writer.position() + data.size);
  if (data.span->escaped) return decode_escaped(data.bytes, data.data_chars, out);
  return b64::decode_data(reinterpret_cast<const std::uint8_t*>(data.bytes.data()),
                          data.data_chars, out);
}

// Returns the index of the input whose base64 is invalid, or -1.
long write_request(char* out, const Plan& plan) {
  WireWriter writer(out);
  if (!plan.sid.empty()) writer.bytes_field(1, plan.sid);
  writer.map_field(2, plan.params);
  for (std::size_t i = 0; i < plan.inputs.size(); ++i) {
    const PlannedInput& in = plan.inputs[i];
    in.head.write(writer, 3, in.size);
    if (!write_data(writer, in.data)) return static_cast<long>(i);
  }
  for (const PlannedAccept& accept : plan.accepts) {
    writer.tag(4, kLengthDelimited);
    writer.varint(accept.size);
    if (!accept.key.empty()) writer.bytes_field(1, accept.key);
    if (accept.type) writer.int32_field(2, *accept.type);
  }
  return -1;
}

py::bytes encode_call(py::handle body, py::handle sid, py::handle params, py::handle inputs,
                      py::handle accepts) {
  Pins pins;
  Plan plan;
  HeldBuffer& held_body = pins.buffers.emplace_back();
  if (!body.is_none() && !held_body.acquire(body, PyBUF_SIMPLE)) {
    PyErr_Clear();
    throw py::type_error("encode_call: body must be bytes-like or None, not " + type_name(body));
  }
  plan.sid = str_of(sid, pins, "encode_call: sid");
  plan.params = entries_of(params, pins, "encode_call: params");
  const py::list input_list(py::reinterpret_borrow<py::object>(inputs));
  for (std::size_t i = 0; i < input_list.size(); ++i) {
    plan.inputs.push_back(plan_input(input_list[i], i, pins));
    const Base64Span* span = plan.inputs.back().data.span;
    if (span == nullptr) continue;
    if (!body.is_none() && span->body->bytes().data() != held_body.bytes().data()) {
      throw py::value_error("encode_call: inputs[" + std::to_string(i) +
                            "] is a span of another body");
    }
    plan.base64_chars += span->size;
  }
  const py::list accept_list(py::reinterpret_borrow<py::object>(accepts));
  for (std::size_t i = 0; i < accept_list.size(); ++i) {
    plan.accepts.push_back(plan_accept(accept_list[i], i, pins));
  }
  const std::size_t total = request_size(plan);
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(total));
  if (raw == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(raw);
  long bad = -1;
  // Only this thread knows `result` yet, and pins keeps every source alive and unresizable.
  run_releasing_gil(plan.base64_chars, [&] { bad = write_request(PyBytes_AS_STRING(raw), plan); });
  if (bad >= 0) {
    const auto index = static_cast<std::size_t>(bad);
    raise_base64_error(index, "inputs[" + std::to_string(index) + "]: invalid base64 character");
  }
  return result;
}

}  // namespace

void bind_call_encode(py::module_& m) {
  m.def("encode_call", &encode_call, py::arg("body"), py::arg("sid"), py::arg("params"),
        py::arg("inputs"), py::arg("accepts"),
        "loader.v1.CallRequest wire bytes, written once into bytes of their exact size.\n\n"
        "inputs: (key, type, status, desc, data) tuples, data a Base64Span (decoded straight\n"
        "into the message, as binascii.a2b_base64(strict_mode=True) would, an escaped '/' the\n"
        "only escape allowed) or bytes-like (copied). accepts: (key, type or None[, attrs])\n"
        "tuples; attrs stay with the caller and are not written.\n"
        "body: the buffer every span must point into, or None to take spans from anywhere.\n"
        "Raises Base64Error, whose .index names the input, on invalid base64.");
}

}  // namespace aiges::codec

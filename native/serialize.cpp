// serialize_response: a wrapper's output objects in, loader.v1.CallResponse wire bytes out,
// byte for byte what protobuf's deterministic serializer writes, one copy of each payload.
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arguments.hpp"
#include "buffer.hpp"
#include "data_message.hpp"
#include "wire.hpp"

namespace aiges {
namespace {

// One output reduced to the bytes the writer needs; every view points into a pinned object.
struct PlannedOutput {
  DataHead head;  // desc in upb's deterministic order, see upb_key_order
  std::string_view data;
  std::size_t size = 0;  // of the encoded Data message
};

// A missing or None int field is 0, the proto3 default.
std::int32_t int32_attr(py::handle output, const char* name, const std::string& what) {
  const py::object value = py::getattr(output, name, py::none());
  return value.is_none() ? 0 : int32_of(value, what + " " + name);
}

// upb's deterministic map order: bytewise, except that when one key is a prefix of the other
// the longer comes first ("ab" before "a"), unlike a plain lexicographic sort.
bool upb_key_order(const MapEntry& a, const MapEntry& b) {
  const std::string_view x = a.first, y = b.first;
  const std::size_t common = std::min(x.size(), y.size());
  const int order = x.substr(0, common).compare(y.substr(0, common));
  return order != 0 ? order < 0 : x.size() > y.size();
}

std::vector<MapEntry> desc_of(py::handle desc, Pins& pins, const std::string& what) {
  if (desc.is_none()) return {};
  std::vector<MapEntry> entries = entries_of(desc, pins, what + " desc");
  std::sort(entries.begin(), entries.end(), upb_key_order);
  return entries;
}

std::string_view data_of(py::handle data, Pins& pins, const std::string& what) {
  if (data.is_none()) return {};
  if (PyUnicode_Check(data.ptr())) return utf8_of(data, pins);
  if (!PyObject_CheckBuffer(data.ptr())) {
    throw py::type_error(what + " data must be bytes-like or str, not " + type_name(data));
  }
  HeldBuffer& held = pins.buffers.emplace_back();
  if (!held.acquire(data, PyBUF_C_CONTIGUOUS)) {
    PyErr_Clear();
    throw py::type_error(what + " data is a " + type_name(data) + " that is not C-contiguous");
  }
  return held.bytes();
}

// Reads one output object by attribute; a missing or None attribute is the proto3 default.
// The byte length written is that of data itself, whatever the object's len says.
PlannedOutput plan_output(py::handle output, std::size_t index, std::optional<std::int32_t> status,
                          Pins& pins) {
  const py::object key = py::getattr(output, "key", py::none());
  const std::string where = "serialize_response: outputs[" + std::to_string(index) + "]";
  PlannedOutput out;
  out.head.key = key.is_none() ? std::string_view() : str_of(key, pins, where + " key");
  const std::string what = where + " (key " + py::repr(key).cast<std::string>() + ")";
  out.head.type = int32_attr(output, "type", what);
  out.head.status = status ? *status : int32_attr(output, "status", what);
  out.head.desc = desc_of(py::getattr(output, "desc", py::none()), pins, what);
  out.data = data_of(py::getattr(output, "data", py::none()), pins, what);
  out.size = out.head.message_size(out.data.size());
  return out;
}

void write_output(WireWriter& writer, const PlannedOutput& out) {
  out.head.write(writer, 2, out.size);
  if (!out.data.empty()) writer.bytes_field(5, out.data);
}

void write_response(char* out, std::string_view sid, const std::vector<PlannedOutput>& outputs) {
  WireWriter writer(out);
  if (!sid.empty()) writer.bytes_field(1, sid);
  for (const PlannedOutput& output : outputs) write_output(writer, output);
}

py::bytes serialize_response(py::handle sid, py::handle outputs,
                             std::optional<std::int32_t> status) {
  Pins pins;
  const std::string_view sid_bytes = str_of(sid, pins, "serialize_response: sid");
  const py::list items(py::reinterpret_borrow<py::object>(outputs));
  std::vector<PlannedOutput> planned;
  planned.reserve(items.size());
  std::size_t total = sid_bytes.empty() ? 0 : length_delimited_size(sid_bytes.size());
  std::size_t payload_bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    planned.push_back(plan_output(items[i], i, status, pins));
    total += length_delimited_size(planned.back().size);
    payload_bytes += planned.back().data.size();
  }
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(total));
  if (raw == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(raw);
  char* out = PyBytes_AS_STRING(raw);
  // Only this thread knows `result` yet, and pins keeps every source alive and unresizable.
  run_releasing_gil(payload_bytes, [&] { write_response(out, sid_bytes, planned); });
  return result;
}

}  // namespace

void bind_serialize(py::module_& m) {
  m.def("serialize_response", &serialize_response, py::arg("sid"), py::arg("outputs"),
        py::arg("status") = py::none(),
        "Encode loader.v1.CallResponse(sid, outputs) exactly as protobuf's deterministic\n"
        "serializer does. Each output is read by attribute (key, type, status, desc, data;\n"
        "missing or None means empty); data may be bytes-like (C-contiguous), str (UTF-8) or\n"
        "None, and its real byte length is written whatever .len says. status, when given,\n"
        "replaces every output's status. Payloads are copied once, without the GIL when large.");
}

}  // namespace aiges

// serialize_response: a wrapper's output objects in, loader.v1.CallResponse wire bytes out,
// byte for byte what protobuf's deterministic serializer writes, one copy of each payload.
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "buffer.hpp"
#include "wire.hpp"

namespace aiges {
namespace {

// Below this many payload bytes the copy is too short to be worth handing the GIL to another
// thread: taking it back can mean waiting a whole switch interval (5 ms) behind a busy one.
constexpr std::size_t kReleaseGilFrom = 64 * 1024;

using Entry = std::pair<std::string_view, std::string_view>;

// One output reduced to the bytes the writer needs; every view points into a pinned object.
struct PlannedOutput {
  std::string_view key;
  std::int32_t type = 0;
  std::int32_t status = 0;
  std::vector<Entry> desc;  // in upb's deterministic order, see upb_key_order
  std::string_view data;
  std::size_t size = 0;  // of the encoded Data message
};

// Keeps every object the plan points into alive while the GIL is released.
struct Pins {
  std::vector<py::object> objects;
  std::deque<HeldBuffer> buffers;  // a deque never moves its elements
};

std::string type_name(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

std::string_view utf8_of(py::handle text, Pins& pins) {
  Py_ssize_t size = 0;
  const char* bytes = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
  if (bytes == nullptr) throw py::error_already_set();
  pins.objects.push_back(py::reinterpret_borrow<py::object>(text));
  return {bytes, static_cast<std::size_t>(size)};
}

std::string_view str_of(py::handle value, Pins& pins, const std::string& what) {
  if (!PyUnicode_Check(value.ptr())) {
    throw py::type_error(what + " must be str, not " + type_name(value));
  }
  return utf8_of(value, pins);
}

std::int32_t int32_of(py::handle value, const std::string& what) {
  if (value.is_none()) return 0;
  const py::int_ number = py::reinterpret_steal<py::int_>(PyNumber_Index(value.ptr()));
  if (!number) throw py::error_already_set();
  int overflow = 0;
  const long long wide = PyLong_AsLongLongAndOverflow(number.ptr(), &overflow);
  if (overflow != 0 || wide < INT32_MIN || wide > INT32_MAX) {
    throw py::value_error(what + " " + py::str(number).cast<std::string>() + " is outside int32");
  }
  return static_cast<std::int32_t>(wide);
}

// upb's deterministic map order: bytewise, except that when one key is a prefix of the other
// the longer comes first ("ab" before "a"), unlike a plain lexicographic sort.
bool upb_key_order(const Entry& a, const Entry& b) {
  const std::string_view x = a.first, y = b.first;
  const std::size_t common = std::min(x.size(), y.size());
  const int order = x.substr(0, common).compare(y.substr(0, common));
  return order != 0 ? order < 0 : x.size() > y.size();
}

std::vector<Entry> desc_of(py::handle desc, Pins& pins, const std::string& what) {
  std::vector<Entry> entries;
  if (desc.is_none()) return entries;
  for (py::handle item : desc.attr("items")()) {
    const py::tuple pair = py::reinterpret_borrow<py::tuple>(item);
    const std::string_view key = str_of(pair[0], pins, what + " desc key");
    entries.emplace_back(key, str_of(pair[1], pins, what + " desc[" + std::string(key) + "]"));
  }
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

std::size_t entry_size(const Entry& entry) {
  return length_delimited_size(entry.first.size()) + length_delimited_size(entry.second.size());
}

std::size_t data_message_size(const PlannedOutput& out) {
  std::size_t size = 0;
  if (!out.key.empty()) size += length_delimited_size(out.key.size());
  if (out.type != 0) size += int32_field_size(out.type);
  if (out.status != 0) size += int32_field_size(out.status);
  for (const Entry& entry : out.desc) size += length_delimited_size(entry_size(entry));
  if (!out.data.empty()) size += length_delimited_size(out.data.size());
  return size;
}

// Reads one output object by attribute; a missing or None attribute is the proto3 default.
// The byte length written is that of data itself, whatever the object's len says.
PlannedOutput plan_output(py::handle output, std::size_t index, std::optional<std::int32_t> status,
                          Pins& pins) {
  const py::object key = py::getattr(output, "key", py::none());
  const std::string where = "serialize_response: outputs[" + std::to_string(index) + "]";
  PlannedOutput out;
  out.key = key.is_none() ? std::string_view() : str_of(key, pins, where + " key");
  const std::string what = where + " (key " + py::repr(key).cast<std::string>() + ")";
  out.type = int32_of(py::getattr(output, "type", py::none()), what + " type");
  out.status =
      status ? *status : int32_of(py::getattr(output, "status", py::none()), what + " status");
  out.desc = desc_of(py::getattr(output, "desc", py::none()), pins, what);
  out.data = data_of(py::getattr(output, "data", py::none()), pins, what);
  out.size = data_message_size(out);
  return out;
}

void write_output(WireWriter& writer, const PlannedOutput& out) {
  writer.tag(2, kLengthDelimited);
  writer.varint(out.size);
  if (!out.key.empty()) writer.bytes_field(1, out.key);
  if (out.type != 0) writer.int32_field(2, out.type);
  if (out.status != 0) writer.int32_field(3, out.status);
  for (const Entry& entry : out.desc) {
    // Map entries always carry both key and value, even when empty, as protobuf writes them.
    writer.tag(4, kLengthDelimited);
    writer.varint(entry_size(entry));
    writer.bytes_field(1, entry.first);
    writer.bytes_field(2, entry.second);
  }
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
  if (payload_bytes >= kReleaseGilFrom) {
    // Only this thread knows `result` yet, and pins keeps every source alive and unresizable.
    py::gil_scoped_release released;
    write_response(out, sid_bytes, planned);
  } else {
    write_response(out, sid_bytes, planned);
  }
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

// loader.v1 field readers shared by parse_call (CallRequest) and parse_response (CallResponse),
// with protobuf-python's rules for strings, enums and map entries.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

#include "wire.hpp"

namespace aiges {

namespace py = pybind11;

inline bool is(Tag tag, std::uint32_t field, WireType wire) {
  return tag.field == field && tag.wire == wire;
}

// int32 and enum fields keep the low 32 bits of the varint, as protobuf does.
inline std::int32_t to_int32(std::uint64_t value) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(value));
}

// The value of the field the reader last named, as a str.
inline py::str read_string(WireReader& msg) {
  const Span span = msg.read_length_delimited();
  const char* bytes = reinterpret_cast<const char*>(msg.base()) + span.offset;
  PyObject* text = PyUnicode_DecodeUTF8(bytes, static_cast<Py_ssize_t>(span.size), "strict");
  if (text == nullptr) {
    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) throw py::error_already_set();
    PyErr_Clear();
    msg.fail("invalid UTF-8", span.offset);
  }
  return py::reinterpret_steal<py::str>(text);
}

// One map<string, string> entry, proto3 rules: an absent key or value is "", the last
// occurrence of either wins, and a later entry with the same key replaces an earlier one.
// An entry holding any unknown field is validated but not inserted: upb moves such an entry
// to the parent's unknown fields, so protobuf-python's map never shows it.
// `depth` here and below is the nesting budget left for the message being read; `parent` has
// named the map field.
inline void read_map_entry(WireReader& parent, int depth, py::dict& map) {
  WireReader entry = parent.sub(parent.read_length_delimited());
  py::str key(""), value("");
  bool has_unknown = false;
  while (!entry.at_end()) {
    const Tag tag = entry.read_tag();
    if (is(tag, 1, kLengthDelimited)) {
      key = read_string(entry.field("key"));
    } else if (is(tag, 2, kLengthDelimited)) {
      value = read_string(entry.field("value"));
    } else {
      entry.skip(tag, depth);
      has_unknown = true;
    }
  }
  if (!has_unknown) map[key] = value;
}

}  // namespace aiges

// A bound function's Python arguments read into C++ views, for writers that then run without
// the GIL: Pins keeps what the views point into alive, and the GIL is let go only for work
// long enough to be worth it. Shared by both modules.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "buffer.hpp"
#include "wire.hpp"

namespace aiges {

namespace py = pybind11;

// Below this many payload bytes the work is too short to be worth handing the GIL to another
// thread: taking it back can mean waiting a whole switch interval (5 ms) behind a busy one.
constexpr std::size_t kReleaseGilFrom = 64 * 1024;

// Runs work(), without the GIL when it handles at least kReleaseGilFrom bytes. work must
// touch no Python object: what it reads is pinned, what it writes only this thread knows.
template <class Work>
void run_releasing_gil(std::size_t bytes, Work&& work) {
  if (bytes >= kReleaseGilFrom) {
    py::gil_scoped_release released;
    work();
  } else {
    work();
  }
}

// Keeps every object a plan points into alive (and buffers unresizable) without the GIL.
struct Pins {
  std::vector<py::object> objects;
  std::deque<HeldBuffer> buffers;  // a deque never moves its elements
};

inline std::string type_name(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

// A bytes-like argument held for as long as any view cut from it lives; `what` names it in
// the TypeError raised for anything else ("parse_call: raw").
inline std::shared_ptr<const HeldBuffer> hold_bytes(py::handle value, const std::string& what) {
  auto held = std::make_shared<HeldBuffer>();
  if (!held->acquire(value, PyBUF_SIMPLE)) {
    PyErr_Clear();
    throw py::type_error(what + " must be a contiguous bytes-like object, not " +
                         type_name(value));
  }
  return held;
}

// The UTF-8 of a str, pinned.
inline std::string_view utf8_of(py::handle text, Pins& pins) {
  Py_ssize_t size = 0;
  const char* bytes = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
  if (bytes == nullptr) throw py::error_already_set();
  pins.objects.push_back(py::reinterpret_borrow<py::object>(text));
  return {bytes, static_cast<std::size_t>(size)};
}

// `what` names the argument in the error, its function included: "encode_call: sid".
inline std::string_view str_of(py::handle value, Pins& pins, const std::string& what) {
  if (!PyUnicode_Check(value.ptr())) {
    throw py::type_error(what + " must be str, not " + type_name(value));
  }
  return utf8_of(value, pins);
}

inline std::int32_t int32_of(py::handle value, const std::string& what) {
  const py::int_ number = py::reinterpret_steal<py::int_>(PyNumber_Index(value.ptr()));
  if (!number) throw py::error_already_set();
  int overflow = 0;
  const long long wide = PyLong_AsLongLongAndOverflow(number.ptr(), &overflow);
  if (overflow != 0 || wide < INT32_MIN || wide > INT32_MAX) {
    throw py::value_error(what + " " + py::str(number).cast<std::string>() + " is outside int32");
  }
  return static_cast<std::int32_t>(wide);
}

// The items of a Mapping[str, str], in its own order.
inline std::vector<MapEntry> entries_of(py::handle map, Pins& pins, const std::string& what) {
  std::vector<MapEntry> entries;
  for (py::handle item : map.attr("items")()) {
    const py::tuple pair = py::reinterpret_borrow<py::tuple>(item);
    const std::string_view key = str_of(pair[0], pins, what + " key");
    entries.emplace_back(key, str_of(pair[1], pins, what + "[" + std::string(key) + "]"));
  }
  return entries;
}

}  // namespace aiges

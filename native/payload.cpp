// Payload: a zero-copy, read-only view of input bytes that also behaves like bytes.
#include <algorithm>
#include <cstdint>
#include <string>

#include "arguments.hpp"
#include "buffer.hpp"

namespace aiges {
namespace {

// Copy: bytes owns its memory. Only the bytes-returning API (bytes(), tobytes(), hash, and the
// methods borrowed from bytes) pays for it.
py::bytes copy_of(const Payload& self) { return py::bytes(self.bytes.data(), self.bytes.size()); }

py::object not_implemented() { return py::reinterpret_borrow<py::object>(Py_NotImplemented); }

// The bytes of `other` if it is bytes-like; otherwise false with no Python error left set.
bool borrow_bytes(py::handle other, HeldBuffer& held) {
  if (held.acquire(other, PyBUF_SIMPLE)) return true;
  PyErr_Clear();
  return false;
}

std::string_view require_bytes(py::handle other, HeldBuffer& held) {
  if (!borrow_bytes(other, held)) {
    throw py::type_error("a bytes-like object is required, not '" + type_name(other) + "'");
  }
  return held.bytes();
}

py::object equals(const Payload& self, py::handle other) {
  HeldBuffer held;
  if (!borrow_bytes(other, held)) return not_implemented();
  return py::bool_(self.bytes == held.bytes());
}

int byte_at(const Payload& self, py::ssize_t index) {
  const auto size = static_cast<py::ssize_t>(self.bytes.size());
  if (index < 0) index += size;
  if (index < 0 || index >= size) throw py::index_error("index out of range");
  return static_cast<std::uint8_t>(self.bytes[static_cast<std::size_t>(index)]);
}

py::bytes slice_of(const Payload& self, const py::slice& slice) {
  py::ssize_t start = 0, stop = 0, step = 0, length = 0;
  if (!slice.compute(static_cast<py::ssize_t>(self.bytes.size()), &start, &stop, &step, &length)) {
    throw py::error_already_set();
  }
  // Copy: a slice of bytes is bytes, which owns its memory; written straight into it.
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, length);
  if (raw == nullptr) throw py::error_already_set();
  char* out = PyBytes_AS_STRING(raw);
  for (py::ssize_t i = 0, at = start; i < length; ++i, at += step) {
    out[i] = self.bytes[static_cast<std::size_t>(at)];
  }
  return py::reinterpret_steal<py::bytes>(raw);
}

// An integer index as bytes methods take it: huge values clamp instead of overflowing.
Py_ssize_t clamped_index(py::handle value) {
  const Py_ssize_t index = PyNumber_AsSsize_t(value.ptr(), nullptr);
  if (index == -1 && PyErr_Occurred()) throw py::error_already_set();
  return index;
}

bool contains(const Payload& self, py::handle item) {
  if (PyIndex_Check(item.ptr())) {
    const Py_ssize_t value = clamped_index(item);
    if (value < 0 || value > 255) throw py::value_error("byte must be in range(0, 256)");
    return self.bytes.find(static_cast<char>(value)) != std::string_view::npos;
  }
  HeldBuffer held;
  return self.bytes.find(require_bytes(item, held)) != std::string_view::npos;
}

// One bytes-like affix at [start, end), with the index rules of CPython's bytes tailmatch.
bool tail_match(std::string_view bytes, py::handle affix, Py_ssize_t start, Py_ssize_t end,
                bool at_start) {
  HeldBuffer held;
  const std::string_view wanted = require_bytes(affix, held);
  const auto len = static_cast<Py_ssize_t>(bytes.size());
  const auto want = static_cast<Py_ssize_t>(wanted.size());
  if (end > len) end = len;
  if (end < 0) end = std::max<Py_ssize_t>(end + len, 0);
  if (start < 0) start = std::max<Py_ssize_t>(start + len, 0);
  if (at_start && start > len - want) return false;
  if (!at_start) {
    if (end - start < want || start > len) return false;
    start = std::max(start, end - want);
  }
  if (end - start < want) return false;
  return bytes.substr(static_cast<std::size_t>(start), wanted.size()) == wanted;
}

// bytes.startswith/endswith: affix is bytes-like or a tuple of them.
bool has_affix(const Payload& self, py::handle affix, py::object start, py::object end,
               bool at_start) {
  const Py_ssize_t lo = start.is_none() ? 0 : clamped_index(start);
  const Py_ssize_t hi = end.is_none() ? PY_SSIZE_T_MAX : clamped_index(end);
  if (!PyTuple_Check(affix.ptr())) return tail_match(self.bytes, affix, lo, hi, at_start);
  for (py::handle each : py::reinterpret_borrow<py::tuple>(affix)) {
    if (tail_match(self.bytes, each, lo, hi, at_start)) return true;
  }
  return false;
}

py::object bytes_attribute(const Payload& self, const std::string& name) {
  // Dunder probes (numpy's __array_interface__, copy's __deepcopy__, ...) must fail fast rather
  // than copy the payload to find out that bytes lacks them too.
  if (name.rfind("__", 0) == 0) {
    throw py::attribute_error("'Payload' object has no attribute '" + name + "'");
  }
  return py::getattr(copy_of(self), name.c_str());
}

const char* const kPayloadDoc =
    "Read-only view into the bytes of a parsed request; no copy.\n\n"
    "Supports the buffer protocol (np.frombuffer(p, dtype) and memoryview(p) share memory with\n"
    "the request and are read-only) and the common bytes API. Attributes it does not define\n"
    "are looked up on bytes(p), which copies the payload first.";

}  // namespace

void bind_payload(py::module_& m) {
  py::class_<Payload>(m, "Payload", py::buffer_protocol(), kPayloadDoc)
      .def_buffer([](const Payload& self) {
        return py::buffer_info(const_cast<char*>(self.bytes.data()), 1, "B", 1,
                               {static_cast<py::ssize_t>(self.bytes.size())}, {1},
                               /*readonly=*/true);
      })
      .def_property_readonly(
          "owner",
          [](const Payload& self) {
            return py::reinterpret_borrow<py::object>(self.message->owner());
          },
          "The object the request was parsed from.")
      .def("__len__", [](const Payload& self) { return self.bytes.size(); })
      .def("__bytes__", &copy_of)
      .def("tobytes", &copy_of, "A bytes copy of the payload.")
      .def(
          "decode",
          [](const Payload& self, const char* encoding, const char* errors) {
            PyObject* text = PyUnicode_Decode(self.bytes.data(),
                                              static_cast<Py_ssize_t>(self.bytes.size()),
                                              encoding, errors);
            if (text == nullptr) throw py::error_already_set();
            return py::reinterpret_steal<py::str>(text);
          },
          py::arg("encoding") = "utf-8", py::arg("errors") = "strict")
      .def("__eq__", &equals)
      .def("__ne__",
           [](const Payload& self, py::handle other) {
             py::object same = equals(self, other);
             return same.is(not_implemented()) ? same : py::bool_(!same.cast<bool>());
           })
      // hash must equal hash(bytes(self)), and only bytes knows how it hashes.
      .def("__hash__", [](const Payload& self) { return py::hash(copy_of(self)); })
      .def("__getitem__", &byte_at)
      .def("__getitem__", &slice_of)
      .def(
          "__iter__",
          [](const Payload& self) {
            const auto* begin = reinterpret_cast<const std::uint8_t*>(self.bytes.data());
            return py::make_iterator(begin, begin + self.bytes.size());
          },
          py::keep_alive<0, 1>())
      .def("__contains__", &contains)
      .def("hex",
           [](py::object self, py::args args, py::kwargs kwargs) {
             // A memoryview of the payload formats it in place, no copy.
             return py::memoryview(self).attr("hex")(*args, **kwargs);
           })
      .def(
          "startswith",
          [](const Payload& self, py::handle prefix, py::object start, py::object end) {
            return has_affix(self, prefix, start, end, true);
          },
          py::arg("prefix"), py::arg("start") = py::none(), py::arg("end") = py::none())
      .def(
          "endswith",
          [](const Payload& self, py::handle suffix, py::object start, py::object end) {
            return has_affix(self, suffix, start, end, false);
          },
          py::arg("suffix"), py::arg("start") = py::none(), py::arg("end") = py::none())
      .def("__getattr__", &bytes_attribute)
      .def("__repr__", [](const Payload& self) {
        return "<Payload " + std::to_string(self.bytes.size()) + " bytes>";
      });
}

}  // namespace aiges

// Buffer-protocol ownership: a held Py_buffer, and Payload, a read-only view into one.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string_view>

namespace aiges {

namespace py = pybind11;

// A Py_buffer exported by some object and released when this dies. Neither copyable nor
// movable: exporters may key their bookkeeping on the Py_buffer's address. Every instance dies
// with the GIL held (Python deallocation, or a bound function's own scope).
class HeldBuffer {
 public:
  HeldBuffer() = default;
  HeldBuffer(const HeldBuffer&) = delete;
  HeldBuffer& operator=(const HeldBuffer&) = delete;
  ~HeldBuffer() {
    if (held_) PyBuffer_Release(&view_);
  }

  // Exports obj's buffer; on failure returns false with the Python error still set.
  bool acquire(py::handle obj, int flags) {
    held_ = PyObject_GetBuffer(obj.ptr(), &view_, flags) == 0;
    return held_;
  }

  std::string_view bytes() const {
    return {static_cast<const char*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }
  py::handle owner() const { return view_.obj; }

 private:
  Py_buffer view_{};
  bool held_ = false;
};

// A read-only window into the bytes of a parsed message. Every Payload cut from one message
// shares its HeldBuffer, so the message object stays alive (and a bytearray stays unresizable)
// until the last view of it is gone.
struct Payload {
  std::shared_ptr<const HeldBuffer> message;
  std::string_view bytes;
};

void bind_payload(py::module_& m);

}  // namespace aiges

// athena_codec internals shared by its source files: the Base64Span view, module state, errors.
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "buffer.hpp"

namespace aiges::codec {

namespace py = pybind11;

// The raw text of one JSON string in a request body, left undecoded: the base64 of a payload.
// It shares the body's HeldBuffer, so the body stays alive (and a bytearray unresizable) while
// any span of it exists.
struct Base64Span {
  std::shared_ptr<const HeldBuffer> body;
  std::size_t offset = 0;  // of the first character after the opening quote
  std::size_t size = 0;    // raw characters, escapes included
  bool escaped = false;    // the raw text holds backslash escapes

  std::string_view text() const { return body->bytes().substr(offset, size); }

  // What encode_call checks before decoding, with the GIL held: the escapes and the padding.
  enum class Fault { kNone, kEscape, kPadding };
  struct Layout {
    Fault fault = Fault::kNone;
    std::size_t data_chars = 0;  // base64 characters before the padding, escapes resolved
    std::size_t padding_at = 0;  // where the padding starts in text()
  };
  Layout layout() const;

  // encode_call's whole verdict: the layout, and every data character in the alphabet.
  bool is_valid() const;
};

// Malformed JSON; the message already names where. Bound as athena_codec.JSONError.
class JsonFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Set once when the module is imported; the exception types are never released.
struct State {
  PyObject* base64_error = nullptr;  // athena_codec.Base64Error
  PyObject* decode_error = nullptr;  // aiges_embed.DecodeError
  // binascii.a2b_base64(strict_mode=True) of this interpreter accepts '=' after a complete
  // final quad ("QUJD=="): CPython 3.11 and 3.12 do, 3.13 does not.
  bool excess_padding_ok = false;
};

State& state();

// Raises athena_codec.Base64Error(message) with .index = index.
[[noreturn]] void raise_base64_error(std::size_t index, const std::string& message);

void bind_base64_span(py::module_& m);
void bind_json_scan(py::module_& m);
void bind_json_write(py::module_& m);
void bind_call_encode(py::module_& m);
void bind_response_parse(py::module_& m);

}  // namespace aiges::codec

// athena_codec: the HTTP gateway's native codec between AIGES JSON and loader.v1 wire bytes.
//
// Request: parse_request leaves each payload's base64 in the body as a Base64Span, and
// encode_call decodes it straight into the CallRequest bytes. Response: parse_response cuts
// Payload views out of the CallResponse bytes, and render_json base64-encodes them straight
// into the JSON text. Each payload is read once per direction; nothing else copies it.
#include <pybind11/pybind11.h>

#include "codec.hpp"

namespace aiges::codec {

State& state() {
  static State instance;
  return instance;
}

void raise_base64_error(std::size_t index, const std::string& message) {
  py::handle type(state().base64_error);
  py::object error = type(message);
  error.attr("index") = index;
  PyErr_SetObject(type.ptr(), error.ptr());
  throw py::error_already_set();
}

namespace {

bool binascii_accepts_excess_padding() {
  try {
    py::module_::import("binascii").attr("a2b_base64")("QUJD==", py::arg("strict_mode") = true);
    return true;
  } catch (py::error_already_set& error) {
    if (!error.matches(PyExc_ValueError)) throw;
    return false;
  }
}

}  // namespace
}  // namespace aiges::codec

PYBIND11_MODULE(athena_codec, m) {
  namespace codec = aiges::codec;
  m.doc() = "The HTTP gateway's native codec: AIGES JSON <-> loader.v1 wire bytes.";
  // Payload is bound by aiges_embed; importing it registers the type that parse_response and
  // render_json share with the loader (pybind11 types are visible across modules).
  pybind11::module_ embed = pybind11::module_::import("aiges_embed");
  codec::State& state = codec::state();
  state.decode_error = pybind11::object(embed.attr("DecodeError")).release().ptr();
  state.base64_error = PyErr_NewExceptionWithDoc(
      "athena_codec.Base64Error",
      "Invalid base64 in an encode_call input; .index is the position of that input.",
      PyExc_ValueError, nullptr);
  if (state.base64_error == nullptr) throw pybind11::error_already_set();
  state.excess_padding_ok = codec::binascii_accepts_excess_padding();
  m.attr("Base64Error") = pybind11::handle(state.base64_error);
  m.attr("DecodeError") = embed.attr("DecodeError");
  pybind11::register_local_exception<codec::JsonFailure>(m, "JSONError", PyExc_ValueError);
  codec::bind_base64_span(m);
  codec::bind_json_scan(m);
  codec::bind_json_write(m);
  codec::bind_call_encode(m);
  codec::bind_response_parse(m);
}

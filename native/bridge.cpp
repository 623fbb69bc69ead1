// aiges_embed: the native data bridge between loader.v1 wire bytes and an AIGES wrapper.
//
// Wrappers import their data classes and callbacks from here, as they did from the original
// AIGES loader; the loader worker uses parse_call and serialize_response to move payloads
// between gRPC and the wrapper without copying them.
#include <pybind11/pybind11.h>

#include "buffer.hpp"
#include "dto.hpp"
#include "wire.hpp"

namespace aiges {

namespace py = pybind11;

void bind_hooks(py::module_& m);
void bind_parse(py::module_& m);
void bind_serialize(py::module_& m);

namespace {

void bind_constants(py::module_& m) {
  m.attr("DataText") = 0;
  m.attr("DataAudio") = 1;
  m.attr("DataImage") = 2;
  m.attr("DataVideo") = 3;
  m.attr("DataPer") = 4;
  m.attr("DataBegin") = 0;
  m.attr("DataContinue") = 1;
  m.attr("DataEnd") = 2;
  m.attr("DataOnce") = 3;
  m.attr("Once") = 3;
}

}  // namespace
}  // namespace aiges

PYBIND11_MODULE(aiges_embed, m) {
  m.doc() = "Native data bridge: AIGES wrapper classes and loader.v1 wire codec.";
  pybind11::register_exception<aiges::DecodeFailure>(m, "DecodeError", PyExc_ValueError);
  aiges::bind_constants(m);
  aiges::bind_payload(m);
  aiges::bind_dto(m);
  aiges::bind_hooks(m);
  aiges::bind_parse(m);
  aiges::bind_serialize(m);
}

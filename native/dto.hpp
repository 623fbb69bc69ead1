// The AIGES contract's data classes, as wrappers import them from aiges_embed.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>

namespace aiges {

namespace py = pybind11;

// Fields shared by an input (DataListNode) and an output (ResponseData). The Python-facing
// members are Python objects so a wrapper reads back exactly what it (or parse_call) stored:
// a Payload stays a Payload, a dict stays the same dict.
struct DataFields {
  py::object key;   // str
  py::object data;  // bytes-like, str or None
  std::int64_t len = 0;
  std::int32_t type = 0;
  std::int32_t status = 0;
  py::object desc;  // dict[str, str]
};

struct DataListNode : DataFields {};
struct ResponseData : DataFields {};

struct DataListCls {
  py::object list;  // list[DataListNode]
};

void bind_dto(py::module_& m);

}  // namespace aiges

// Bindings of the contract's data classes: DataListNode, DataListCls, ResponseData, Response,
// SessionCreateResponse. Every class takes dynamic attributes because wrappers hang their own
// state on them.
#include <string>
#include <utility>

#include "arguments.hpp"
#include "buffer.hpp"
#include "dto.hpp"

namespace aiges {
namespace {

struct Response {
  py::object list;  // list[ResponseData]
  int error_code = 0;
};

struct SessionCreateResponse {
  py::object handle;  // str
  int error_code = 0;
};

py::object to_str(py::handle value, const char* field) {
  if (!PyUnicode_Check(value.ptr())) {
    throw py::type_error(std::string(field) + " must be str, not " + type_name(value));
  }
  return py::reinterpret_borrow<py::object>(value);
}

// A dict stays the same object, so a wrapper's later edits to it are seen; any other mapping
// is copied into a new dict because the field promises a real dict. None means empty.
py::object to_dict(py::handle value) {
  if (value.is_none()) return py::dict();
  return py::dict(py::reinterpret_borrow<py::object>(value));
}

// Same rule as to_dict: a list is kept, another iterable is copied into a list.
py::object to_list(py::handle value) {
  if (value.is_none()) return py::list();
  return py::list(py::reinterpret_borrow<py::object>(value));
}

// Byte length of what serialize_response would write for data: UTF-8 length for str.
std::int64_t byte_length(py::handle data) {
  if (data.is_none()) return 0;
  if (PyUnicode_Check(data.ptr())) {
    Py_ssize_t size = 0;
    if (PyUnicode_AsUTF8AndSize(data.ptr(), &size) == nullptr) throw py::error_already_set();
    return size;
  }
  HeldBuffer held;
  if (held.acquire(data, PyBUF_RECORDS_RO)) return static_cast<std::int64_t>(held.bytes().size());
  PyErr_Clear();
  throw py::type_error("data must be bytes-like or str, not " + type_name(data));
}

template <class T, class Base>
void def_str(py::class_<T>& cls, const char* name, py::object Base::*field) {
  cls.def_property(
      name, [field](const T& self) { return self.*field; },
      [field, name](T& self, py::handle value) { self.*field = to_str(value, name); });
}

template <class T, class Base>
void def_converted(py::class_<T>& cls, const char* name, py::object Base::*field,
                   py::object (*convert)(py::handle)) {
  cls.def_property(
      name, [field](const T& self) { return self.*field; },
      [field, convert](T& self, py::handle value) { self.*field = convert(value); });
}

template <class T>
T make_data(py::handle key, py::object data, std::int64_t len, std::int32_t type,
            std::int32_t status, py::handle desc) {
  T made;
  made.key = to_str(key, "key");
  made.data = std::move(data);
  made.len = len;
  made.type = type;
  made.status = status;
  made.desc = to_dict(desc);
  return made;
}

py::str data_repr(py::handle self, const DataFields& fields) {
  return py::str("{}(key={!r}, type={}, status={}, len={}, desc={!r})")
      .format(py::type::handle_of(self).attr("__name__"), fields.key, fields.type, fields.status,
              fields.len, fields.desc);
}

template <class T>
py::class_<T> bind_data_fields(py::module_& m, const char* name, const char* doc) {
  py::class_<T> cls(m, name, py::dynamic_attr(), doc);
  def_str(cls, "key", &T::key);
  cls.def_readwrite("data", &T::data)
      .def_readwrite("len", &T::len)
      .def_readwrite("type", &T::type)
      .def_readwrite("status", &T::status);
  def_converted(cls, "desc", &T::desc, &to_dict);
  cls.def("__repr__", [](py::handle self) { return data_repr(self, self.cast<const T&>()); });
  return cls;
}

void bind_data_list_node(py::module_& m) {
  bind_data_fields<DataListNode>(m, "DataListNode", "One input of a call.")
      .def(py::init(&make_data<DataListNode>), py::arg("key") = "", py::arg("data") = py::bytes(),
           py::arg("len") = 0, py::arg("type") = 0, py::arg("status") = 0,
           py::arg("desc") = py::none())
      .def("get_data", [](const DataListNode& self) { return self.data; });
}

void bind_data_list_cls(py::module_& m) {
  py::class_<DataListCls> cls(m, "DataListCls", py::dynamic_attr(), "The inputs of a call.");
  cls.def(py::init([](py::handle list) { return DataListCls{to_list(list)}; }),
          py::arg("list") = py::none());
  def_converted(cls, "list", &DataListCls::list, &to_list);
  cls.def(
         "get",
         [](const DataListCls& self, py::handle key) -> py::object {
           for (py::handle node : self.list) {
             if (py::getattr(node, "key", py::none()).equal(key)) {
               return py::reinterpret_borrow<py::object>(node);
             }
           }
           return py::none();
         },
         py::arg("key"), "The first node with this key, or None.")
      .def("__repr__", [](const DataListCls& self) {
        return py::str("DataListCls(list={!r})").format(self.list);
      });
}

void bind_response_data(py::module_& m) {
  // Positional order (key, len, status, type) is the contract's constructor.
  bind_data_fields<ResponseData>(m, "ResponseData", "One output of a call.")
      .def(py::init([](py::handle key, std::int64_t len, std::int32_t status, std::int32_t type,
                       py::object data, py::handle desc) {
             return make_data<ResponseData>(key, std::move(data), len, type, status, desc);
           }),
           py::arg("key") = "", py::arg("len") = 0, py::arg("status") = 0, py::arg("type") = 0,
           py::arg("data") = py::bytes(), py::arg("desc") = py::none())
      .def(
          "setData",
          [](ResponseData& self, py::object data) {
            self.len = byte_length(data);
            self.data = std::move(data);
          },
          py::arg("data"), "Set data and len (its byte length; UTF-8 length for str).")
      .def(
          "setDataType", [](ResponseData& self, std::int32_t type) { self.type = type; },
          py::arg("type"));
}

void bind_response(py::module_& m) {
  py::class_<Response> cls(m, "Response", py::dynamic_attr(), "A wrapper's result.");
  cls.def(py::init([](py::handle list, int error_code) {
            return Response{to_list(list), error_code};
          }),
          py::arg("list") = py::none(), py::arg("error_code") = 0);
  def_converted(cls, "list", &Response::list, &to_list);
  cls.def_readwrite("error_code", &Response::error_code)
      .def(
          "response_err",
          [](const Response&, int code) { return Response{py::list(), code}; },
          py::arg("code"), "A new, empty Response carrying this error code.")
      .def("__repr__", [](const Response& self) {
        return py::str("Response(error_code={}, list={!r})").format(self.error_code, self.list);
      });
}

void bind_session_create_response(py::module_& m) {
  py::class_<SessionCreateResponse> cls(m, "SessionCreateResponse", py::dynamic_attr(),
                                        "A wrapper's answer to wrapperCreate.");
  cls.def(py::init([](py::handle handle, int error_code) {
            return SessionCreateResponse{to_str(handle, "handle"), error_code};
          }),
          py::arg("handle") = "", py::arg("error_code") = 0);
  def_str(cls, "handle", &SessionCreateResponse::handle);
  cls.def_readwrite("error_code", &SessionCreateResponse::error_code)
      .def("__repr__", [](const SessionCreateResponse& self) {
        return py::str("SessionCreateResponse(handle={!r}, error_code={})")
            .format(self.handle, self.error_code);
      });
}

}  // namespace

void bind_dto(py::module_& m) {
  bind_data_list_node(m);
  bind_data_list_cls(m);
  bind_response_data(m);
  bind_response(m);
  bind_session_create_response(m);
}

}  // namespace aiges

// callback, callback_metric, callback_trace: a wrapper's calls back into the loader worker,
// routed to Python hooks the worker registers with set_hooks.
#include <stdexcept>
#include <string>
#include <utility>

#include <pybind11/pybind11.h>

namespace aiges {

namespace py = pybind11;

namespace {

struct Hooks {
  py::object callback;
  py::object metric;
  py::object trace;
};

// Never destroyed: a static py::object's destructor would run after the interpreter is gone.
Hooks& hooks() {
  static auto* const instance = new Hooks();
  return *instance;
}

void set_hook(py::object& slot, py::object hook, const char* name) {
  if (hook.is_none()) return;
  if (!PyCallable_Check(hook.ptr())) throw py::type_error(std::string(name) + " must be callable");
  slot = std::move(hook);
}

int callback(py::handle resp, py::handle usr_tag, const py::args& extra) {
  // A local reference: the hook may clear the hooks while it runs.
  const py::object hook = hooks().callback;
  if (!hook) throw std::runtime_error("aiges_embed.callback called outside a loader worker");
  return hook(resp, usr_tag, *extra).cast<int>();
}

int call_optional(const py::object& slot, py::handle usr_tag, py::handle key, py::handle value) {
  const py::object hook = slot;
  return hook ? hook(usr_tag, key, value).cast<int>() : 0;
}

}  // namespace

void bind_hooks(py::module_& m) {
  m.def(
      "set_hooks",
      [](py::object callback, py::object metric, py::object trace) {
        set_hook(hooks().callback, std::move(callback), "callback");
        set_hook(hooks().metric, std::move(metric), "metric");
        set_hook(hooks().trace, std::move(trace), "trace");
      },
      py::arg("callback") = py::none(), py::arg("metric") = py::none(),
      py::arg("trace") = py::none(),
      "Register the worker's hooks; None leaves a hook unchanged.");
  m.def(
      "clear_hooks", [] { hooks() = Hooks(); }, "Remove every registered hook.");
  m.def("callback", &callback, py::arg("resp"), py::arg("usrTag"),
        "Deliver an asynchronous result; returns the hook's result.");
  m.def(
      "callback_metric",
      [](py::handle usr_tag, py::handle key, py::handle count) {
        return call_optional(hooks().metric, usr_tag, key, count);
      },
      py::arg("usrTag"), py::arg("key"), py::arg("count"), "Report a metric; 0 without a hook.");
  m.def(
      "callback_trace",
      [](py::handle usr_tag, py::handle key, py::handle value) {
        return call_optional(hooks().trace, usr_tag, key, value);
      },
      py::arg("usrTag"), py::arg("key"), py::arg("value"), "Report a trace; 0 without a hook.");
}

}  // namespace aiges

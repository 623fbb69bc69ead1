// Base64Span: one payload's base64 left in the request body, and the verdict encode_call will
// give on it, which the gateway can also ask for without decoding anything.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "arguments.hpp"
#include "base64.hpp"
#include "codec.hpp"

namespace aiges::codec {

Base64Span::Layout Base64Span::layout() const {
  const std::string_view raw = text();
  std::size_t chars = raw.size();
  if (escaped) {
    // JSON encoders may write '/' as "\/"; any other escape cannot be base64.
    for (std::size_t at = raw.find('\\'); at != raw.npos; at = raw.find('\\', at + 2)) {
      if (at + 1 >= raw.size() || raw[at + 1] != '/') return {Fault::kEscape, 0, 0};
      --chars;
    }
  }
  std::size_t pads = 0;
  while (pads < raw.size() && raw[raw.size() - 1 - pads] == '=') ++pads;
  Layout layout{Fault::kNone, 0, raw.size() - pads};
  if (!b64::padding_ok(chars, pads, state().excess_padding_ok, layout.data_chars)) {
    return {Fault::kPadding, 0, 0};
  }
  return layout;
}

bool Base64Span::is_valid() const {
  const Layout checked = layout();
  if (checked.fault != Fault::kNone) return false;
  const std::string_view data = text().substr(0, checked.padding_at);
  // layout() has seen every '\' start a "\/": the runs between backslashes are the data.
  for (std::size_t from = 0;;) {
    const std::size_t to = escaped ? std::min(data.find('\\', from), data.size()) : data.size();
    if (!b64::in_alphabet(reinterpret_cast<const std::uint8_t*>(data.data()) + from, to - from)) {
      return false;
    }
    if (to == data.size()) return true;
    from = to + 1;
  }
}

namespace {

const char* const kSpanDoc =
    "The base64 text of one payload, left in the request body (no copy).\n\n"
    "len() is the raw length in the body, escapes included; `escaped` says whether the raw\n"
    "text holds backslash escapes. The span keeps the body alive. encode_call decodes it.";

}  // namespace

void bind_base64_span(py::module_& m) {
  py::class_<Base64Span>(m, "Base64Span", kSpanDoc)
      .def("__len__", [](const Base64Span& self) { return self.size; })
      .def_property_readonly("escaped", [](const Base64Span& self) { return self.escaped; })
      .def_property_readonly(
          "offset", [](const Base64Span& self) { return self.offset; },
          "Where the raw text starts in the body.")
      .def_property_readonly(
          "owner",
          [](const Base64Span& self) {
            return py::reinterpret_borrow<py::object>(self.body->owner());
          },
          "The body the span was parsed from.")
      .def(
          "is_valid",
          [](const Base64Span& self) {
            bool valid = false;
            // The span holds its body's buffer, so the text stays put without the GIL.
            run_releasing_gil(self.size, [&] { valid = self.is_valid(); });
            return valid;
          },
          "Whether encode_call would decode this span without a Base64Error. Scans the text\n"
          "once and allocates nothing.")
      .def(
          "tobytes",
          [](const Base64Span& self) {
            const std::string_view text = self.text();
            return py::bytes(text.data(), text.size());  // copy: the caller asked for bytes
          },
          "A bytes copy of the raw (still encoded, still escaped) text.")
      .def("__repr__", [](const Base64Span& self) {
        return "<Base64Span " + std::to_string(self.size) + " characters at byte " +
               std::to_string(self.offset) + (self.escaped ? ", escaped>" : ">");
      });
}

}  // namespace aiges::codec

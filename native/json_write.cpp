// render_json: a response document in, compact UTF-8 JSON bytes out, written once into a bytes
// object of its exact size; buffers (payload views) are base64-encoded straight into it.
//
// The first pass walks the Python objects, pins every one it will read, and records the
// document as a list of pieces with their exact sizes; the second pass writes the pieces and
// touches no Python object, so it can run without the GIL when there is base64 to encode.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "arguments.hpp"
#include "base64.hpp"
#include "codec.hpp"

namespace aiges::codec {
namespace {

constexpr int kMaxNesting = 1000;

enum class Kind : std::uint8_t {
  kRaw,            // bytes written as they are: punctuation, literals, numbers
  kString,         // a JSON string needing no escapes: quotes around the bytes
  kEscapedString,  // a JSON string with characters to escape
  kBase64,         // a buffer, as a base64 JSON string
};

struct Piece {
  const char* data;
  std::size_t size;  // of the source bytes
  Kind kind;
};

// What json.dumps writes for each byte of a str (ensure_ascii=False): 0 the byte itself, 'u'
// a \u00XX escape, else the letter after the backslash.
struct EscapeTable {
  char escape[256];
};

constexpr EscapeTable make_escape_table() {
  EscapeTable table{};
  for (int c = 0; c < 0x20; ++c) table.escape[c] = 'u';
  table.escape[static_cast<int>('"')] = '"';
  table.escape[static_cast<int>('\\')] = '\\';
  table.escape[static_cast<int>('\b')] = 'b';
  table.escape[static_cast<int>('\f')] = 'f';
  table.escape[static_cast<int>('\n')] = 'n';
  table.escape[static_cast<int>('\r')] = 'r';
  table.escape[static_cast<int>('\t')] = 't';
  return table;
}

constexpr EscapeTable kEscapes = make_escape_table();

// Extra bytes the escapes of this UTF-8 text take beyond the text itself.
std::size_t escape_overhead(std::string_view text) {
  std::size_t extra = 0, at = 0;
  const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20), ascii = _mm_set1_epi8(0x7f);
  for (; text.size() - at >= 16; at += 16) {
    const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    // bytes >= 0x80 are never escaped: clear their sign bit before the signed "< 0x20"
    const __m128i low = _mm_cmplt_epi8(_mm_and_si128(chunk, ascii), space);
    const __m128i control = _mm_andnot_si128(_mm_cmplt_epi8(chunk, _mm_setzero_si128()), low);
    const __m128i special = _mm_or_si128(
        control, _mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)));
    if (_mm_movemask_epi8(special) == 0) continue;
    for (std::size_t i = at; i < at + 16; ++i) {
      const char e = kEscapes.escape[p[i]];
      extra += e == 0 ? 0 : e == 'u' ? 5 : 1;
    }
  }
#endif
  for (; at < text.size(); ++at) {
    const char e = kEscapes.escape[p[at]];
    extra += e == 0 ? 0 : e == 'u' ? 5 : 1;
  }
  return extra;
}

char* write_escaped(char* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char ch : text) {
    const auto c = static_cast<std::uint8_t>(ch);
    const char e = kEscapes.escape[c];
    if (e == 0) {
      *out++ = ch;
    } else if (e == 'u') {
      std::memcpy(out, "\\u00", 4);
      out[4] = kHex[c >> 4];
      out[5] = kHex[c & 15];
      out += 6;
    } else {
      out[0] = '\\';
      out[1] = e;
      out += 2;
    }
  }
  return out;
}

class Planner {
 public:
  std::vector<Piece> pieces;
  std::size_t total = 0;
  std::size_t buffer_bytes = 0;

  void plan(py::handle value, int depth) {
    PyObject* obj = value.ptr();
    if (PyUnicode_Check(obj)) return plan_string(value);
    if (obj == Py_None) return raw("null", 4);
    if (obj == Py_True) return raw("true", 4);
    if (obj == Py_False) return raw("false", 5);
    if (PyLong_Check(obj)) return plan_repr(PyLong_Type.tp_repr(obj));  // int.__repr__, as json
    if (PyFloat_Check(obj)) return plan_float(value);
    if (PyList_Check(obj) || PyTuple_Check(obj)) return plan_array(value, depth + 1);
    if (PyDict_Check(obj)) return plan_object(value, depth + 1);
    if (PyObject_CheckBuffer(obj)) return plan_buffer(value);
    throw py::type_error("Object of type " + type_name(value) + " is not JSON serializable");
  }

 private:
  void add(const char* data, std::size_t size, Kind kind, std::size_t written) {
    pieces.push_back({data, size, kind});
    total += written;
  }

  void raw(const char* text, std::size_t size) { add(text, size, Kind::kRaw, size); }

  void plan_string(py::handle text) {
    const std::string_view utf8 = utf8_of(text, pins_);
    const std::size_t extra = escape_overhead(utf8);
    add(utf8.data(), utf8.size(), extra ? Kind::kEscapedString : Kind::kString,
        utf8.size() + extra + 2);
  }

  void plan_repr(PyObject* repr) {
    if (repr == nullptr) throw py::error_already_set();
    const py::object text = py::reinterpret_steal<py::object>(repr);
    const std::string_view utf8 = utf8_of(text, pins_);
    raw(utf8.data(), utf8.size());
  }

  void plan_float(py::handle number) {
    const double value = PyFloat_AS_DOUBLE(number.ptr());
    if (std::isnan(value)) return raw("NaN", 3);
    if (std::isinf(value)) return value > 0 ? raw("Infinity", 8) : raw("-Infinity", 9);
    plan_repr(PyFloat_Type.tp_repr(number.ptr()));  // float.__repr__, as json
  }

  void check_depth(int depth) const {
    if (depth > kMaxNesting) {
      throw py::value_error("render_json: nesting deeper than " + std::to_string(kMaxNesting) +
                            " levels (a circular reference?)");
    }
  }

  void plan_array(py::handle array, int depth) {
    check_depth(depth);
    pins_.objects.push_back(py::reinterpret_borrow<py::object>(array));
    const Py_ssize_t size = PySequence_Fast_GET_SIZE(array.ptr());
    PyObject** items = PySequence_Fast_ITEMS(array.ptr());
    raw("[", 1);
    for (Py_ssize_t i = 0; i < size; ++i) {
      if (i > 0) raw(",", 1);
      plan(items[i], depth);
    }
    raw("]", 1);
  }

  void plan_object(py::handle object, int depth) {
    check_depth(depth);
    pins_.objects.push_back(py::reinterpret_borrow<py::object>(object));
    raw("{", 1);
    Py_ssize_t at = 0;
    PyObject *key = nullptr, *value = nullptr;
    bool first = true;
    while (PyDict_Next(object.ptr(), &at, &key, &value)) {
      if (!PyUnicode_Check(key)) {
        throw py::type_error("render_json: keys must be str, not " + type_name(key));
      }
      if (!first) raw(",", 1);
      first = false;
      plan_string(key);
      raw(":", 1);
      plan(value, depth);
    }
    raw("}", 1);
  }

  void plan_buffer(py::handle value) {
    HeldBuffer& held = pins_.buffers.emplace_back();
    if (!held.acquire(value, PyBUF_C_CONTIGUOUS)) {
      PyErr_Clear();
      throw py::type_error("render_json: a " + type_name(value) + " that is not C-contiguous");
    }
    const std::string_view bytes = held.bytes();
    add(bytes.data(), bytes.size(), Kind::kBase64, b64::encoded_size(bytes.size()) + 2);
    buffer_bytes += bytes.size();
  }

  Pins pins_;  // every object the pieces point into, until the document is written
};

void write(char* out, const std::vector<Piece>& pieces) {
  for (const Piece& piece : pieces) {
    switch (piece.kind) {
      case Kind::kRaw:
        std::memcpy(out, piece.data, piece.size);
        out += piece.size;
        break;
      case Kind::kString:
        *out++ = '"';
        std::memcpy(out, piece.data, piece.size);
        out += piece.size;
        *out++ = '"';
        break;
      case Kind::kEscapedString:
        *out++ = '"';
        out = write_escaped(out, {piece.data, piece.size});
        *out++ = '"';
        break;
      case Kind::kBase64:
        *out++ = '"';
        b64::encode(reinterpret_cast<const std::uint8_t*>(piece.data), piece.size, out);
        out += b64::encoded_size(piece.size);
        *out++ = '"';
        break;
    }
  }
}

py::bytes render_json(py::handle document) {
  Planner planner;
  planner.plan(document, 0);
  PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(planner.total));
  if (raw == nullptr) throw py::error_already_set();
  py::bytes result = py::reinterpret_steal<py::bytes>(raw);
  // Only this thread knows `result` yet, and the planner pins every source it points into.
  run_releasing_gil(planner.buffer_bytes, [&] { write(PyBytes_AS_STRING(raw), planner.pieces); });
  return result;
}

}  // namespace

void bind_json_write(py::module_& m) {
  m.def("render_json", &render_json, py::arg("document"),
        "Serialize dict/list/tuple/str/int/float/bool/None as compact UTF-8 JSON bytes, as\n"
        "json.dumps(ensure_ascii=False, separators=(',', ':')).encode() does; any buffer\n"
        "(bytes, bytearray, memoryview, Payload) becomes a base64 string encoded straight into\n"
        "the output. Non-str keys and other types raise TypeError.");
}

}  // namespace aiges::codec

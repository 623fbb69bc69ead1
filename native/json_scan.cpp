// parse_request: an AIGES JSON body in, the document as json.loads builds it out, except that
// each payload's data string (payload.<name>.<text|audio|image|video>) stays in the body as a
// Base64Span: no str is made of the megabytes of base64.
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "arguments.hpp"
#include "codec.hpp"

namespace aiges::codec {
namespace {

constexpr int kMaxNesting = 512;

// Where a value sits in the document, as far as finding payload data strings goes.
enum class Place { kTop, kPayload, kItem, kData, kOther };

bool is_digit(std::uint8_t c) { return c >= '0' && c <= '9'; }

int hex_value(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  // Surrogates get the 3-byte form; PyUnicode_DecodeUTF8(..., "surrogatepass") reads them back
  // as the lone surrogates json.loads keeps.
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

struct ScannedString {
  std::size_t begin;  // first character after the opening quote
  std::size_t end;    // the closing quote
  bool escaped;
  bool non_ascii;
};

class Parser {
 public:
  Parser(std::shared_ptr<const HeldBuffer> body, std::size_t start)
      : body_(std::move(body)),
        p_(reinterpret_cast<const std::uint8_t*>(body_->bytes().data())),
        pos_(start),
        end_(body_->bytes().size()) {}

  py::object document() {
    py::object value = parse_value(0, Place::kTop);
    skip_whitespace();
    if (pos_ != end_) fail("Extra data", pos_);
    return value;
  }

 private:
  // json's messages, with the byte offset where json gives the character index.
  [[noreturn]] void fail(const std::string& what, std::size_t at) const {
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < at && i < end_; ++i) {
      if (p_[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    throw JsonFailure(what + ": line " + std::to_string(line) + " column " +
                      std::to_string(at - line_start + 1) + " (byte " + std::to_string(at) + ")");
  }

  void skip_whitespace() {
    while (pos_ < end_) {
      const std::uint8_t c = p_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  bool literal(const char* word) {
    const std::size_t size = std::strlen(word);
    if (end_ - pos_ < size || std::memcmp(p_ + pos_, word, size) != 0) return false;
    pos_ += size;
    return true;
  }

  py::object parse_value(int depth, Place place) {
    skip_whitespace();
    if (pos_ >= end_) fail("Expecting value", pos_);
    switch (p_[pos_]) {
      case '{': return parse_object(depth + 1, place);
      case '[': return parse_array(depth + 1);
      case '"': return parse_string(place == Place::kData);
      case 'n':
        if (literal("null")) return py::none();
        break;
      case 't':
        if (literal("true")) return py::bool_(true);
        break;
      case 'f':
        if (literal("false")) return py::bool_(false);
        break;
      case 'N':
        if (literal("NaN")) return py::float_(Py_NAN);
        break;
      case 'I':
        if (literal("Infinity")) return py::float_(Py_HUGE_VAL);
        break;
      case '-':
        if (literal("-Infinity")) return py::float_(-Py_HUGE_VAL);
        return parse_number();
      default:
        if (is_digit(p_[pos_])) return parse_number();
    }
    fail("Expecting value", pos_);
  }

  void enter(int depth) const {
    if (depth > kMaxNesting) {
      fail("Nesting deeper than " + std::to_string(kMaxNesting) + " levels", pos_);
    }
  }

  static Place member_place(Place parent, const py::str& key) {
    switch (parent) {
      case Place::kTop:
        return PyUnicode_CompareWithASCIIString(key.ptr(), "payload") == 0 ? Place::kPayload
                                                                            : Place::kOther;
      case Place::kPayload: return Place::kItem;
      case Place::kItem:
        for (const char* data_key : {"text", "audio", "image", "video"}) {
          if (PyUnicode_CompareWithASCIIString(key.ptr(), data_key) == 0) return Place::kData;
        }
        return Place::kOther;
      default: return Place::kOther;
    }
  }

  py::object parse_object(int depth, Place place) {
    enter(depth);
    ++pos_;
    py::dict object;
    skip_whitespace();
    if (pos_ < end_ && p_[pos_] == '}') {
      ++pos_;
      return std::move(object);
    }
    for (;;) {
      if (pos_ >= end_ || p_[pos_] != '"') {
        fail("Expecting property name enclosed in double quotes", pos_);
      }
      py::str key = py::reinterpret_steal<py::str>(parse_string(false).release());
      skip_whitespace();
      if (pos_ >= end_ || p_[pos_] != ':') fail("Expecting ':' delimiter", pos_);
      ++pos_;
      py::object value = parse_value(depth, member_place(place, key));
      // A repeated key keeps its first position and takes the last value, as json.loads does.
      if (PyDict_SetItem(object.ptr(), key.ptr(), value.ptr()) != 0) throw py::error_already_set();
      skip_whitespace();
      if (pos_ < end_ && p_[pos_] == '}') {
        ++pos_;
        return std::move(object);
      }
      if (pos_ >= end_ || p_[pos_] != ',') fail("Expecting ',' delimiter", pos_);
      ++pos_;
      skip_whitespace();
    }
  }

  py::object parse_array(int depth) {
    enter(depth);
    ++pos_;
    py::list array;
    skip_whitespace();
    if (pos_ < end_ && p_[pos_] == ']') {
      ++pos_;
      return std::move(array);
    }
    for (;;) {
      py::object value = parse_value(depth, Place::kOther);
      if (PyList_Append(array.ptr(), value.ptr()) != 0) throw py::error_already_set();
      skip_whitespace();
      if (pos_ < end_ && p_[pos_] == ']') {
        ++pos_;
        return std::move(array);
      }
      if (pos_ >= end_ || p_[pos_] != ',') fail("Expecting ',' delimiter", pos_);
      ++pos_;
    }
  }

  // int(slice) or float(slice), as json.loads converts numbers.
  py::object parse_number() {
    const std::size_t start = pos_;
    if (p_[pos_] == '-') ++pos_;
    if (pos_ < end_ && p_[pos_] == '0') {
      ++pos_;
    } else if (pos_ < end_ && is_digit(p_[pos_])) {
      while (pos_ < end_ && is_digit(p_[pos_])) ++pos_;
    } else {
      fail("Expecting value", start);
    }
    bool is_float = false;
    if (pos_ + 1 < end_ && p_[pos_] == '.' && is_digit(p_[pos_ + 1])) {
      is_float = true;
      pos_ += 2;
      while (pos_ < end_ && is_digit(p_[pos_])) ++pos_;
    }
    if (pos_ < end_ && (p_[pos_] == 'e' || p_[pos_] == 'E')) {
      std::size_t at = pos_ + 1;
      if (at < end_ && (p_[at] == '+' || p_[at] == '-')) ++at;
      if (at < end_ && is_digit(p_[at])) {  // else the 'e' is not part of the number
        is_float = true;
        while (at < end_ && is_digit(p_[at])) ++at;
        pos_ = at;
      }
    }
    const std::size_t size = pos_ - start;
    if (!is_float && size <= 18) {
      long long value = 0;
      const bool negative = p_[start] == '-';
      for (std::size_t i = start + (negative ? 1 : 0); i < pos_; ++i) {
        value = value * 10 + (p_[i] - '0');
      }
      return py::int_(negative ? -value : value);
    }
    const std::string text(reinterpret_cast<const char*>(p_ + start), size);
    PyObject* number = nullptr;
    if (is_float) {
      const double value = PyOS_string_to_double(text.c_str(), nullptr, nullptr);
      if (!(value == -1.0 && PyErr_Occurred())) number = PyFloat_FromDouble(value);
    } else {
      number = PyLong_FromString(text.c_str(), nullptr, 10);
    }
    if (number == nullptr) {
      // e.g. more digits than sys.get_int_max_str_digits() allows
      const std::string why = py::str(py::error_already_set().value()).cast<std::string>();
      fail("Invalid number (" + why + ")", start);
    }
    return py::reinterpret_steal<py::object>(number);
  }

  // The next offset from `at` holding '"', '\\', a control character or a non-ASCII byte.
  std::size_t skip_plain(std::size_t at) const {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (end_ - at >= 16) {
      const __m128i chunk = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p_ + at));
      // Signed compare: bytes >= 0x80 are negative, so "< 0x20" catches them as well.
      const __m128i special =
          _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(chunk, quote), _mm_cmpeq_epi8(chunk, backslash)),
                       _mm_cmplt_epi8(chunk, space));
      const int mask = _mm_movemask_epi8(special);
      if (mask != 0) return at + static_cast<std::size_t>(__builtin_ctz(mask));
      at += 16;
    }
#endif
    while (at < end_) {
      const std::uint8_t c = p_[at];
      if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return at;
      ++at;
    }
    return at;
  }

  // Steps over one escape starting at the backslash at `at`, checking it as json does.
  std::size_t check_escape(std::size_t at, std::size_t quote) const {
    if (at + 1 >= end_) fail("Unterminated string starting at", quote);
    const std::uint8_t c = p_[at + 1];
    if (std::strchr("\"\\/bfnrt", c) != nullptr && c != 0) return at + 2;
    if (c != 'u') fail("Invalid \\escape", at);
    if (end_ - at < 6) fail("Invalid \\uXXXX escape", at);
    for (std::size_t i = at + 2; i < at + 6; ++i) {
      if (hex_value(p_[i]) < 0) fail("Invalid \\uXXXX escape", at);
    }
    return at + 6;
  }

  ScannedString scan_string() {
    const std::size_t quote = pos_;
    std::size_t at = pos_ + 1;
    bool escaped = false, non_ascii = false;
    for (;;) {
      at = skip_plain(at);
      if (at >= end_) fail("Unterminated string starting at", quote);
      const std::uint8_t c = p_[at];
      if (c == '"') break;
      if (c == '\\') {
        escaped = true;
        at = check_escape(at, quote);
      } else if (c < 0x20) {
        fail("Invalid control character at", at);
      } else {
        non_ascii = true;
        ++at;
      }
    }
    pos_ = at + 1;
    return {quote + 1, at, escaped, non_ascii};
  }

  // UTF-8 (with encoded surrogates, as json.loads decodes bytes) to str; fails naming where.
  py::object decode_utf8(const char* text, std::size_t size, std::size_t offset) const {
    PyObject* str = PyUnicode_DecodeUTF8(text, static_cast<Py_ssize_t>(size), "surrogatepass");
    if (str != nullptr) return py::reinterpret_steal<py::object>(str);
    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) throw py::error_already_set();
    py::error_already_set error;
    Py_ssize_t start = 0;
    if (PyUnicodeDecodeError_GetStart(error.value().ptr(), &start) != 0) PyErr_Clear();
    fail("Invalid UTF-8", offset + static_cast<std::size_t>(start));
  }

  py::object parse_string(bool is_data) {
    const ScannedString s = scan_string();
    const char* raw = reinterpret_cast<const char*>(p_ + s.begin);
    const std::size_t size = s.end - s.begin;
    if (is_data) {
      // json.loads would reject the whole body over invalid UTF-8 even inside a payload
      if (s.non_ascii) decode_utf8(raw, size, s.begin);
      return py::cast(Base64Span{body_, s.begin, size, s.escaped});
    }
    if (!s.escaped) return decode_utf8(raw, size, s.begin);
    unescape(s);
    return decode_utf8(scratch_.data(), scratch_.size(), s.begin);
  }

  // The string's UTF-8 with escapes resolved, in scratch_. Escapes were checked by the scan.
  void unescape(const ScannedString& s) {
    scratch_.clear();
    for (std::size_t at = s.begin; at < s.end;) {
      const std::uint8_t c = p_[at];
      if (c != '\\') {
        scratch_.push_back(static_cast<char>(c));
        ++at;
        continue;
      }
      const std::uint8_t e = p_[at + 1];
      at += 2;
      switch (e) {
        case 'b': scratch_.push_back('\b'); continue;
        case 'f': scratch_.push_back('\f'); continue;
        case 'n': scratch_.push_back('\n'); continue;
        case 'r': scratch_.push_back('\r'); continue;
        case 't': scratch_.push_back('\t'); continue;
        case 'u': break;
        default: scratch_.push_back(static_cast<char>(e)); continue;  // " \ /
      }
      std::uint32_t cp = hex4(at);
      at += 4;
      // A high surrogate escape directly followed by a low one is one character, as in json.
      if (cp >= 0xd800 && cp <= 0xdbff && s.end - at >= 6 && p_[at] == '\\' && p_[at + 1] == 'u') {
        const std::uint32_t low = hex4(at + 2);
        if (low >= 0xdc00 && low <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          at += 6;
        }
      }
      append_utf8(scratch_, cp);
    }
  }

  std::uint32_t hex4(std::size_t at) const {
    std::uint32_t value = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
      value = value << 4 | static_cast<std::uint32_t>(hex_value(p_[i]));
    }
    return value;
  }

  std::shared_ptr<const HeldBuffer> body_;
  const std::uint8_t* p_;
  std::size_t pos_;
  std::size_t end_;
  std::string scratch_;
};

// json.detect_encoding's verdict: 0 for UTF-8, 3 for UTF-8 after a BOM, -1 for UTF-16/32.
int utf8_start(std::string_view b) {
  auto starts = [&](const char* prefix, std::size_t size) {
    return b.size() >= size && std::memcmp(b.data(), prefix, size) == 0;
  };
  if (starts("\x00\x00\xfe\xff", 4) || starts("\xff\xfe", 2) || starts("\xfe\xff", 2)) return -1;
  if (starts("\xef\xbb\xbf", 3)) return 3;
  if (b.size() >= 4 && (b[0] == 0 || b[1] == 0)) return -1;
  if (b.size() == 2 && (b[0] == 0 || b[1] == 0)) return -1;
  return 0;
}

// UTF-16 and UTF-32 bodies are legal for json.loads but never seen over HTTP: let it do them.
py::object parse_with_json_module(std::string_view bytes) {
  try {
    return py::module_::import("json").attr("loads")(py::bytes(bytes.data(), bytes.size()));
  } catch (py::error_already_set& error) {
    if (!error.matches(PyExc_ValueError)) throw;
    throw JsonFailure(py::str(error.value()).cast<std::string>());
  }
}

py::object parse_request(py::handle body) {
  std::shared_ptr<const HeldBuffer> held = hold_bytes(body, "parse_request: body");
  const int start = utf8_start(held->bytes());
  if (start < 0) return parse_with_json_module(held->bytes());
  return Parser(std::move(held), static_cast<std::size_t>(start)).document();
}

}  // namespace

void bind_json_scan(py::module_& m) {
  m.def("parse_request", &parse_request, py::arg("body"),
        "Parse a JSON body (any bytes-like) as json.loads does, except that every string at\n"
        "payload.<name>.<text|audio|image|video> is a Base64Span into body instead of a str.\n"
        "Raises JSONError (a ValueError) naming the byte offset of malformed input.");
}

}  // namespace aiges::codec

// Protobuf wire format primitives, with the exact acceptance rules of upb (protobuf-python).
//
// parse_call must accept and reject exactly what loader_pb2.CallRequest.FromString does, so
// each limit below is upb's, checked against protobuf itself by tests/native:
//   - a varint is at most 10 bytes; bits beyond 64 in the 10th byte are dropped;
//   - a tag is at most 5 bytes and at most UINT32_MAX;
//   - field number 0 is invalid in a message, but skipped like any other inside a group;
//   - a length is at most 5 bytes, below INT32_MAX and inside the enclosing message;
//   - wire types 6 and 7 are invalid; an end-group tag must close the open group;
//   - submessages, map entries and groups together nest at most 100 deep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiges {

// Raised for malformed input, its message naming where, e.g.
// "CallRequest.inputs[1].desc.value: invalid UTF-8 at byte 40", so a log line says which
// part of which message was bad. bridge.cpp maps it to aiges_embed.DecodeError.
class DecodeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum WireType : std::uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

// upb's kUpb_WireFormat_DefaultDepthLimit, which protobuf-python uses.
constexpr int kMaxDepth = 100;

struct Tag {
  std::uint32_t field;
  std::uint32_t wire;
};

// A byte range of the input, as absolute offsets so error messages and views agree.
struct Span {
  std::size_t offset;
  std::size_t size;
};

// Reads one message (or submessage) occupying [pos, end) of a buffer it does not own. Each
// reader knows the field it is reading (named by the caller) and the reader it was cut from,
// which is all a failure needs to name its path; nothing is formatted until one happens.
class WireReader {
 public:
  static constexpr std::size_t kNotRepeated = SIZE_MAX;

  // A top-level message, named for error messages: "CallRequest".
  WireReader(const char* message, const std::uint8_t* base, std::size_t size)
      : base_(base), pos_(0), end_(size), message_(message) {}

  bool at_end() const { return pos_ >= end_; }
  std::size_t pos() const { return pos_; }
  const std::uint8_t* base() const { return base_; }

  // Names the known field whose value is read next; `index` is its place among the repeated
  // ones. An unknown field stays unnamed: its failures name the message.
  WireReader& field(const char* name, std::size_t index = kNotRepeated) {
    field_ = name;
    index_ = index;
    return *this;
  }

  // "CallRequest.inputs[1].desc": the message, then each field being read on the way down.
  std::string path() const {
    std::string path = parent_ != nullptr ? parent_->path() : message_;
    if (field_ == nullptr) return path;
    path.append(".").append(field_);
    if (index_ != kNotRepeated) path.append("[").append(std::to_string(index_)).append("]");
    return path;
  }

  [[noreturn]] void fail(const std::string& what, std::size_t offset) const {
    throw DecodeFailure(path() + ": " + what + " at byte " + std::to_string(offset));
  }

  // The tag of a message's next field.
  Tag read_tag() {
    field_ = nullptr;  // a failure from here on is the message's until a field is named
    const Tag tag = read_any_tag();
    if (tag.field == 0) fail("field number 0", tag_at_);
    return tag;
  }

  std::uint64_t read_varint() { return read_varint_bytes(10, "varint"); }

  // Length-delimited value: returns where its bytes are and steps over them.
  Span read_length_delimited() {
    const std::size_t at = pos_;
    const std::uint64_t size = read_varint_bytes(5, "length");
    if (size >= INT32_MAX) fail("length " + std::to_string(size) + " too large", at);
    if (size > end_ - pos_) {
      fail("length " + std::to_string(size) + " runs past the end of the message", at);
    }
    const Span span{pos_, static_cast<std::size_t>(size)};
    pos_ += span.size;
    return span;
  }

  // Skips the value of a field this message does not know (or knows under another wire type).
  void skip(Tag tag, int depth) {
    switch (tag.wire) {
      case kVarint: read_varint(); return;
      case kFixed64: skip_fixed(8); return;
      case kLengthDelimited: read_length_delimited(); return;
      case kFixed32: skip_fixed(4); return;
      case kStartGroup: skip_group(tag.field, depth - 1); return;
      default: fail("end-group tag outside a group", tag_at_);
    }
  }

  // A reader for a submessage, the value of this reader's current field. It points back at
  // this reader, so it must not outlive it. CallRequest's own messages nest only three deep,
  // so only groups (in skip) can reach the depth limit.
  WireReader sub(Span span) const { return WireReader(this, span); }

 private:
  WireReader(const WireReader* parent, Span span)
      : base_(parent->base_), pos_(span.offset), end_(span.offset + span.size), parent_(parent) {}

  Tag read_any_tag() {
    const std::size_t at = tag_at_ = pos_;
    const std::uint64_t raw = read_varint_bytes(5, "tag");
    if (raw > UINT32_MAX) fail("tag larger than 32 bits", at);
    const Tag tag{static_cast<std::uint32_t>(raw >> 3), static_cast<std::uint32_t>(raw & 7)};
    if (tag.wire > kFixed32) fail("invalid wire type " + std::to_string(tag.wire), at);
    return tag;
  }

  std::uint64_t read_varint_bytes(int max_bytes, const char* what) {
    const std::size_t at = pos_;
    std::uint64_t value = 0;
    for (int i = 0; i < max_bytes; ++i) {
      if (pos_ >= end_) fail(std::string("truncated ") + what, at);
      const std::uint8_t byte = base_[pos_++];
      // At i == 9 the shift keeps only the lowest bit, as upb does.
      value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) return value;
    }
    fail(std::string(what) + " longer than " + std::to_string(max_bytes) + " bytes", at);
  }

  void skip_fixed(std::size_t width) {
    if (end_ - pos_ < width) fail("truncated fixed" + std::to_string(width * 8) + " value", pos_);
    pos_ += width;
  }

  void skip_group(std::uint32_t field, int depth) {
    const std::size_t start = pos_;
    if (depth < 0) fail("groups nested deeper than " + std::to_string(kMaxDepth), start);
    for (;;) {
      if (at_end()) fail("unterminated group " + std::to_string(field), start);
      const std::size_t at = pos_;
      const Tag tag = read_any_tag();
      if (tag.wire == kEndGroup) {
        if (tag.field != field) {
          fail("end-group " + std::to_string(tag.field) + " closes group " + std::to_string(field),
               at);
        }
        return;
      }
      skip(tag, depth);
    }
  }

  const std::uint8_t* base_;
  std::size_t pos_;
  std::size_t end_;
  std::size_t tag_at_ = 0;  // where the last tag read starts
  const WireReader* parent_ = nullptr;  // the reader this one's message is a field of
  const char* message_ = nullptr;       // the top-level message's name, when no parent
  const char* field_ = nullptr;         // the field whose value is being read, if known
  std::size_t index_ = kNotRepeated;
};

// One entry of a map<string, string>, as views into strings its caller keeps alive.
using MapEntry = std::pair<std::string_view, std::string_view>;

// Bytes of an entry's own message: key and value are always both written.
inline std::size_t map_entry_size(const MapEntry& entry);

// Appends wire format into memory sized in advance; it never checks bounds, the caller
// computes the exact size first with the *_size functions.
class WireWriter {
 public:
  explicit WireWriter(char* out) : out_(out) {}

  char* position() const { return out_; }

  void varint(std::uint64_t value) {
    while (value >= 0x80) {
      *out_++ = static_cast<char>((value & 0x7f) | 0x80);
      value >>= 7;
    }
    *out_++ = static_cast<char>(value);
  }

  void tag(std::uint32_t field, WireType wire) { varint((field << 3) | wire); }

  // An int32 or enum field: negative values are sign-extended to ten bytes, as protobuf does.
  void int32_field(std::uint32_t field, std::int32_t value) {
    tag(field, kVarint);
    varint(static_cast<std::uint64_t>(static_cast<std::int64_t>(value)));
  }

  void bytes_field(std::uint32_t field, std::string_view value) {
    tag(field, kLengthDelimited);
    varint(value.size());
    raw(value);
  }

  // Every entry of a map<string, string> field, each carrying both key and value even when
  // empty, as protobuf writes them.
  void map_field(std::uint32_t field, const std::vector<MapEntry>& entries) {
    for (const MapEntry& entry : entries) {
      tag(field, kLengthDelimited);
      varint(map_entry_size(entry));
      bytes_field(1, entry.first);
      bytes_field(2, entry.second);
    }
  }

  void raw(std::string_view value) {
    if (!value.empty()) std::memcpy(out_, value.data(), value.size());
    out_ += value.size();
  }

 private:
  char* out_;
};

inline std::size_t varint_size(std::uint64_t value) {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

// Bytes taken by a field with a one-byte tag (every field number here is below 16).
inline std::size_t int32_field_size(std::int32_t value) {
  return 1 + varint_size(static_cast<std::uint64_t>(static_cast<std::int64_t>(value)));
}

inline std::size_t length_delimited_size(std::size_t size) { return 1 + varint_size(size) + size; }

inline std::size_t map_entry_size(const MapEntry& entry) {
  return length_delimited_size(entry.first.size()) + length_delimited_size(entry.second.size());
}

// Bytes taken by a map field written by WireWriter::map_field.
inline std::size_t map_field_size(const std::vector<MapEntry>& entries) {
  std::size_t size = 0;
  for (const MapEntry& entry : entries) size += length_delimited_size(map_entry_size(entry));
  return size;
}

}  // namespace aiges

// Base64 (standard alphabet, padded) at memory speed, with binascii's strict-mode verdicts.
//
// Decoding: four 256-entry tables give each character's 6 bits already shifted to its place in
// a 24-bit group, so one quad is four loads OR-ed together; a character outside the alphabet
// sets bit 24 in every table, and errors are checked once per block instead of per character.
// Encoding: a 4096-entry table of character pairs turns each 12 bits into two characters.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace aiges::b64 {

inline constexpr char kAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
inline constexpr std::uint32_t kBad = 1u << 24;

struct DecodeTables {
  std::uint32_t shifted[4][256];
};

constexpr DecodeTables make_decode_tables() {
  DecodeTables tables{};
  for (int place = 0; place < 4; ++place) {
    for (int c = 0; c < 256; ++c) tables.shifted[place][c] = kBad;
    for (std::uint32_t value = 0; value < 64; ++value) {
      const auto c = static_cast<unsigned char>(kAlphabet[value]);
      tables.shifted[place][c] = value << (18 - 6 * place);
    }
  }
  return tables;
}

inline constexpr DecodeTables kDecode = make_decode_tables();

struct EncodeTable {
  char pair[4096][2];
};

constexpr EncodeTable make_encode_table() {
  EncodeTable table{};
  for (int v = 0; v < 4096; ++v) {
    table.pair[v][0] = kAlphabet[v >> 6];
    table.pair[v][1] = kAlphabet[v & 63];
  }
  return table;
}

inline constexpr EncodeTable kEncode = make_encode_table();

inline std::uint32_t quad(const std::uint8_t* s) {
  return kDecode.shifted[0][s[0]] | kDecode.shifted[1][s[1]] | kDecode.shifted[2][s[2]] |
         kDecode.shifted[3][s[3]];
}

inline void store24(std::uint8_t* out, std::uint32_t group) {
  out[0] = static_cast<std::uint8_t>(group >> 16);
  out[1] = static_cast<std::uint8_t>(group >> 8);
  out[2] = static_cast<std::uint8_t>(group);
}

// Stores a group as 4 big-endian bytes: the 4th is garbage the next group overwrites.
inline void store32(std::uint8_t* out, std::uint32_t group) {
  const std::uint32_t big = __builtin_bswap32(group << 8);
  std::memcpy(out, &big, 4);
}

// Decodes `quads` complete groups of 4 alphabet characters into 3 * quads bytes. Padding is not
// part of the data: '=' here is an invalid character. Returns false on any invalid character
// (the output is then partly written, and never past its 3 * quads bytes).
inline bool decode_quads(const std::uint8_t* src, std::size_t quads, std::uint8_t* out) {
  std::uint32_t seen = 0;
  std::size_t left = quads;
  // Four groups per round with 4-byte stores; one whole group stays for the exact tail.
  while (left > 4) {
    const std::uint32_t a = quad(src), b = quad(src + 4), c = quad(src + 8), d = quad(src + 12);
    seen |= a | b | c | d;
    store32(out, a);
    store32(out + 3, b);
    store32(out + 6, c);
    store32(out + 9, d);
    src += 16;
    out += 12;
    left -= 4;
    if ((left & 1023) == 0 && (seen & kBad)) return false;  // stop early on bad input
  }
  for (; left > 0; --left, src += 4, out += 3) {
    const std::uint32_t group = quad(src);
    seen |= group;
    store24(out, group);
  }
  return (seen & kBad) == 0;
}

// Whether each of `size` characters is in the alphabet ('=' is not): decode_data's verdict
// on them, without writing anything.
inline bool in_alphabet(const std::uint8_t* src, std::size_t size) {
  std::uint32_t seen = 0;
  for (std::size_t i = 0; i < size; ++i) seen |= kDecode.shifted[0][src[i]];
  return (seen & kBad) == 0;
}

// Decodes the data characters of a base64 string (everything before its padding): complete
// quads, then a tail of 2 or 3 characters (1 or 2 bytes). A tail of 1 is never valid.
inline bool decode_data(const std::uint8_t* src, std::size_t size, std::uint8_t* out) {
  const std::size_t quads = size / 4, tail = size % 4;
  if (tail == 1) return false;
  if (!decode_quads(src, quads, out)) return false;
  if (tail == 0) return true;
  src += quads * 4;
  out += quads * 3;
  const std::uint32_t group = kDecode.shifted[0][src[0]] | kDecode.shifted[1][src[1]] |
                              (tail == 3 ? kDecode.shifted[2][src[2]] : 0);
  if (group & kBad) return false;
  out[0] = static_cast<std::uint8_t>(group >> 16);
  if (tail == 3) out[1] = static_cast<std::uint8_t>(group >> 8);
  return true;
}

// Bytes decoded from `data` data characters (the tail of 1 is invalid and counts nothing).
constexpr std::size_t decoded_size(std::size_t data) {
  return data / 4 * 3 + (data % 4 == 3 ? 2 : data % 4 == 2 ? 1 : 0);
}

// The verdict of binascii.a2b_base64(s, strict_mode=True) on everything but the alphabet
// check: given a string's length and how many '=' end it, is the padding right? When it is,
// `data` is the number of characters before the padding. `excess_padding_ok`: CPython before
// 3.13 accepts any '=' run after a complete final quad ("QUJD=="), 3.13 rejects it.
inline bool padding_ok(std::size_t size, std::size_t trailing_pads, bool excess_padding_ok,
                       std::size_t& data) {
  data = size - trailing_pads;
  if (size == 0) return true;
  if (data == 0) return false;  // leading padding
  switch (data % 4) {
    case 0: return trailing_pads == 0 || excess_padding_ok;
    case 2: return trailing_pads == 2;
    case 3: return trailing_pads == 1;
    default: return false;  // one character more than a multiple of 4
  }
}

constexpr std::size_t encoded_size(std::size_t size) { return (size + 2) / 3 * 4; }

// Writes encoded_size(size) characters.
inline void encode(const std::uint8_t* src, std::size_t size, char* out) {
  std::size_t left = size;
  // Three 3-byte groups per round, read with one 8-byte load (never past the end: the loop
  // keeps more than 8 bytes left).
  while (left > 9) {
    std::uint64_t word;
    std::memcpy(&word, src, 8);
    word = __builtin_bswap64(word);
    const auto g0 = static_cast<std::uint32_t>(word >> 40);
    const auto g1 = static_cast<std::uint32_t>(word >> 16) & 0xffffff;
    const std::uint32_t g2 = (static_cast<std::uint32_t>(word & 0xffff) << 8) | src[8];
    std::memcpy(out, kEncode.pair[g0 >> 12], 2);
    std::memcpy(out + 2, kEncode.pair[g0 & 0xfff], 2);
    std::memcpy(out + 4, kEncode.pair[g1 >> 12], 2);
    std::memcpy(out + 6, kEncode.pair[g1 & 0xfff], 2);
    std::memcpy(out + 8, kEncode.pair[g2 >> 12], 2);
    std::memcpy(out + 10, kEncode.pair[g2 & 0xfff], 2);
    src += 9;
    out += 12;
    left -= 9;
  }
  for (; left >= 3; left -= 3, src += 3, out += 4) {
    const std::uint32_t group =
        (std::uint32_t{src[0]} << 16) | (std::uint32_t{src[1]} << 8) | src[2];
    std::memcpy(out, kEncode.pair[group >> 12], 2);
    std::memcpy(out + 2, kEncode.pair[group & 0xfff], 2);
  }
  if (left == 0) return;
  const std::uint32_t group =
      (std::uint32_t{src[0]} << 16) | (left == 2 ? std::uint32_t{src[1]} << 8 : 0);
  out[0] = kAlphabet[group >> 18];
  out[1] = kAlphabet[(group >> 12) & 63];
  out[2] = left == 2 ? kAlphabet[(group >> 6) & 63] : '=';
  out[3] = '=';
}

}  // namespace aiges::b64

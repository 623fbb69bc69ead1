// loader.v1.Data as both encoders write it (CallRequest inputs, CallResponse outputs): every
// field before the payload, and the size that lets each message be written in one pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "wire.hpp"

namespace aiges {

// A Data message's fields but its payload, as views into strings the caller keeps alive.
// Defaults (empty, 0) are left out, as proto3 writes them.
struct DataHead {
  std::string_view key;
  std::int32_t type = 0;
  std::int32_t status = 0;
  std::vector<MapEntry> desc;

  // Bytes of the Data message when it carries a payload of `data_size` bytes.
  std::size_t message_size(std::size_t data_size) const {
    std::size_t size = map_field_size(desc);
    if (!key.empty()) size += length_delimited_size(key.size());
    if (type != 0) size += int32_field_size(type);
    if (status != 0) size += int32_field_size(status);
    if (data_size != 0) size += length_delimited_size(data_size);
    return size;
  }

  // Opens the message as field `field` of its parent and writes it up to its payload, which
  // the caller writes next (field 5) when it is not empty.
  void write(WireWriter& writer, std::uint32_t field, std::size_t message_size) const {
    writer.tag(field, kLengthDelimited);
    writer.varint(message_size);
    if (!key.empty()) writer.bytes_field(1, key);
    if (type != 0) writer.int32_field(2, type);
    if (status != 0) writer.int32_field(3, status);
    writer.map_field(4, desc);
  }
};

}  // namespace aiges

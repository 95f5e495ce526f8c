// The MQTT Variable Byte Integer (1..4 bytes, 0..268,435,455). Pure functions; safe from
// any thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mqttd/types.h"

namespace mqttd {

// Bytes needed to encode `value`. REQUIRES: value <= kMaxVarint.
constexpr size_t varint_size(uint32_t value) {
  return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

// Writes `value` at `out` (varint_size(value) bytes); returns the bytes written.
// REQUIRES: value <= kMaxVarint and room for varint_size(value) bytes.
inline size_t encode_varint(uint32_t value, uint8_t* out) {
  size_t n = 0;
  do {
    uint8_t b = value & 0x7F;
    value >>= 7;
    if (value) b |= 0x80;
    out[n++] = b;
  } while (value);
  return n;
}

enum class VarintStatus : uint8_t { ok, need_more, malformed };

// Reads a Variable Byte Integer from [p, p + len). On ok sets `value` and `used`.
// need_more: the bytes end inside the integer; malformed: a fifth byte, or a
// non-minimal encoding (MQTT-1.5.5-1). Never reads beyond len.
inline VarintStatus decode_varint(const uint8_t* p, size_t len, uint32_t& value, size_t& used) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (i >= len) return VarintStatus::need_more;
    uint8_t b = p[i];
    v |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      if (i > 0 && b == 0) return VarintStatus::malformed;  // non-minimal
      value = v;
      used = i + 1;
      return VarintStatus::ok;
    }
  }
  return VarintStatus::malformed;
}

}  // namespace mqttd

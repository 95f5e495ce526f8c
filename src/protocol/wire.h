// Internal to the codec (src/protocol only): bounds-checked reading of MQTT primitive
// types from a frame body, and unchecked writing into a buffer the caller has sized.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "mqttd/frame_reader.h"
#include "mqttd/properties.h"
#include "mqttd/reason_code.h"
#include "mqttd/topic.h"
#include "mqttd/varint.h"

namespace mqttd::wire {

// Reads forward through [p, end). Every read checks the bounds and returns false when
// the bytes end first; nothing is ever read outside.
class In {
 public:
  explicit In(std::span<const uint8_t> b) : p_(b.data()), end_(b.data() + b.size()) {}
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  bool done() const { return p_ == end_; }
  const uint8_t* pos() const { return p_; }
  void skip(size_t n) { p_ += n; }

  bool u8(uint8_t& v) {
    if (p_ == end_) return false;
    v = *p_++;
    return true;
  }
  bool u16(uint16_t& v) {
    if (left() < 2) return false;
    v = static_cast<uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  bool bytes(std::span<const uint8_t>& v) {
    uint16_t n;
    if (!u16(n) || left() < n) return false;
    v = {p_, n};
    p_ += n;
    return true;
  }
  // A UTF-8 Encoded String, not yet validated.
  bool raw_string(std::string_view& v) {
    uint16_t n;
    if (!u16(n) || left() < n) return false;
    v = {reinterpret_cast<const char*>(p_), n};
    p_ += n;
    return true;
  }
  // A UTF-8 Encoded String: malformed_packet when truncated or not valid UTF-8.
  ReasonCode string(std::string_view& v) {
    if (!raw_string(v)) return ReasonCode::malformed_packet;
    return valid_utf8(v) ? ReasonCode::success : ReasonCode::malformed_packet;
  }
  // Property block at the current position.
  ReasonCode properties(PacketType type, Properties& out) {
    if (p_ != end_ && *p_ == 0) {  // the common empty block
      out.clear();
      ++p_;
      return ReasonCode::success;
    }
    size_t used = 0;
    ReasonCode rc = decode_properties(p_, left(), type, out, used);
    if (rc == ReasonCode::success) p_ += used;
    return rc;
  }
  std::span<const uint8_t> rest() const { return {p_, left()}; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// Writes forward from `p`. REQUIRES: the caller has checked the room.
struct Out {
  uint8_t* p;
  void u8(uint8_t v) { *p++ = v; }
  void u16(uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
    p += 2;
  }
  void u32(uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
    p += 4;
  }
  void varint(uint32_t v) { p += encode_varint(v, p); }
  void raw(const void* d, size_t n) {
    if (n) std::memcpy(p, d, n);
    p += n;
  }
  void bytes(std::span<const uint8_t> b) {
    u16(static_cast<uint16_t>(b.size()));
    raw(b.data(), b.size());
  }
  void string(std::string_view s) {
    u16(static_cast<uint16_t>(s.size()));
    raw(s.data(), s.size());
  }
  void header(PacketType type, uint8_t flags, uint32_t remaining) {
    u8(static_cast<uint8_t>((static_cast<uint8_t>(type) << 4) | flags));
    varint(remaining);
  }
};

// Wire size of a packet with `remaining` body bytes, or 0 when no packet can hold that
// many (a remaining length beyond kMaxVarint would need a fifth length byte).
inline size_t packet_size(size_t remaining) {
  if (remaining > kMaxVarint) return 0;
  return 1 + varint_size(static_cast<uint32_t>(remaining)) + remaining;
}

// What an encoder may write for a body of `remaining` bytes into `out`: the packet's wire
// size, or 0 when `out` is smaller or the body cannot be framed at all.
inline size_t room(size_t remaining, std::span<uint8_t> out) {
  const size_t total = packet_size(remaining);
  return out.size() < total ? 0 : total;
}

// The fixed flag bits of every packet type but PUBLISH.
inline uint8_t fixed_flags(PacketType t) {
  return t == PacketType::pubrel || t == PacketType::subscribe || t == PacketType::unsubscribe
             ? 0x2
             : 0x0;
}

// Checks type and fixed flags of a frame handed to a decoder, and that its body is as long
// as its remaining length.
inline bool frame_is(const Frame& f, PacketType t) {
  return f.header.type == t && f.header.flags == fixed_flags(t) &&
         f.header.remaining_length == f.body.size();
}

// The same for a connection at level `v`: MQTT 3.1 retries PUBREL, SUBSCRIBE and
// UNSUBSCRIBE the way it retries PUBLISH, with DUP set (fixed flags 1010).
inline bool frame_is(const Frame& f, PacketType t, ProtocolVersion v) {
  if (f.header.type != t || f.header.remaining_length != f.body.size()) return false;
  const uint8_t want = fixed_flags(t);
  return f.header.flags == want || (v == ProtocolVersion::v3 && want == 0x2 && f.header.flags == 0xA);
}

}  // namespace mqttd::wire

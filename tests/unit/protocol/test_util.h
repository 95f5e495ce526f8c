// Helpers shared by the codec's unit tests: hex conversion, and encode -> frame ->
// decode round trips through the public API.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mqttd/codec.h"

namespace mqttd::test {

inline std::vector<uint8_t> unhex(std::string_view h) {
  std::vector<uint8_t> out;
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    if (h[i] == ' ') {
      --i;
      continue;
    }
    out.push_back(static_cast<uint8_t>(nib(h[i]) << 4 | nib(h[i + 1])));
  }
  return out;
}

inline std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

inline std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

template <typename P>
std::vector<uint8_t> encode_vec(const P& p, ProtocolVersion v) {
  std::vector<uint8_t> buf(encoded_size(p, v));
  size_t n = encode(p, v, buf);
  REQUIRE(n == buf.size());
  return buf;
}

// Decodes one packet of type P from `bytes` with the decoder that fits it.
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, Connect& p) {
  (void)v;
  return decode_connect(f, p);
}
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, ConnAck& p) { return decode_connack(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, Publish& p) {
  return decode_publish(f, v, Side::client, p);
}
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, PubAck& p) { return decode_puback(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, PubRec& p) { return decode_pubrec(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, PubRel& p) { return decode_pubrel(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, PubComp& p) { return decode_pubcomp(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, Subscribe& p) { return decode_subscribe(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, SubAck& p) { return decode_suback(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, Unsubscribe& p) {
  return decode_unsubscribe(f, v, p);
}
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, UnsubAck& p) { return decode_unsuback(f, v, p); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion, PingReq&) { return decode_pingreq(f); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion, PingResp&) { return decode_pingresp(f); }
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, Disconnect& p) {
  return decode_disconnect(f, v, Side::client, p);
}
inline ReasonCode decode_as(const Frame& f, ProtocolVersion v, Auth& p) { return decode_auth(f, v, p); }

template <typename P>
ReasonCode decode_bytes(std::span<const uint8_t> bytes, ProtocolVersion v, P& out) {
  Frame f;
  ReasonCode rc = parse_frame(bytes, f);
  if (rc != ReasonCode::success) return rc;
  return decode_as(f, v, out);
}

// encode -> decode; the decoded packet views `storage`.
template <typename P>
P round_trip(const P& p, ProtocolVersion v, std::vector<uint8_t>& storage) {
  storage = encode_vec(p, v);
  P out;
  ReasonCode rc = decode_bytes(storage, v, out);
  REQUIRE_MESSAGE(rc == ReasonCode::success, reason_name(rc), " ", hex(storage));
  return out;
}

inline const ProtocolVersion kAllVersions[] = {ProtocolVersion::v3, ProtocolVersion::v4, ProtocolVersion::v5};

}  // namespace mqttd::test

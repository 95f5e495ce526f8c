// CONNECT and CONNACK: decoding with validation, and encoding, for levels 3, 4 and 5.
#include "mqttd/decode.h"
#include "mqttd/encode.h"
#include "protocol/wire.h"

namespace mqttd {
namespace {

constexpr std::string_view kNameV3 = "MQIsdp";
constexpr std::string_view kNameV4 = "MQTT";
// MQTT 3.1 3.1: a client id of more than 23 characters is answered with return code 2.
// Counted in bytes, which is stricter only for ids with non-ASCII characters.
constexpr size_t kMaxV3ClientId = 23;

std::string_view protocol_name(ProtocolVersion v) { return v == ProtocolVersion::v3 ? kNameV3 : kNameV4; }

size_t connect_body_size(const Connect& p, ProtocolVersion v) {
  size_t n = 2 + protocol_name(v).size() + 1 + 1 + 2;
  const bool v5 = v == ProtocolVersion::v5;
  if (v5) n += properties_size(p.properties);
  n += 2 + p.client_id.size();
  if (p.has_will) {
    if (v5) n += properties_size(p.will.properties);
    n += 2 + p.will.topic.size() + 2 + p.will.payload.size();
  }
  if (p.has_username) n += 2 + p.username.size();
  if (p.has_password) n += 2 + p.password.size();
  return n;
}

size_t connack_body_size(const ConnAck& p, ProtocolVersion v) {
  return v == ProtocolVersion::v5 ? 2 + properties_size(p.properties) : 2;
}

}  // namespace

ReasonCode decode_connect(const Frame& frame, Connect& out) {
  out.version = ProtocolVersion::v4;
  if (!wire::frame_is(frame, PacketType::connect)) return ReasonCode::malformed_packet;
  wire::In in(frame.body);
  std::string_view name;
  uint8_t level = 0;
  if (!in.raw_string(name) || !in.u8(level)) return ReasonCode::malformed_packet;
  if (name != kNameV4 && name != kNameV3) return ReasonCode::protocol_error;  // MQTT-3.1.2-1
  if ((name == kNameV3) != (level == 3) || level < 3 || level > 5) {
    return ReasonCode::unsupported_protocol_version;  // MQTT-3.1.2-2
  }
  const auto v = static_cast<ProtocolVersion>(level);
  const bool v5 = v == ProtocolVersion::v5;
  out.version = v;
  uint8_t flags = 0;
  if (!in.u8(flags) || !in.u16(out.keep_alive)) return ReasonCode::malformed_packet;
  // MQTT-3.1.2-3; 3.1 leaves the bit unused, and does not check it.
  if ((flags & 0x01) && v != ProtocolVersion::v3) return ReasonCode::malformed_packet;
  out.has_username = flags & 0x80;
  out.has_password = flags & 0x40;
  out.has_will = flags & 0x04;
  out.clean_start = flags & 0x02;
  out.will.retain = flags & 0x20;
  out.will.qos = (flags >> 3) & 3;
  if (out.will.qos == 3) return ReasonCode::malformed_packet;  // MQTT-3.1.2-14
  if (!out.has_will && (out.will.qos != 0 || out.will.retain)) {
    return ReasonCode::malformed_packet;  // MQTT-3.1.2-11, -13, -15
  }
  if (!v5 && out.has_password && !out.has_username) return ReasonCode::malformed_packet;  // MQTT-3.1.2-22
  ReasonCode rc;
  if (v5) {
    if ((rc = in.properties(PacketType::connect, out.properties)) != ReasonCode::success) return rc;
    if (out.properties.has(PropertyId::authentication_data) &&
        !out.properties.has(PropertyId::authentication_method)) {
      return ReasonCode::protocol_error;
    }
  } else {
    out.properties.clear();
  }
  if ((rc = in.string(out.client_id)) != ReasonCode::success) return rc;
  if (v == ProtocolVersion::v3 && (out.client_id.empty() || out.client_id.size() > kMaxV3ClientId)) {
    return ReasonCode::client_identifier_not_valid;  // 3.1: 1..23 characters
  }
  if (out.client_id.empty() && v == ProtocolVersion::v4 && !out.clean_start) {
    return ReasonCode::client_identifier_not_valid;  // MQTT-3.1.3-8
  }
  out.will.topic = {};
  out.will.payload = {};
  if (out.has_will) {
    if (v5) {
      if ((rc = in.properties(kWillProperties, out.will.properties)) != ReasonCode::success) return rc;
    } else {
      out.will.properties.clear();
    }
    if (!in.raw_string(out.will.topic)) return ReasonCode::malformed_packet;
    if ((rc = check_topic_name(out.will.topic)) != ReasonCode::success) return rc;
    if (!in.bytes(out.will.payload)) return ReasonCode::malformed_packet;
  } else {
    out.will.properties.clear();
  }
  out.username = {};
  out.password = {};
  if (out.has_username && (rc = in.string(out.username)) != ReasonCode::success) return rc;
  if (out.has_password && !in.bytes(out.password)) return ReasonCode::malformed_packet;
  return in.done() ? ReasonCode::success : ReasonCode::malformed_packet;
}

ReasonCode decode_connack(const Frame& frame, ProtocolVersion v, ConnAck& out) {
  if (!wire::frame_is(frame, PacketType::connack)) return ReasonCode::malformed_packet;
  wire::In in(frame.body);
  uint8_t flags = 0, code = 0;
  if (!in.u8(flags) || !in.u8(code)) return ReasonCode::malformed_packet;
  // 3.1.1 and 5 have only Session Present (MQTT-3.2.2-1); in 3.1 the byte is reserved and
  // not used, so it is ignored.
  if (v == ProtocolVersion::v3) {
    flags = 0;
  } else if (flags & 0xFE) {
    return ReasonCode::malformed_packet;
  }
  out.session_present = flags & 1;
  if (v == ProtocolVersion::v5) {
    out.reason = static_cast<ReasonCode>(code);
    ReasonCode rc = in.properties(PacketType::connack, out.properties);
    if (rc != ReasonCode::success) return rc;
    if (!valid_reason_for(PacketType::connack, out.reason)) return ReasonCode::protocol_error;
  } else {
    static constexpr ReasonCode kCodes[] = {
        ReasonCode::success, ReasonCode::unsupported_protocol_version,
        ReasonCode::client_identifier_not_valid, ReasonCode::server_unavailable,
        ReasonCode::bad_user_name_or_password, ReasonCode::not_authorized};
    out.properties.clear();
    if (code > 5) return ReasonCode::protocol_error;
    out.reason = kCodes[code];
  }
  if (!in.done()) return ReasonCode::malformed_packet;
  if (out.session_present && out.reason != ReasonCode::success) {
    return ReasonCode::protocol_error;  // MQTT-3.2.2-4 (3.1.1), -6 (5.0)
  }
  return ReasonCode::success;
}

size_t encoded_size(const Connect& p, ProtocolVersion v) {
  return wire::packet_size(connect_body_size(p, v));
}

size_t encode(const Connect& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = connect_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  const bool v5 = v == ProtocolVersion::v5;
  wire::Out w{out.data()};
  w.header(PacketType::connect, 0, static_cast<uint32_t>(body));
  w.string(protocol_name(v));
  w.u8(static_cast<uint8_t>(v));
  uint8_t flags = 0;
  if (p.has_username) flags |= 0x80;
  if (p.has_password) flags |= 0x40;
  if (p.has_will) flags |= static_cast<uint8_t>((p.will.retain ? 0x20 : 0) | (p.will.qos & 3) << 3 | 0x04);
  if (p.clean_start) flags |= 0x02;
  w.u8(flags);
  w.u16(p.keep_alive);
  if (v5) w.p += encode_properties(p.properties, w.p);
  w.string(p.client_id);
  if (p.has_will) {
    if (v5) w.p += encode_properties(p.will.properties, w.p);
    w.string(p.will.topic);
    w.bytes(p.will.payload);
  }
  if (p.has_username) w.string(p.username);
  if (p.has_password) w.bytes(p.password);
  return total;
}

size_t encoded_size(const ConnAck& p, ProtocolVersion v) {
  return wire::packet_size(connack_body_size(p, v));
}

size_t encode(const ConnAck& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = connack_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(PacketType::connack, 0, static_cast<uint32_t>(body));
  w.u8(v != ProtocolVersion::v3 && p.session_present ? 1 : 0);
  if (v == ProtocolVersion::v5) {
    w.u8(static_cast<uint8_t>(p.reason));
    encode_properties(p.properties, w.p);
  } else {
    w.u8(has_v3_connack_code(p.reason) ? v3_connack_code(p.reason) : 3);
  }
  return total;
}

}  // namespace mqttd

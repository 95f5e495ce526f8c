// DISCONNECT, AUTH, PINGREQ, PINGRESP; parse_frame; packet equality.
#include <cstring>

#include "mqttd/decode.h"
#include "mqttd/encode.h"
#include "protocol/wire.h"

namespace mqttd {
namespace {

// DISCONNECT and AUTH: reason code and properties, both optional at the end.
size_t reasoned_body_size(ReasonCode reason, const Properties& props, ProtocolVersion v) {
  if (v != ProtocolVersion::v5) return 0;
  if (props.empty()) return reason == ReasonCode::success ? 0 : 1;
  return 1 + properties_size(props);
}

size_t encode_reasoned(PacketType type, ReasonCode reason, const Properties& props, ProtocolVersion v,
                       std::span<uint8_t> out) {
  const size_t body = reasoned_body_size(reason, props, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(type, 0, static_cast<uint32_t>(body));
  if (body > 0) w.u8(static_cast<uint8_t>(reason));
  if (body > 1) encode_properties(props, w.p);
  return total;
}

ReasonCode decode_reasoned(const Frame& frame, PacketType type, ReasonCode& reason, Properties& props) {
  wire::In in(frame.body);
  reason = ReasonCode::success;
  props.clear();
  uint8_t r;
  if (in.u8(r)) {
    reason = static_cast<ReasonCode>(r);
    if (!in.done()) {
      ReasonCode rc = in.properties(type, props);
      if (rc != ReasonCode::success) return rc;
      if (!in.done()) return ReasonCode::malformed_packet;
    }
  }
  return valid_reason_for(type, reason) ? ReasonCode::success : ReasonCode::protocol_error;
}

bool same_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

ReasonCode decode_disconnect(const Frame& frame, ProtocolVersion v, Side side, Disconnect& out) {
  if (!wire::frame_is(frame, PacketType::disconnect)) return ReasonCode::malformed_packet;
  if (v != ProtocolVersion::v5) {
    out.reason = ReasonCode::normal_disconnection;
    out.properties.clear();
    return frame.body.empty() ? ReasonCode::success : ReasonCode::malformed_packet;
  }
  ReasonCode rc = decode_reasoned(frame, PacketType::disconnect, out.reason, out.properties);
  if (rc != ReasonCode::success) return rc;
  if (side == Side::server) {
    // Codes and properties only a server sends (the "Sent by" column of 3.14.2.1).
    switch (out.reason) {
      case ReasonCode::not_authorized:
      case ReasonCode::server_busy:
      case ReasonCode::server_shutting_down:
      case ReasonCode::bad_authentication_method:
      case ReasonCode::keep_alive_timeout:
      case ReasonCode::session_taken_over:
      case ReasonCode::topic_filter_invalid:
      case ReasonCode::retain_not_supported:
      case ReasonCode::qos_not_supported:
      case ReasonCode::use_another_server:
      case ReasonCode::server_moved:
      case ReasonCode::shared_subscriptions_not_supported:
      case ReasonCode::connection_rate_exceeded:
      case ReasonCode::maximum_connect_time:
      case ReasonCode::subscription_identifiers_not_supported:
      case ReasonCode::wildcard_subscriptions_not_supported:
        return ReasonCode::protocol_error;
      default:
        break;
    }
    if (out.properties.has(PropertyId::server_reference)) return ReasonCode::protocol_error;
  } else {
    if (out.reason == ReasonCode::disconnect_with_will_message) return ReasonCode::protocol_error;
    if (out.properties.has(PropertyId::session_expiry_interval)) {
      return ReasonCode::protocol_error;  // MQTT-3.14.2-3
    }
  }
  return ReasonCode::success;
}

ReasonCode decode_auth(const Frame& frame, ProtocolVersion v, Auth& out) {
  if (v != ProtocolVersion::v5) return ReasonCode::malformed_packet;  // packet type 15 is reserved in 3.x
  if (!wire::frame_is(frame, PacketType::auth)) return ReasonCode::malformed_packet;
  ReasonCode rc = decode_reasoned(frame, PacketType::auth, out.reason, out.properties);
  if (rc != ReasonCode::success) return rc;
  // 3.15.2.2.2: the Authentication Method is required.
  if (!out.properties.has(PropertyId::authentication_method)) return ReasonCode::protocol_error;
  return ReasonCode::success;
}

ReasonCode decode_pingreq(const Frame& frame) {
  return wire::frame_is(frame, PacketType::pingreq) && frame.body.empty() ? ReasonCode::success
                                                                           : ReasonCode::malformed_packet;
}

ReasonCode decode_pingresp(const Frame& frame) {
  return wire::frame_is(frame, PacketType::pingresp) && frame.body.empty() ? ReasonCode::success
                                                                            : ReasonCode::malformed_packet;
}

size_t encoded_size(const PingReq&, ProtocolVersion) { return 2; }
size_t encoded_size(const PingResp&, ProtocolVersion) { return 2; }
size_t encode(const PingReq&, ProtocolVersion, std::span<uint8_t> out) {
  if (out.size() < 2) return 0;
  out[0] = 0xC0;
  out[1] = 0;
  return 2;
}
size_t encode(const PingResp&, ProtocolVersion, std::span<uint8_t> out) {
  if (out.size() < 2) return 0;
  out[0] = 0xD0;
  out[1] = 0;
  return 2;
}

size_t encoded_size(const Disconnect& p, ProtocolVersion v) {
  return wire::packet_size(reasoned_body_size(p.reason, p.properties, v));
}
size_t encode(const Disconnect& p, ProtocolVersion v, std::span<uint8_t> out) {
  return encode_reasoned(PacketType::disconnect, p.reason, p.properties, v, out);
}
size_t encoded_size(const Auth& p, ProtocolVersion v) {
  return wire::packet_size(reasoned_body_size(p.reason, p.properties, v));
}
size_t encode(const Auth& p, ProtocolVersion v, std::span<uint8_t> out) {
  return encode_reasoned(PacketType::auth, p.reason, p.properties, v, out);
}

ReasonCode parse_frame(std::span<const uint8_t> bytes, Frame& frame, uint32_t max_packet_size) {
  FrameReader reader(max_packet_size);
  std::span<const uint8_t> in = bytes;
  ParseResult r = reader.next(in, frame);
  if (r.status == ParseStatus::error) return r.reason;
  // One whole packet exactly: the fast path returned a view into `bytes`.
  if (r.status != ParseStatus::ok || !in.empty() || reader.buffered() != 0) return ReasonCode::malformed_packet;
  return ReasonCode::success;
}

bool operator==(const Will& a, const Will& b) {
  return a.topic == b.topic && same_bytes(a.payload, b.payload) && a.qos == b.qos && a.retain == b.retain &&
         a.properties == b.properties;
}
bool operator==(const Connect& a, const Connect& b) {
  return a.version == b.version && a.clean_start == b.clean_start && a.keep_alive == b.keep_alive &&
         a.client_id == b.client_id && a.has_will == b.has_will && (!a.has_will || a.will == b.will) &&
         a.has_username == b.has_username && a.username == b.username && a.has_password == b.has_password &&
         same_bytes(a.password, b.password) && a.properties == b.properties;
}
bool operator==(const ConnAck& a, const ConnAck& b) {
  return a.session_present == b.session_present && a.reason == b.reason && a.properties == b.properties;
}
bool operator==(const Publish& a, const Publish& b) {
  return a.topic == b.topic && same_bytes(a.payload, b.payload) && a.qos == b.qos && a.retain == b.retain &&
         a.dup == b.dup && a.packet_id == b.packet_id && a.properties == b.properties;
}
bool operator==(const PublishResponse& a, const PublishResponse& b) {
  return a.packet_id == b.packet_id && a.reason == b.reason && a.properties == b.properties;
}
bool operator==(const Subscription& a, const Subscription& b) {
  return a.filter == b.filter && a.qos == b.qos && a.no_local == b.no_local &&
         a.retain_as_published == b.retain_as_published && a.retain_handling == b.retain_handling;
}
bool operator==(const Subscribe& a, const Subscribe& b) {
  return a.packet_id == b.packet_id && a.subscriptions == b.subscriptions && a.properties == b.properties;
}
bool operator==(const SubAck& a, const SubAck& b) {
  return a.packet_id == b.packet_id && a.reasons == b.reasons && a.properties == b.properties;
}
bool operator==(const Unsubscribe& a, const Unsubscribe& b) {
  return a.packet_id == b.packet_id && a.filters == b.filters && a.properties == b.properties;
}
bool operator==(const UnsubAck& a, const UnsubAck& b) {
  return a.packet_id == b.packet_id && a.reasons == b.reasons && a.properties == b.properties;
}
bool operator==(const Disconnect& a, const Disconnect& b) {
  return a.reason == b.reason && a.properties == b.properties;
}
bool operator==(const Auth& a, const Auth& b) { return a.reason == b.reason && a.properties == b.properties; }

}  // namespace mqttd

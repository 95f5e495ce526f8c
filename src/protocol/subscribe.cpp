// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
#include "mqttd/decode.h"
#include "mqttd/encode.h"
#include "protocol/wire.h"

namespace mqttd {
namespace {

size_t props_size(const Properties& p, ProtocolVersion v) {
  return v == ProtocolVersion::v5 ? properties_size(p) : 0;
}

size_t subscribe_body_size(const Subscribe& p, ProtocolVersion v) {
  size_t n = 2 + props_size(p.properties, v);
  for (const Subscription& s : p.subscriptions) n += 2 + s.filter.size() + 1;
  return n;
}

size_t suback_body_size(const SubAck& p, ProtocolVersion v) {
  return 2 + props_size(p.properties, v) + p.reasons.size();
}

size_t unsubscribe_body_size(const Unsubscribe& p, ProtocolVersion v) {
  size_t n = 2 + props_size(p.properties, v);
  for (std::string_view f : p.filters) n += 2 + f.size();
  return n;
}

size_t unsuback_body_size(const UnsubAck& p, ProtocolVersion v) {
  return v == ProtocolVersion::v5 ? 2 + properties_size(p.properties) + p.reasons.size() : 2;
}

// Packet id and (MQTT 5) properties at the start of SUBSCRIBE/SUBACK/UNSUBSCRIBE/UNSUBACK.
ReasonCode read_head(wire::In& in, ProtocolVersion v, PacketType type, uint16_t& id, Properties& props) {
  if (!in.u16(id)) return ReasonCode::malformed_packet;
  if (v == ProtocolVersion::v5) return in.properties(type, props);
  props.clear();
  return ReasonCode::success;
}

ReasonCode check_filter(std::string_view filter) {
  if (!valid_utf8(filter)) return ReasonCode::malformed_packet;
  return valid_topic_filter(filter) ? ReasonCode::success : ReasonCode::topic_filter_invalid;
}

}  // namespace

ReasonCode decode_subscribe(const Frame& frame, ProtocolVersion v, Subscribe& out) {
  out.subscriptions.clear();
  if (!wire::frame_is(frame, PacketType::subscribe, v)) return ReasonCode::malformed_packet;  // MQTT-3.8.1-1
  wire::In in(frame.body);
  ReasonCode rc = read_head(in, v, PacketType::subscribe, out.packet_id, out.properties);
  if (rc != ReasonCode::success) return rc;
  const bool v5 = v == ProtocolVersion::v5;
  while (!in.done()) {
    Subscription s;
    uint8_t o = 0;
    if (!in.raw_string(s.filter) || !in.u8(o)) return ReasonCode::malformed_packet;
    // 3.1.1: reserved bits or QoS 3 are malformed (MQTT-3-8.3-4); 5.0: reserved bits are
    // malformed (MQTT-3.8.3-5), Maximum QoS 3 a protocol error (3.8.3.1).
    if (o & (v5 ? 0xC0 : 0xFC)) return ReasonCode::malformed_packet;
    s.qos = o & 3;
    if (s.qos == 3) return v5 ? ReasonCode::protocol_error : ReasonCode::malformed_packet;
    s.no_local = o & 0x04;
    s.retain_as_published = o & 0x08;
    s.retain_handling = (o >> 4) & 3;
    if (s.retain_handling == 3) return ReasonCode::protocol_error;
    if ((rc = check_filter(s.filter)) != ReasonCode::success) return rc;
    if (s.no_local && s.filter.starts_with("$share/")) return ReasonCode::protocol_error;  // MQTT-3.8.3-4 (5.0)
    out.subscriptions.push_back(s);
  }
  if (out.packet_id == 0) return ReasonCode::protocol_error;             // MQTT-2.2.1-3
  if (out.subscriptions.empty()) return ReasonCode::protocol_error;      // MQTT-3.8.3-3 (3.1.1), -2 (5.0)
  return ReasonCode::success;
}

ReasonCode decode_suback(const Frame& frame, ProtocolVersion v, SubAck& out) {
  out.reasons.clear();
  if (!wire::frame_is(frame, PacketType::suback)) return ReasonCode::malformed_packet;
  wire::In in(frame.body);
  ReasonCode rc = read_head(in, v, PacketType::suback, out.packet_id, out.properties);
  if (rc != ReasonCode::success) return rc;
  uint8_t r;
  while (in.u8(r)) {
    const auto reason = static_cast<ReasonCode>(r);
    bool ok = v == ProtocolVersion::v5 ? valid_reason_for(PacketType::suback, reason) : (r <= 2 || r == 0x80);
    if (!ok) return ReasonCode::protocol_error;
    out.reasons.push_back(reason);
  }
  if (out.packet_id == 0 || out.reasons.empty()) return ReasonCode::protocol_error;
  return ReasonCode::success;
}

ReasonCode decode_unsubscribe(const Frame& frame, ProtocolVersion v, Unsubscribe& out) {
  out.filters.clear();
  if (!wire::frame_is(frame, PacketType::unsubscribe, v)) return ReasonCode::malformed_packet;  // MQTT-3.10.1-1
  wire::In in(frame.body);
  ReasonCode rc = read_head(in, v, PacketType::unsubscribe, out.packet_id, out.properties);
  if (rc != ReasonCode::success) return rc;
  while (!in.done()) {
    std::string_view f;
    if (!in.raw_string(f)) return ReasonCode::malformed_packet;
    if ((rc = check_filter(f)) != ReasonCode::success) return rc;
    out.filters.push_back(f);
  }
  if (out.packet_id == 0) return ReasonCode::protocol_error;  // MQTT-2.2.1-3
  if (out.filters.empty()) return ReasonCode::protocol_error;  // MQTT-3.10.3-2
  return ReasonCode::success;
}

ReasonCode decode_unsuback(const Frame& frame, ProtocolVersion v, UnsubAck& out) {
  out.reasons.clear();
  if (!wire::frame_is(frame, PacketType::unsuback)) return ReasonCode::malformed_packet;
  wire::In in(frame.body);
  ReasonCode rc = read_head(in, v, PacketType::unsuback, out.packet_id, out.properties);
  if (rc != ReasonCode::success) return rc;
  if (v == ProtocolVersion::v5) {
    uint8_t r;
    while (in.u8(r)) {
      if (!valid_reason_for(PacketType::unsuback, static_cast<ReasonCode>(r))) return ReasonCode::protocol_error;
      out.reasons.push_back(static_cast<ReasonCode>(r));
    }
    if (out.reasons.empty()) return ReasonCode::protocol_error;
  }
  if (!in.done()) return ReasonCode::malformed_packet;
  return out.packet_id == 0 ? ReasonCode::protocol_error : ReasonCode::success;
}

size_t encoded_size(const Subscribe& p, ProtocolVersion v) { return wire::packet_size(subscribe_body_size(p, v)); }
size_t encoded_size(const SubAck& p, ProtocolVersion v) { return wire::packet_size(suback_body_size(p, v)); }
size_t encoded_size(const Unsubscribe& p, ProtocolVersion v) { return wire::packet_size(unsubscribe_body_size(p, v)); }
size_t encoded_size(const UnsubAck& p, ProtocolVersion v) { return wire::packet_size(unsuback_body_size(p, v)); }

size_t encode(const Subscribe& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = subscribe_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  const bool v5 = v == ProtocolVersion::v5;
  wire::Out w{out.data()};
  w.header(PacketType::subscribe, 0x2, static_cast<uint32_t>(body));
  w.u16(p.packet_id);
  if (v5) w.p += encode_properties(p.properties, w.p);
  for (const Subscription& s : p.subscriptions) {
    w.string(s.filter);
    uint8_t o = s.qos & 3;
    if (v5) {
      o = static_cast<uint8_t>(o | (s.no_local ? 0x04 : 0) | (s.retain_as_published ? 0x08 : 0) |
                               (s.retain_handling & 3) << 4);
    }
    w.u8(o);
  }
  return total;
}

size_t encode(const SubAck& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = suback_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(PacketType::suback, 0, static_cast<uint32_t>(body));
  w.u16(p.packet_id);
  if (v == ProtocolVersion::v5) w.p += encode_properties(p.properties, w.p);
  for (ReasonCode r : p.reasons) {
    auto code = static_cast<uint8_t>(r);
    w.u8(v != ProtocolVersion::v5 && code >= 0x80 ? 0x80 : code);
  }
  return total;
}

size_t encode(const Unsubscribe& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = unsubscribe_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(PacketType::unsubscribe, 0x2, static_cast<uint32_t>(body));
  w.u16(p.packet_id);
  if (v == ProtocolVersion::v5) w.p += encode_properties(p.properties, w.p);
  for (std::string_view f : p.filters) w.string(f);
  return total;
}

size_t encode(const UnsubAck& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = unsuback_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(PacketType::unsuback, 0, static_cast<uint32_t>(body));
  w.u16(p.packet_id);
  if (v == ProtocolVersion::v5) {
    w.p += encode_properties(p.properties, w.p);
    for (ReasonCode r : p.reasons) w.u8(static_cast<uint8_t>(r));
  }
  return total;
}

}  // namespace mqttd

// PUBLISH (whole, and the per-receiver header used for zero-copy delivery) and its
// acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP.
#include "mqttd/decode.h"
#include "mqttd/encode.h"
#include "protocol/wire.h"

namespace mqttd {
namespace {

size_t publish_body_size(const Publish& p, ProtocolVersion v) {
  size_t n = 2 + p.topic.size() + (p.qos ? 2 : 0) + p.payload.size();
  if (v == ProtocolVersion::v5) n += properties_size(p.properties);
  return n;
}

uint8_t publish_flags(uint8_t qos, bool retain, bool dup) {
  return static_cast<uint8_t>((dup ? 0x08 : 0) | (qos & 3) << 1 | (retain ? 1 : 0));
}

size_t header_props_body(const PublishHeader& h) {
  size_t n = h.forwarded_properties.size();
  if (h.message_expiry) n += 5;
  if (h.topic_alias) n += 3;
  for (uint32_t id : h.subscription_ids) n += 1 + varint_size(id);
  return n;
}

size_t header_remaining(const PublishHeader& h, ProtocolVersion v, size_t payload_size, size_t props) {
  size_t n = 2 + h.topic.size() + (h.qos ? 2 : 0) + payload_size;
  if (v == ProtocolVersion::v5) n += varint_size(static_cast<uint32_t>(props)) + props;
  return n;
}

ReasonCode decode_response(const Frame& frame, ProtocolVersion v, PacketType type,
                           PublishResponse& out) {
  if (!wire::frame_is(frame, type, v)) return ReasonCode::malformed_packet;
  wire::In in(frame.body);
  out.reason = ReasonCode::success;
  out.properties.clear();
  if (!in.u16(out.packet_id)) return ReasonCode::malformed_packet;
  if (v == ProtocolVersion::v5) {
    if (!in.done()) {
      uint8_t r;
      in.u8(r);
      out.reason = static_cast<ReasonCode>(r);
      if (!in.done()) {
        ReasonCode rc = in.properties(type, out.properties);
        if (rc != ReasonCode::success) return rc;
      }
    }
  }
  if (!in.done()) return ReasonCode::malformed_packet;  // 3.x: exactly 2 bytes
  if (out.packet_id == 0) return ReasonCode::protocol_error;  // MQTT-2.2.1-3
  if (!valid_reason_for(type, out.reason)) return ReasonCode::protocol_error;
  return ReasonCode::success;
}

size_t response_body_size(const PublishResponse& p, ProtocolVersion v) {
  if (v != ProtocolVersion::v5) return 2;
  if (p.properties.empty()) return p.reason == ReasonCode::success ? 2 : 3;
  return 3 + properties_size(p.properties);
}

size_t encode_response(const PublishResponse& p, ProtocolVersion v, PacketType type,
                       std::span<uint8_t> out) {
  const size_t body = response_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(type, wire::fixed_flags(type), static_cast<uint32_t>(body));
  w.u16(p.packet_id);
  if (body > 2) w.u8(static_cast<uint8_t>(p.reason));
  if (body > 3) encode_properties(p.properties, w.p);
  return total;
}

}  // namespace

ReasonCode decode_publish(const Frame& frame, ProtocolVersion v, Side side, Publish& out) {
  if (frame.header.type != PacketType::publish || frame.header.remaining_length != frame.body.size()) {
    return ReasonCode::malformed_packet;
  }
  const uint8_t flags = frame.header.flags;
  out.qos = (flags >> 1) & 3;
  out.dup = flags & 0x08;
  out.retain = flags & 0x01;
  if (out.qos == 3) return ReasonCode::malformed_packet;               // MQTT-3.3.1-4
  if (out.qos == 0 && out.dup) return ReasonCode::malformed_packet;    // MQTT-3.3.1-2
  wire::In in(frame.body);
  if (!in.raw_string(out.topic)) return ReasonCode::malformed_packet;
  out.packet_id = 0;
  if (out.qos) {
    if (!in.u16(out.packet_id)) return ReasonCode::malformed_packet;
    if (out.packet_id == 0) return ReasonCode::protocol_error;  // MQTT-2.2.1-3
  }
  const bool v5 = v == ProtocolVersion::v5;
  if (v5) {
    ReasonCode rc = in.properties(PacketType::publish, out.properties);
    if (rc != ReasonCode::success) return rc;
    if (side == Side::server && out.properties.has(PropertyId::subscription_identifier)) {
      return ReasonCode::protocol_error;  // MQTT-3.3.4-6
    }
  } else {
    out.properties.clear();
  }
  if (out.topic.empty()) {
    if (!v5) return ReasonCode::topic_name_invalid;  // MQTT-4.7.3-1
    if (!out.properties.has(PropertyId::topic_alias)) return ReasonCode::protocol_error;
  } else if (ReasonCode rc = check_topic_name(out.topic); rc != ReasonCode::success) {
    return rc;  // MQTT-1.5.4-1, -2; MQTT-3.3.2-2
  }
  out.payload = in.rest();
  return ReasonCode::success;
}

ReasonCode decode_puback(const Frame& frame, ProtocolVersion v, PubAck& out) {
  return decode_response(frame, v, PacketType::puback, out);
}
ReasonCode decode_pubrec(const Frame& frame, ProtocolVersion v, PubRec& out) {
  return decode_response(frame, v, PacketType::pubrec, out);
}
ReasonCode decode_pubrel(const Frame& frame, ProtocolVersion v, PubRel& out) {
  return decode_response(frame, v, PacketType::pubrel, out);
}
ReasonCode decode_pubcomp(const Frame& frame, ProtocolVersion v, PubComp& out) {
  return decode_response(frame, v, PacketType::pubcomp, out);
}

size_t encoded_size(const Publish& p, ProtocolVersion v) {
  return wire::packet_size(publish_body_size(p, v));
}

size_t encode(const Publish& p, ProtocolVersion v, std::span<uint8_t> out) {
  const size_t body = publish_body_size(p, v);
  const size_t total = wire::room(body, out);
  if (total == 0) return 0;
  wire::Out w{out.data()};
  w.header(PacketType::publish, publish_flags(p.qos, p.retain, p.dup), static_cast<uint32_t>(body));
  w.string(p.topic);
  if (p.qos) w.u16(p.packet_id);
  if (v == ProtocolVersion::v5) w.p += encode_properties(p.properties, w.p);
  w.raw(p.payload.data(), p.payload.size());
  return total;
}

size_t publish_header_size(const PublishHeader& h, ProtocolVersion v, size_t payload_size) {
  const size_t props = v == ProtocolVersion::v5 ? header_props_body(h) : 0;
  const size_t remaining = header_remaining(h, v, payload_size, props);
  const size_t total = wire::packet_size(remaining);
  return total == 0 ? 0 : total - payload_size;
}

size_t encode_publish_header(const PublishHeader& h, ProtocolVersion v, size_t payload_size,
                             std::span<uint8_t> out) {
  const bool v5 = v == ProtocolVersion::v5;
  const size_t props = v5 ? header_props_body(h) : 0;
  const size_t remaining = header_remaining(h, v, payload_size, props);
  const size_t total = wire::packet_size(remaining);
  const size_t size = total - payload_size;
  if (total == 0 || out.size() < size) return 0;
  wire::Out w{out.data()};
  w.header(PacketType::publish, publish_flags(h.qos, h.retain, h.dup), static_cast<uint32_t>(remaining));
  w.string(h.topic);
  if (h.qos) w.u16(h.packet_id);
  if (v5) {
    w.varint(static_cast<uint32_t>(props));
    w.raw(h.forwarded_properties.data(), h.forwarded_properties.size());
    if (h.message_expiry) {
      w.u8(static_cast<uint8_t>(PropertyId::message_expiry_interval));
      w.u32(*h.message_expiry);
    }
    if (h.topic_alias) {
      w.u8(static_cast<uint8_t>(PropertyId::topic_alias));
      w.u16(h.topic_alias);
    }
    for (uint32_t id : h.subscription_ids) {
      w.u8(static_cast<uint8_t>(PropertyId::subscription_identifier));
      w.varint(id);
    }
  }
  return size;
}

size_t encoded_size(const PubAck& p, ProtocolVersion v) { return wire::packet_size(response_body_size(p, v)); }
size_t encoded_size(const PubRec& p, ProtocolVersion v) { return wire::packet_size(response_body_size(p, v)); }
size_t encoded_size(const PubRel& p, ProtocolVersion v) { return wire::packet_size(response_body_size(p, v)); }
size_t encoded_size(const PubComp& p, ProtocolVersion v) { return wire::packet_size(response_body_size(p, v)); }
size_t encode(const PubAck& p, ProtocolVersion v, std::span<uint8_t> out) {
  return encode_response(p, v, PacketType::puback, out);
}
size_t encode(const PubRec& p, ProtocolVersion v, std::span<uint8_t> out) {
  return encode_response(p, v, PacketType::pubrec, out);
}
size_t encode(const PubRel& p, ProtocolVersion v, std::span<uint8_t> out) {
  return encode_response(p, v, PacketType::pubrel, out);
}
size_t encode(const PubComp& p, ProtocolVersion v, std::span<uint8_t> out) {
  return encode_response(p, v, PacketType::pubcomp, out);
}

}  // namespace mqttd

// Encoders: each packet struct to its wire bytes in a caller-provided buffer, for
// protocol levels 3, 4 and 5. Pure functions; safe from any thread; no allocation.
// They trust their input (values a decoder would reject encode as given, so tests can
// build bad packets); fields the version lacks are left out.
//
// encoded_size(p, v) is the exact wire size, or 0 when the packet cannot be framed (its
// remaining length would exceed 268,435,455). encode(p, v, out) writes it and returns
// that size, or 0 (writing nothing) when `out` is smaller or the packet cannot be framed.
// REQUIRES: every string and binary field is at most 65,535 bytes.
//
// Outbound PUBLISH without copying the payload: PublishHeader describes one delivery
// (topic or alias, QoS, packet id, flags, forwarded properties, the receiver's
// subscription identifiers and remaining expiry); encode_publish_header() writes the
// fixed and variable header (typically < 48 bytes) and the payload goes out as a
// separate iovec from the shared Message. Re-encoding the small header per receiver is
// how one message is "patched" for each subscriber.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "mqttd/packets.h"
#include "mqttd/types.h"
#include "mqttd/varint.h"

namespace mqttd {

size_t encoded_size(const Connect& p, ProtocolVersion v);
size_t encoded_size(const ConnAck& p, ProtocolVersion v);
size_t encoded_size(const Publish& p, ProtocolVersion v);
size_t encoded_size(const PubAck& p, ProtocolVersion v);
size_t encoded_size(const PubRec& p, ProtocolVersion v);
size_t encoded_size(const PubRel& p, ProtocolVersion v);
size_t encoded_size(const PubComp& p, ProtocolVersion v);
size_t encoded_size(const Subscribe& p, ProtocolVersion v);
size_t encoded_size(const SubAck& p, ProtocolVersion v);
size_t encoded_size(const Unsubscribe& p, ProtocolVersion v);
size_t encoded_size(const UnsubAck& p, ProtocolVersion v);
size_t encoded_size(const PingReq& p, ProtocolVersion v);
size_t encoded_size(const PingResp& p, ProtocolVersion v);
size_t encoded_size(const Disconnect& p, ProtocolVersion v);
size_t encoded_size(const Auth& p, ProtocolVersion v);

size_t encode(const Connect& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const ConnAck& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const Publish& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const PubAck& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const PubRec& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const PubRel& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const PubComp& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const Subscribe& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const SubAck& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const Unsubscribe& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const UnsubAck& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const PingReq& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const PingResp& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const Disconnect& p, ProtocolVersion v, std::span<uint8_t> out);
size_t encode(const Auth& p, ProtocolVersion v, std::span<uint8_t> out);

// One outbound PUBLISH to one receiver, without its payload.
struct PublishHeader {
  std::string_view topic;  // empty: send the alias alone (MQTT 5, topic_alias set)
  uint16_t packet_id = 0;  // QoS 1/2
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  // MQTT 5 (ignored for 3.x):
  uint16_t topic_alias = 0;                      // 0: none
  std::optional<uint32_t> message_expiry;        // seconds left, if the message expires
  std::span<const uint32_t> subscription_ids;    // the receiver's matching subscriptions
  std::span<const uint8_t> forwarded_properties; // Message::properties(): raw, no length prefix
};

// Bytes of the fixed + variable header of a PUBLISH with `payload_size` payload bytes;
// 0 when the packet cannot be framed (then it cannot be sent at all).
size_t publish_header_size(const PublishHeader& h, ProtocolVersion v, size_t payload_size);
// Writes them; returns publish_header_size(), or 0 when `out` is smaller or the packet
// cannot be framed. The payload_size bytes of payload must follow on the wire.
size_t encode_publish_header(const PublishHeader& h, ProtocolVersion v, size_t payload_size,
                             std::span<uint8_t> out);
// Sets the DUP flag of an encoded PUBLISH header in place (retransmission).
inline void set_publish_dup(std::span<uint8_t> header) {
  if (!header.empty()) header[0] |= 0x08;
}

}  // namespace mqttd

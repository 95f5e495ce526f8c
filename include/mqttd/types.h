// Basic MQTT wire vocabulary shared by every codec header: packet types, protocol
// versions, which side decodes, and size limits. Plain values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mqttd {

enum class PacketType : uint8_t {
  reserved = 0,
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
  auth = 15,  // MQTT 5 only
};
const char* packet_type_name(PacketType type);

// The CONNECT protocol level: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0.
enum class ProtocolVersion : uint8_t { v3 = 3, v4 = 4, v5 = 5 };

// Who is decoding: rules differ for what a client may send a server and vice versa.
enum class Side : uint8_t { client, server };

// The largest value a Variable Byte Integer can hold.
inline constexpr uint32_t kMaxVarint = 268'435'455;
// The largest packet MQTT can express: fixed header byte + 4-byte length + content.
inline constexpr uint32_t kMaxPacketSize = 1 + 4 + kMaxVarint;

}  // namespace mqttd

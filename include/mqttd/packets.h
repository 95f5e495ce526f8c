// The fifteen MQTT control packets as plain structs, for protocol levels 3, 4 and 5.
// Value types; not thread-safe. After decoding, string_view / span fields point into the
// decoded Frame (valid only as long as its bytes); for encoding the caller keeps the
// viewed bytes alive until encode() returns. Fields a version lacks are ignored when
// encoding for it and left at their defaults when decoding it.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mqttd/properties.h"
#include "mqttd/reason_code.h"
#include "mqttd/types.h"

namespace mqttd {

struct Will {
  std::string_view topic;
  std::span<const uint8_t> payload;
  uint8_t qos = 0;
  bool retain = false;
  Properties properties;  // MQTT 5
};

struct Connect {
  ProtocolVersion version = ProtocolVersion::v4;
  bool clean_start = true;  // Clean Session in 3.x
  uint16_t keep_alive = 0;
  std::string_view client_id;
  bool has_will = false;
  Will will;
  bool has_username = false;
  std::string_view username;
  bool has_password = false;
  std::span<const uint8_t> password;
  Properties properties;  // MQTT 5
};

struct ConnAck {
  bool session_present = false;  // 3.1.1 and 5
  ReasonCode reason = ReasonCode::success;  // 3.x: mapped to a return code (reason_code.h)
  Properties properties;  // MQTT 5
};

struct Publish {
  std::string_view topic;  // MQTT 5: may be empty when properties carry a topic alias
  std::span<const uint8_t> payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // QoS 1/2 only
  Properties properties;   // MQTT 5
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape (3.x: the packet id only).
struct PublishResponse {
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  Properties properties;  // MQTT 5: reason string, user properties
};
struct PubAck : PublishResponse {};
struct PubRec : PublishResponse {};
struct PubRel : PublishResponse {};
struct PubComp : PublishResponse {};

enum class RetainHandling : uint8_t { send_on_subscribe = 0, send_if_new = 1, never = 2 };

struct Subscription {
  std::string_view filter;
  uint8_t qos = 0;
  bool no_local = false;             // MQTT 5
  bool retain_as_published = false;  // MQTT 5
  uint8_t retain_handling = 0;       // MQTT 5: RetainHandling values 0..2
};

struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<Subscription> subscriptions;  // at least one
  Properties properties;                    // MQTT 5: subscription identifier, user properties
};

struct SubAck {
  uint16_t packet_id = 0;
  // One per subscription: granted_qos_0..2 or an error (3.x: any error encodes as 0x80).
  std::vector<ReasonCode> reasons;
  Properties properties;  // MQTT 5
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string_view> filters;  // at least one
  Properties properties;                  // MQTT 5: user properties
};

struct UnsubAck {
  uint16_t packet_id = 0;
  std::vector<ReasonCode> reasons;  // MQTT 5 only: one per filter (3.x: not on the wire)
  Properties properties;            // MQTT 5
};

struct PingReq {};
struct PingResp {};

struct Disconnect {
  ReasonCode reason = ReasonCode::normal_disconnection;  // MQTT 5
  Properties properties;                                  // MQTT 5
};

// MQTT 5 only.
struct Auth {
  ReasonCode reason = ReasonCode::success;  // success, continue_authentication, re_authenticate
  Properties properties;                    // authentication method (required), data, ...
};

// Equality of decoded content (views compare by bytes), for tests and the fuzzer.
bool operator==(const Will& a, const Will& b);
bool operator==(const Connect& a, const Connect& b);
bool operator==(const ConnAck& a, const ConnAck& b);
bool operator==(const Publish& a, const Publish& b);
bool operator==(const PublishResponse& a, const PublishResponse& b);
bool operator==(const Subscription& a, const Subscription& b);
bool operator==(const Subscribe& a, const Subscribe& b);
bool operator==(const SubAck& a, const SubAck& b);
bool operator==(const Unsubscribe& a, const Unsubscribe& b);
bool operator==(const UnsubAck& a, const UnsubAck& b);
inline bool operator==(const PingReq&, const PingReq&) { return true; }
inline bool operator==(const PingResp&, const PingResp&) { return true; }
bool operator==(const Disconnect& a, const Disconnect& b);
bool operator==(const Auth& a, const Auth& b);

}  // namespace mqttd

// Names and per-packet validity of reason codes; 3.x CONNACK return codes.
#include "mqttd/reason_code.h"

namespace mqttd {

const char* packet_type_name(PacketType type) {
  static constexpr const char* kNames[16] = {
      "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
      "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};
  return kNames[static_cast<uint8_t>(type) & 0xF];
}

const char* reason_name(ReasonCode reason) {
  switch (reason) {
    case ReasonCode::success: return "success";
    case ReasonCode::granted_qos_1: return "granted_qos_1";
    case ReasonCode::granted_qos_2: return "granted_qos_2";
    case ReasonCode::disconnect_with_will_message: return "disconnect_with_will_message";
    case ReasonCode::no_matching_subscribers: return "no_matching_subscribers";
    case ReasonCode::no_subscription_existed: return "no_subscription_existed";
    case ReasonCode::continue_authentication: return "continue_authentication";
    case ReasonCode::re_authenticate: return "re_authenticate";
    case ReasonCode::unspecified_error: return "unspecified_error";
    case ReasonCode::malformed_packet: return "malformed_packet";
    case ReasonCode::protocol_error: return "protocol_error";
    case ReasonCode::implementation_specific_error: return "implementation_specific_error";
    case ReasonCode::unsupported_protocol_version: return "unsupported_protocol_version";
    case ReasonCode::client_identifier_not_valid: return "client_identifier_not_valid";
    case ReasonCode::bad_user_name_or_password: return "bad_user_name_or_password";
    case ReasonCode::not_authorized: return "not_authorized";
    case ReasonCode::server_unavailable: return "server_unavailable";
    case ReasonCode::server_busy: return "server_busy";
    case ReasonCode::banned: return "banned";
    case ReasonCode::server_shutting_down: return "server_shutting_down";
    case ReasonCode::bad_authentication_method: return "bad_authentication_method";
    case ReasonCode::keep_alive_timeout: return "keep_alive_timeout";
    case ReasonCode::session_taken_over: return "session_taken_over";
    case ReasonCode::topic_filter_invalid: return "topic_filter_invalid";
    case ReasonCode::topic_name_invalid: return "topic_name_invalid";
    case ReasonCode::packet_identifier_in_use: return "packet_identifier_in_use";
    case ReasonCode::packet_identifier_not_found: return "packet_identifier_not_found";
    case ReasonCode::receive_maximum_exceeded: return "receive_maximum_exceeded";
    case ReasonCode::topic_alias_invalid: return "topic_alias_invalid";
    case ReasonCode::packet_too_large: return "packet_too_large";
    case ReasonCode::message_rate_too_high: return "message_rate_too_high";
    case ReasonCode::quota_exceeded: return "quota_exceeded";
    case ReasonCode::administrative_action: return "administrative_action";
    case ReasonCode::payload_format_invalid: return "payload_format_invalid";
    case ReasonCode::retain_not_supported: return "retain_not_supported";
    case ReasonCode::qos_not_supported: return "qos_not_supported";
    case ReasonCode::use_another_server: return "use_another_server";
    case ReasonCode::server_moved: return "server_moved";
    case ReasonCode::shared_subscriptions_not_supported: return "shared_subscriptions_not_supported";
    case ReasonCode::connection_rate_exceeded: return "connection_rate_exceeded";
    case ReasonCode::maximum_connect_time: return "maximum_connect_time";
    case ReasonCode::subscription_identifiers_not_supported: return "subscription_identifiers_not_supported";
    case ReasonCode::wildcard_subscriptions_not_supported: return "wildcard_subscriptions_not_supported";
  }
  return "unknown";
}

// MQTT 5.0 table 2-6 (the per-packet tables of chapter 3 agree, except that the
// DISCONNECT table omits 0x8C, which table 2-6 lists; a receiver accepts the union).
bool valid_reason_for(PacketType type, ReasonCode reason) {
  const auto r = static_cast<uint8_t>(reason);
  switch (type) {
    case PacketType::connack:
      return r == 0x00 || (r >= 0x80 && r <= 0x9F && r != 0x8B && r != 0x8D && r != 0x8E &&
                           r != 0x8F && r != 0x91 && r != 0x92 && r != 0x93 && r != 0x94 &&
                           r != 0x96 && r != 0x98 && r != 0x9E);
    case PacketType::puback:
    case PacketType::pubrec:
      return r == 0x00 || r == 0x10 || r == 0x80 || r == 0x83 || r == 0x87 || r == 0x90 ||
             r == 0x91 || r == 0x97 || r == 0x99;
    case PacketType::pubrel:
    case PacketType::pubcomp:
      return r == 0x00 || r == 0x92;
    case PacketType::suback:
      return r <= 0x02 || r == 0x80 || r == 0x83 || r == 0x87 || r == 0x8F || r == 0x91 ||
             r == 0x97 || r == 0x9E || r == 0xA1 || r == 0xA2;
    case PacketType::unsuback:
      return r == 0x00 || r == 0x11 || r == 0x80 || r == 0x83 || r == 0x87 || r == 0x8F ||
             r == 0x91;
    case PacketType::disconnect:
      return r == 0x00 || r == 0x04 || (r >= 0x80 && r <= 0xA2 && r != 0x84 && r != 0x85 &&
                                        r != 0x86 && r != 0x88 && r != 0x8A && r != 0x91 &&
                                        r != 0x92);
    case PacketType::auth:
      return r == 0x00 || r == 0x18 || r == 0x19;
    default:
      return false;
  }
}

bool has_v3_connack_code(ReasonCode reason) {
  switch (reason) {
    case ReasonCode::success:
    case ReasonCode::unsupported_protocol_version:
    case ReasonCode::client_identifier_not_valid:
    case ReasonCode::server_unavailable:
    case ReasonCode::server_busy:
    case ReasonCode::bad_user_name_or_password:
    case ReasonCode::not_authorized:
    case ReasonCode::banned:
    case ReasonCode::bad_authentication_method:
      return true;
    default:
      return false;
  }
}

uint8_t v3_connack_code(ReasonCode reason) {
  switch (reason) {
    case ReasonCode::success: return 0;
    case ReasonCode::unsupported_protocol_version: return 1;
    case ReasonCode::client_identifier_not_valid: return 2;
    case ReasonCode::server_unavailable:
    case ReasonCode::server_busy: return 3;
    case ReasonCode::bad_user_name_or_password: return 4;
    default: return 5;
  }
}

}  // namespace mqttd

// MQTT 5 properties (MQTT 5.0 2.2.2): the identifiers, and Properties, the decoded set
// of one packet with one typed field per property and a presence mask. A value type;
// not thread-safe. String and binary fields are views: after decoding they point into
// the frame (valid as long as it is), and for encoding the caller keeps what it set
// alive until encode() returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "mqttd/reason_code.h"
#include "mqttd/types.h"

namespace mqttd {

enum class PropertyId : uint8_t {
  payload_format_indicator = 0x01,           // byte
  message_expiry_interval = 0x02,            // four-byte integer
  content_type = 0x03,                       // UTF-8 string
  response_topic = 0x08,                     // UTF-8 string (a topic name)
  correlation_data = 0x09,                   // binary data
  subscription_identifier = 0x0B,            // variable byte integer, 1..268,435,455
  session_expiry_interval = 0x11,            // four-byte integer
  assigned_client_identifier = 0x12,         // UTF-8 string
  server_keep_alive = 0x13,                  // two-byte integer
  authentication_method = 0x15,              // UTF-8 string
  authentication_data = 0x16,                // binary data
  request_problem_information = 0x17,        // byte, 0 or 1
  will_delay_interval = 0x18,                // four-byte integer
  request_response_information = 0x19,       // byte, 0 or 1
  response_information = 0x1A,               // UTF-8 string
  server_reference = 0x1C,                   // UTF-8 string
  reason_string = 0x1F,                      // UTF-8 string
  receive_maximum = 0x21,                    // two-byte integer, not 0
  topic_alias_maximum = 0x22,                // two-byte integer
  topic_alias = 0x23,                        // two-byte integer, not 0
  maximum_qos = 0x24,                        // byte, 0 or 1
  retain_available = 0x25,                   // byte, 0 or 1
  user_property = 0x26,                      // UTF-8 string pair; may repeat
  maximum_packet_size = 0x27,                // four-byte integer, not 0
  wildcard_subscription_available = 0x28,    // byte, 0 or 1
  subscription_identifier_available = 0x29,  // byte, 0 or 1
  shared_subscription_available = 0x2A,      // byte, 0 or 1
};

// Where properties appear: the packet types, plus `will` for the will properties of
// CONNECT (its packet type slot 0, which no packet uses).
inline constexpr PacketType kWillProperties = PacketType::reserved;

struct UserProperty {
  std::string_view name;
  std::string_view value;
  bool operator==(const UserProperty&) const = default;
};

struct Properties {
  // Bit (1 << id) for every property present (user_property: at least one).
  uint64_t present = 0;

  uint8_t payload_format_indicator = 0;
  uint8_t request_problem_information = 1;
  uint8_t request_response_information = 0;
  uint8_t maximum_qos = 2;
  uint8_t retain_available = 1;
  uint8_t wildcard_subscription_available = 1;
  uint8_t subscription_identifier_available = 1;
  uint8_t shared_subscription_available = 1;
  uint16_t server_keep_alive = 0;
  uint16_t receive_maximum = 65535;
  uint16_t topic_alias_maximum = 0;
  uint16_t topic_alias = 0;
  uint32_t message_expiry_interval = 0;
  uint32_t session_expiry_interval = 0;
  uint32_t will_delay_interval = 0;
  uint32_t maximum_packet_size = 0;
  std::string_view content_type;
  std::string_view response_topic;
  std::string_view assigned_client_identifier;
  std::string_view authentication_method;
  std::string_view response_information;
  std::string_view server_reference;
  std::string_view reason_string;
  std::span<const uint8_t> correlation_data;
  std::span<const uint8_t> authentication_data;
  // PUBLISH may carry several (server to client); SUBSCRIBE at most one.
  std::vector<uint32_t> subscription_ids;
  std::vector<UserProperty> user_properties;

  bool has(PropertyId id) const { return (present >> static_cast<unsigned>(id)) & 1u; }
  bool empty() const { return present == 0; }
  void clear();  // back to the default state; keeps the vectors' capacity
  void mark(PropertyId id) { present |= uint64_t{1} << static_cast<unsigned>(id); }

  void set_payload_format_indicator(uint8_t v) { payload_format_indicator = v; mark(PropertyId::payload_format_indicator); }
  void set_message_expiry_interval(uint32_t v) { message_expiry_interval = v; mark(PropertyId::message_expiry_interval); }
  void set_content_type(std::string_view v) { content_type = v; mark(PropertyId::content_type); }
  void set_response_topic(std::string_view v) { response_topic = v; mark(PropertyId::response_topic); }
  void set_correlation_data(std::span<const uint8_t> v) { correlation_data = v; mark(PropertyId::correlation_data); }
  void add_subscription_id(uint32_t v) { subscription_ids.push_back(v); mark(PropertyId::subscription_identifier); }
  void set_session_expiry_interval(uint32_t v) { session_expiry_interval = v; mark(PropertyId::session_expiry_interval); }
  void set_assigned_client_identifier(std::string_view v) { assigned_client_identifier = v; mark(PropertyId::assigned_client_identifier); }
  void set_server_keep_alive(uint16_t v) { server_keep_alive = v; mark(PropertyId::server_keep_alive); }
  void set_authentication_method(std::string_view v) { authentication_method = v; mark(PropertyId::authentication_method); }
  void set_authentication_data(std::span<const uint8_t> v) { authentication_data = v; mark(PropertyId::authentication_data); }
  void set_request_problem_information(uint8_t v) { request_problem_information = v; mark(PropertyId::request_problem_information); }
  void set_will_delay_interval(uint32_t v) { will_delay_interval = v; mark(PropertyId::will_delay_interval); }
  void set_request_response_information(uint8_t v) { request_response_information = v; mark(PropertyId::request_response_information); }
  void set_response_information(std::string_view v) { response_information = v; mark(PropertyId::response_information); }
  void set_server_reference(std::string_view v) { server_reference = v; mark(PropertyId::server_reference); }
  void set_reason_string(std::string_view v) { reason_string = v; mark(PropertyId::reason_string); }
  void set_receive_maximum(uint16_t v) { receive_maximum = v; mark(PropertyId::receive_maximum); }
  void set_topic_alias_maximum(uint16_t v) { topic_alias_maximum = v; mark(PropertyId::topic_alias_maximum); }
  void set_topic_alias(uint16_t v) { topic_alias = v; mark(PropertyId::topic_alias); }
  void set_maximum_qos(uint8_t v) { maximum_qos = v; mark(PropertyId::maximum_qos); }
  void set_retain_available(uint8_t v) { retain_available = v; mark(PropertyId::retain_available); }
  void add_user_property(std::string_view name, std::string_view value) {
    user_properties.push_back({name, value});
    mark(PropertyId::user_property);
  }
  void set_maximum_packet_size(uint32_t v) { maximum_packet_size = v; mark(PropertyId::maximum_packet_size); }
  void set_wildcard_subscription_available(uint8_t v) { wildcard_subscription_available = v; mark(PropertyId::wildcard_subscription_available); }
  void set_subscription_identifier_available(uint8_t v) { subscription_identifier_available = v; mark(PropertyId::subscription_identifier_available); }
  void set_shared_subscription_available(uint8_t v) { shared_subscription_available = v; mark(PropertyId::shared_subscription_available); }

  // Equal presence and equal values of the present properties.
  bool operator==(const Properties& o) const;
};

const char* property_name(PropertyId id);

// Whether MQTT 5 allows property `id` on packets of `type` (kWillProperties: will).
bool property_allowed(PropertyId id, PacketType type);

// Decodes a property block (length prefix included) from [p, p + len) into `out`
// (cleared first) for a packet of `type`; `used` gets the bytes consumed. Rejects:
// truncation, unknown identifiers, bad UTF-8 (malformed_packet); properties not
// allowed on `type`, repeats of single properties, out-of-range values
// (protocol_error); topic alias 0 (topic_alias_invalid). Never reads beyond len.
ReasonCode decode_properties(const uint8_t* p, size_t len, PacketType type, Properties& out,
                             size_t& used);

// Bytes of the property block without / with its length prefix.
size_t properties_body_size(const Properties& props);
size_t properties_size(const Properties& props);
// Writes the block with its length prefix; returns the bytes written (properties_size).
// REQUIRES: room for properties_size(props) bytes.
size_t encode_properties(const Properties& props, uint8_t* out);

// The properties a server forwards unchanged with an application message (payload
// format indicator, content type, response topic, correlation data, user properties),
// encoded without a length prefix (the form Message stores).
size_t forwarded_properties_size(const Properties& props);
// Returns the bytes written, 0 when `out` is too small.
size_t encode_forwarded_properties(const Properties& props, std::span<uint8_t> out);

}  // namespace mqttd

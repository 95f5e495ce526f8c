// MQTT 5 properties: the table of identifiers (type, where allowed, repeatable), the
// decoder with its validation, and the encoder.
#include "mqttd/properties.h"

#include <array>
#include <cstring>

#include "mqttd/topic.h"
#include "mqttd/varint.h"
#include "protocol/wire.h"

namespace mqttd {
namespace {

enum class Kind : uint8_t { none, byte, u16, u32, varint, string, binary, pair };

constexpr uint32_t bit(PacketType t) { return 1u << static_cast<unsigned>(t); }
constexpr uint32_t kWill = bit(kWillProperties);
constexpr uint32_t kConnect = bit(PacketType::connect);
constexpr uint32_t kConnAck = bit(PacketType::connack);
constexpr uint32_t kPublish = bit(PacketType::publish);
constexpr uint32_t kAcks = bit(PacketType::puback) | bit(PacketType::pubrec) |
                           bit(PacketType::pubrel) | bit(PacketType::pubcomp);
constexpr uint32_t kSubscribe = bit(PacketType::subscribe);
constexpr uint32_t kSubAck = bit(PacketType::suback);
constexpr uint32_t kUnsubscribe = bit(PacketType::unsubscribe);
constexpr uint32_t kUnsubAck = bit(PacketType::unsuback);
constexpr uint32_t kDisconnect = bit(PacketType::disconnect);
constexpr uint32_t kAuth = bit(PacketType::auth);
constexpr uint32_t kAll = kWill | kConnect | kConnAck | kPublish | kAcks | kSubscribe | kSubAck |
                          kUnsubscribe | kUnsubAck | kDisconnect | kAuth;

struct Info {
  Kind kind = Kind::none;
  uint32_t packets = 0;
  const char* name = "unknown";
};

constexpr auto kInfo = [] {
  std::array<Info, 43> t{};
  auto set = [&t](PropertyId id, Kind k, uint32_t packets, const char* name) {
    t[static_cast<size_t>(id)] = Info{k, packets, name};
  };
  set(PropertyId::payload_format_indicator, Kind::byte, kPublish | kWill, "payload_format_indicator");
  set(PropertyId::message_expiry_interval, Kind::u32, kPublish | kWill, "message_expiry_interval");
  set(PropertyId::content_type, Kind::string, kPublish | kWill, "content_type");
  set(PropertyId::response_topic, Kind::string, kPublish | kWill, "response_topic");
  set(PropertyId::correlation_data, Kind::binary, kPublish | kWill, "correlation_data");
  set(PropertyId::subscription_identifier, Kind::varint, kPublish | kSubscribe, "subscription_identifier");
  set(PropertyId::session_expiry_interval, Kind::u32, kConnect | kConnAck | kDisconnect, "session_expiry_interval");
  set(PropertyId::assigned_client_identifier, Kind::string, kConnAck, "assigned_client_identifier");
  set(PropertyId::server_keep_alive, Kind::u16, kConnAck, "server_keep_alive");
  set(PropertyId::authentication_method, Kind::string, kConnect | kConnAck | kAuth, "authentication_method");
  set(PropertyId::authentication_data, Kind::binary, kConnect | kConnAck | kAuth, "authentication_data");
  set(PropertyId::request_problem_information, Kind::byte, kConnect, "request_problem_information");
  set(PropertyId::will_delay_interval, Kind::u32, kWill, "will_delay_interval");
  set(PropertyId::request_response_information, Kind::byte, kConnect, "request_response_information");
  set(PropertyId::response_information, Kind::string, kConnAck, "response_information");
  set(PropertyId::server_reference, Kind::string, kConnAck | kDisconnect, "server_reference");
  set(PropertyId::reason_string, Kind::string,
      kConnAck | kAcks | kSubAck | kUnsubAck | kDisconnect | kAuth, "reason_string");
  set(PropertyId::receive_maximum, Kind::u16, kConnect | kConnAck, "receive_maximum");
  set(PropertyId::topic_alias_maximum, Kind::u16, kConnect | kConnAck, "topic_alias_maximum");
  set(PropertyId::topic_alias, Kind::u16, kPublish, "topic_alias");
  set(PropertyId::maximum_qos, Kind::byte, kConnAck, "maximum_qos");
  set(PropertyId::retain_available, Kind::byte, kConnAck, "retain_available");
  set(PropertyId::user_property, Kind::pair, kAll, "user_property");
  set(PropertyId::maximum_packet_size, Kind::u32, kConnect | kConnAck, "maximum_packet_size");
  set(PropertyId::wildcard_subscription_available, Kind::byte, kConnAck, "wildcard_subscription_available");
  set(PropertyId::subscription_identifier_available, Kind::byte, kConnAck, "subscription_identifier_available");
  set(PropertyId::shared_subscription_available, Kind::byte, kConnAck, "shared_subscription_available");
  return t;
}();

// Reads one property value of `id` into `out`.
ReasonCode read_value(wire::In& in, PropertyId id, Properties& out) {
  uint8_t b = 0;
  uint16_t s = 0;
  std::string_view str;
  auto u32 = [&in](uint32_t& v) {
    uint16_t hi, lo;
    if (!in.u16(hi) || !in.u16(lo)) return false;
    v = (uint32_t{hi} << 16) | lo;
    return true;
  };
  auto flag = [&](uint8_t& field) {
    if (!in.u8(b)) return ReasonCode::malformed_packet;
    if (b > 1) return ReasonCode::protocol_error;
    field = b;
    return ReasonCode::success;
  };
  auto text = [&](std::string_view& field) {
    ReasonCode rc = in.string(str);
    if (rc == ReasonCode::success) field = str;
    return rc;
  };
  switch (id) {
    case PropertyId::payload_format_indicator: return flag(out.payload_format_indicator);
    case PropertyId::request_problem_information: return flag(out.request_problem_information);
    case PropertyId::request_response_information: return flag(out.request_response_information);
    case PropertyId::maximum_qos: return flag(out.maximum_qos);
    case PropertyId::retain_available: return flag(out.retain_available);
    case PropertyId::wildcard_subscription_available: return flag(out.wildcard_subscription_available);
    case PropertyId::subscription_identifier_available: return flag(out.subscription_identifier_available);
    case PropertyId::shared_subscription_available: return flag(out.shared_subscription_available);
    case PropertyId::message_expiry_interval:
      return u32(out.message_expiry_interval) ? ReasonCode::success : ReasonCode::malformed_packet;
    case PropertyId::session_expiry_interval:
      return u32(out.session_expiry_interval) ? ReasonCode::success : ReasonCode::malformed_packet;
    case PropertyId::will_delay_interval:
      return u32(out.will_delay_interval) ? ReasonCode::success : ReasonCode::malformed_packet;
    case PropertyId::maximum_packet_size:
      if (!u32(out.maximum_packet_size)) return ReasonCode::malformed_packet;
      return out.maximum_packet_size == 0 ? ReasonCode::protocol_error : ReasonCode::success;
    case PropertyId::server_keep_alive:
      return in.u16(out.server_keep_alive) ? ReasonCode::success : ReasonCode::malformed_packet;
    case PropertyId::topic_alias_maximum:
      return in.u16(out.topic_alias_maximum) ? ReasonCode::success : ReasonCode::malformed_packet;
    case PropertyId::receive_maximum:
      if (!in.u16(s)) return ReasonCode::malformed_packet;
      out.receive_maximum = s;
      return s == 0 ? ReasonCode::protocol_error : ReasonCode::success;
    case PropertyId::topic_alias:
      if (!in.u16(s)) return ReasonCode::malformed_packet;
      out.topic_alias = s;
      return s == 0 ? ReasonCode::topic_alias_invalid : ReasonCode::success;
    case PropertyId::subscription_identifier: {
      uint32_t v = 0;
      size_t used = 0;
      if (decode_varint(in.pos(), in.left(), v, used) != VarintStatus::ok) {
        return ReasonCode::malformed_packet;
      }
      in.skip(used);
      if (v == 0) return ReasonCode::protocol_error;
      out.subscription_ids.push_back(v);
      return ReasonCode::success;
    }
    case PropertyId::content_type: return text(out.content_type);
    case PropertyId::assigned_client_identifier: return text(out.assigned_client_identifier);
    case PropertyId::authentication_method: return text(out.authentication_method);
    case PropertyId::response_information: return text(out.response_information);
    case PropertyId::server_reference: return text(out.server_reference);
    case PropertyId::reason_string: return text(out.reason_string);
    case PropertyId::response_topic: {
      ReasonCode rc = text(out.response_topic);
      if (rc != ReasonCode::success) return rc;
      // MQTT-3.3.2-14: a Topic Name, so no wildcards.
      return valid_topic_name(str) ? ReasonCode::success : ReasonCode::protocol_error;
    }
    case PropertyId::correlation_data:
      if (!in.bytes(out.correlation_data)) return ReasonCode::malformed_packet;
      return ReasonCode::success;
    case PropertyId::authentication_data:
      if (!in.bytes(out.authentication_data)) return ReasonCode::malformed_packet;
      return ReasonCode::success;
    case PropertyId::user_property: {
      UserProperty up;
      if (in.string(up.name) != ReasonCode::success || in.string(up.value) != ReasonCode::success) {
        return ReasonCode::malformed_packet;
      }
      out.user_properties.push_back(up);
      return ReasonCode::success;
    }
  }
  return ReasonCode::malformed_packet;
}

// Counts or writes the wire form of properties; one code path for size and encoding.
struct Counter {
  size_t n = 0;
  void u8(uint8_t) { n += 1; }
  void u16(uint16_t) { n += 2; }
  void u32(uint32_t) { n += 4; }
  void varint(uint32_t v) { n += varint_size(v); }
  void string(std::string_view s) { n += 2 + s.size(); }
  void bytes(std::span<const uint8_t> b) { n += 2 + b.size(); }
};

template <typename Sink>
void emit_forwarded(const Properties& p, Sink& s) {
  if (p.has(PropertyId::payload_format_indicator)) {
    s.u8(0x01);
    s.u8(p.payload_format_indicator);
  }
  if (p.has(PropertyId::content_type)) {
    s.u8(0x03);
    s.string(p.content_type);
  }
  if (p.has(PropertyId::response_topic)) {
    s.u8(0x08);
    s.string(p.response_topic);
  }
  if (p.has(PropertyId::correlation_data)) {
    s.u8(0x09);
    s.bytes(p.correlation_data);
  }
  for (const UserProperty& up : p.user_properties) {
    s.u8(0x26);
    s.string(up.name);
    s.string(up.value);
  }
}

template <typename Sink>
void emit(const Properties& p, Sink& s) {
  auto byte = [&](PropertyId id, uint8_t v) {
    if (!p.has(id)) return;
    s.u8(static_cast<uint8_t>(id));
    s.u8(v);
  };
  auto two = [&](PropertyId id, uint16_t v) {
    if (!p.has(id)) return;
    s.u8(static_cast<uint8_t>(id));
    s.u16(v);
  };
  auto four = [&](PropertyId id, uint32_t v) {
    if (!p.has(id)) return;
    s.u8(static_cast<uint8_t>(id));
    s.u32(v);
  };
  auto text = [&](PropertyId id, std::string_view v) {
    if (!p.has(id)) return;
    s.u8(static_cast<uint8_t>(id));
    s.string(v);
  };
  auto binary = [&](PropertyId id, std::span<const uint8_t> v) {
    if (!p.has(id)) return;
    s.u8(static_cast<uint8_t>(id));
    s.bytes(v);
  };
  for (uint32_t id : p.subscription_ids) {
    s.u8(0x0B);
    s.varint(id);
  }
  emit_forwarded(p, s);
  four(PropertyId::message_expiry_interval, p.message_expiry_interval);
  four(PropertyId::session_expiry_interval, p.session_expiry_interval);
  text(PropertyId::assigned_client_identifier, p.assigned_client_identifier);
  two(PropertyId::server_keep_alive, p.server_keep_alive);
  text(PropertyId::authentication_method, p.authentication_method);
  binary(PropertyId::authentication_data, p.authentication_data);
  byte(PropertyId::request_problem_information, p.request_problem_information);
  four(PropertyId::will_delay_interval, p.will_delay_interval);
  byte(PropertyId::request_response_information, p.request_response_information);
  text(PropertyId::response_information, p.response_information);
  text(PropertyId::server_reference, p.server_reference);
  text(PropertyId::reason_string, p.reason_string);
  two(PropertyId::receive_maximum, p.receive_maximum);
  two(PropertyId::topic_alias_maximum, p.topic_alias_maximum);
  two(PropertyId::topic_alias, p.topic_alias);
  byte(PropertyId::maximum_qos, p.maximum_qos);
  byte(PropertyId::retain_available, p.retain_available);
  four(PropertyId::maximum_packet_size, p.maximum_packet_size);
  byte(PropertyId::wildcard_subscription_available, p.wildcard_subscription_available);
  byte(PropertyId::subscription_identifier_available, p.subscription_identifier_available);
  byte(PropertyId::shared_subscription_available, p.shared_subscription_available);
}

}  // namespace

void Properties::clear() {
  if (present == 0 && subscription_ids.empty() && user_properties.empty()) return;
  std::vector<uint32_t> ids = std::move(subscription_ids);
  std::vector<UserProperty> ups = std::move(user_properties);
  ids.clear();
  ups.clear();
  *this = Properties{};
  subscription_ids = std::move(ids);
  user_properties = std::move(ups);
}

bool Properties::operator==(const Properties& o) const {
  if (present != o.present) return false;
  auto same = [](std::span<const uint8_t> a, std::span<const uint8_t> b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
  };
  auto eq = [this](PropertyId id, auto a, auto b) { return !has(id) || a == b; };
  return eq(PropertyId::payload_format_indicator, payload_format_indicator, o.payload_format_indicator) &&
         eq(PropertyId::request_problem_information, request_problem_information, o.request_problem_information) &&
         eq(PropertyId::request_response_information, request_response_information, o.request_response_information) &&
         eq(PropertyId::maximum_qos, maximum_qos, o.maximum_qos) &&
         eq(PropertyId::retain_available, retain_available, o.retain_available) &&
         eq(PropertyId::wildcard_subscription_available, wildcard_subscription_available, o.wildcard_subscription_available) &&
         eq(PropertyId::subscription_identifier_available, subscription_identifier_available, o.subscription_identifier_available) &&
         eq(PropertyId::shared_subscription_available, shared_subscription_available, o.shared_subscription_available) &&
         eq(PropertyId::server_keep_alive, server_keep_alive, o.server_keep_alive) &&
         eq(PropertyId::receive_maximum, receive_maximum, o.receive_maximum) &&
         eq(PropertyId::topic_alias_maximum, topic_alias_maximum, o.topic_alias_maximum) &&
         eq(PropertyId::topic_alias, topic_alias, o.topic_alias) &&
         eq(PropertyId::message_expiry_interval, message_expiry_interval, o.message_expiry_interval) &&
         eq(PropertyId::session_expiry_interval, session_expiry_interval, o.session_expiry_interval) &&
         eq(PropertyId::will_delay_interval, will_delay_interval, o.will_delay_interval) &&
         eq(PropertyId::maximum_packet_size, maximum_packet_size, o.maximum_packet_size) &&
         eq(PropertyId::content_type, content_type, o.content_type) &&
         eq(PropertyId::response_topic, response_topic, o.response_topic) &&
         eq(PropertyId::assigned_client_identifier, assigned_client_identifier, o.assigned_client_identifier) &&
         eq(PropertyId::authentication_method, authentication_method, o.authentication_method) &&
         eq(PropertyId::response_information, response_information, o.response_information) &&
         eq(PropertyId::server_reference, server_reference, o.server_reference) &&
         eq(PropertyId::reason_string, reason_string, o.reason_string) &&
         (!has(PropertyId::correlation_data) || same(correlation_data, o.correlation_data)) &&
         (!has(PropertyId::authentication_data) || same(authentication_data, o.authentication_data)) &&
         subscription_ids == o.subscription_ids && user_properties == o.user_properties;
}

const char* property_name(PropertyId id) {
  auto i = static_cast<size_t>(id);
  return i < kInfo.size() ? kInfo[i].name : "unknown";
}

bool property_allowed(PropertyId id, PacketType type) {
  auto i = static_cast<size_t>(id);
  return i < kInfo.size() && (kInfo[i].packets & bit(type)) != 0;
}

ReasonCode decode_properties(const uint8_t* p, size_t len, PacketType type, Properties& out,
                             size_t& used) {
  out.clear();
  uint32_t plen = 0;
  size_t n = 0;
  if (decode_varint(p, len, plen, n) != VarintStatus::ok || plen > len - n) {
    return ReasonCode::malformed_packet;
  }
  used = n + plen;
  wire::In in({p + n, plen});
  const uint32_t type_bit = bit(type);
  while (!in.done()) {
    uint8_t raw;
    in.u8(raw);
    // Identifiers are Variable Byte Integers, but every defined one is a single byte.
    if (raw >= kInfo.size() || kInfo[raw].kind == Kind::none) return ReasonCode::malformed_packet;
    if (!(kInfo[raw].packets & type_bit)) return ReasonCode::protocol_error;
    const auto id = static_cast<PropertyId>(raw);
    const bool repeatable = id == PropertyId::user_property ||
                            (id == PropertyId::subscription_identifier && type == PacketType::publish);
    if (!repeatable && out.has(id)) return ReasonCode::protocol_error;
    ReasonCode rc = read_value(in, id, out);
    if (rc != ReasonCode::success) return rc;
    out.mark(id);
  }
  return ReasonCode::success;
}

size_t properties_body_size(const Properties& props) {
  if (props.empty()) return 0;
  Counter c;
  emit(props, c);
  return c.n;
}

size_t properties_size(const Properties& props) {
  size_t body = properties_body_size(props);
  return varint_size(static_cast<uint32_t>(body)) + body;
}

size_t encode_properties(const Properties& props, uint8_t* out) {
  size_t body = properties_body_size(props);
  wire::Out w{out};
  w.varint(static_cast<uint32_t>(body));
  if (body) emit(props, w);
  return static_cast<size_t>(w.p - out);
}

size_t forwarded_properties_size(const Properties& props) {
  Counter c;
  emit_forwarded(props, c);
  return c.n;
}

size_t encode_forwarded_properties(const Properties& props, std::span<uint8_t> out) {
  size_t n = forwarded_properties_size(props);
  if (out.size() < n) return 0;
  wire::Out w{out.data()};
  emit_forwarded(props, w);
  return n;
}

}  // namespace mqttd

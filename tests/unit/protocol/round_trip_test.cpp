// Every packet type, in every protocol version, with every property its type allows:
// encode -> frame -> decode gives the same packet, and encoded_size is exact.
#include <memory>

#include "test_util.h"

using namespace mqttd;
using namespace mqttd::test;

namespace {

const uint8_t kBlob[] = {0, 1, 2, 0xFF};

// Every property MQTT 5 allows on `type`, with a non-default value.
Properties full_props(PacketType type) {
  Properties p;
  auto on = [type](PropertyId id) { return property_allowed(id, type); };
  if (on(PropertyId::payload_format_indicator)) p.set_payload_format_indicator(1);
  if (on(PropertyId::message_expiry_interval)) p.set_message_expiry_interval(0x01020304);
  if (on(PropertyId::content_type)) p.set_content_type("text/plain");
  if (on(PropertyId::response_topic)) p.set_response_topic("reply/here");
  if (on(PropertyId::correlation_data)) p.set_correlation_data(kBlob);
  if (on(PropertyId::subscription_identifier)) {
    p.add_subscription_id(kMaxVarint);
    if (type == PacketType::publish) p.add_subscription_id(1);
  }
  if (on(PropertyId::session_expiry_interval)) p.set_session_expiry_interval(0xFFFFFFFF);
  if (on(PropertyId::assigned_client_identifier)) p.set_assigned_client_identifier("auto-1");
  if (on(PropertyId::server_keep_alive)) p.set_server_keep_alive(30);
  if (on(PropertyId::authentication_method)) p.set_authentication_method("SCRAM-SHA-1");
  if (on(PropertyId::authentication_data)) p.set_authentication_data(kBlob);
  if (on(PropertyId::request_problem_information)) p.set_request_problem_information(0);
  if (on(PropertyId::will_delay_interval)) p.set_will_delay_interval(60);
  if (on(PropertyId::request_response_information)) p.set_request_response_information(1);
  if (on(PropertyId::response_information)) p.set_response_information("resp/");
  if (on(PropertyId::server_reference)) p.set_server_reference("other:1883");
  if (on(PropertyId::reason_string)) p.set_reason_string("because \xC3\xA9");
  if (on(PropertyId::receive_maximum)) p.set_receive_maximum(10);
  if (on(PropertyId::topic_alias_maximum)) p.set_topic_alias_maximum(20);
  if (on(PropertyId::topic_alias)) p.set_topic_alias(3);
  if (on(PropertyId::maximum_qos)) p.set_maximum_qos(1);
  if (on(PropertyId::retain_available)) p.set_retain_available(0);
  if (on(PropertyId::maximum_packet_size)) p.set_maximum_packet_size(65536);
  if (on(PropertyId::wildcard_subscription_available)) p.set_wildcard_subscription_available(0);
  if (on(PropertyId::subscription_identifier_available)) p.set_subscription_identifier_available(0);
  if (on(PropertyId::shared_subscription_available)) p.set_shared_subscription_available(0);
  p.add_user_property("k", "v");
  p.add_user_property("k", "v2");
  return p;
}

template <typename P>
void check(const P& p, ProtocolVersion v) {
  std::vector<uint8_t> storage;
  P out = round_trip(p, v, storage);
  CHECK(out == p);
  CHECK(encoded_size(p, v) == storage.size());
  // A too small buffer is refused, not overrun.
  std::vector<uint8_t> small(storage.size() - 1);
  CHECK(encode(p, v, small) == 0);
}

}  // namespace

TEST_CASE("CONNECT round trip") {
  for (ProtocolVersion v : kAllVersions) {
    CAPTURE(static_cast<int>(v));
    Connect c;
    c.version = v;
    c.client_id = "client-1";
    c.keep_alive = 60;
    check(c, v);
    c.clean_start = false;
    c.has_username = true;
    c.username = "user";
    c.has_password = true;
    c.password = kBlob;
    c.has_will = true;
    c.will.topic = "will/topic";
    c.will.payload = kBlob;
    c.will.qos = 2;
    c.will.retain = true;
    if (v == ProtocolVersion::v5) {
      c.properties = full_props(PacketType::connect);
      c.will.properties = full_props(kWillProperties);
    }
    check(c, v);
    c.will.qos = 1;
    c.will.retain = false;
    check(c, v);
  }
  Connect empty_id;
  empty_id.version = ProtocolVersion::v5;
  check(empty_id, ProtocolVersion::v5);
  empty_id.version = ProtocolVersion::v4;
  check(empty_id, ProtocolVersion::v4);
  // 5.0 allows a password without a user name.
  Connect pw;
  pw.version = ProtocolVersion::v5;
  pw.client_id = "x";
  pw.has_password = true;
  pw.password = kBlob;
  check(pw, ProtocolVersion::v5);
}

TEST_CASE("CONNACK round trip") {
  for (ProtocolVersion v : kAllVersions) {
    ConnAck a;
    check(a, v);
    if (v != ProtocolVersion::v3) {
      a.session_present = true;
      check(a, v);
    }
    a.session_present = false;
    for (ReasonCode r : {ReasonCode::unsupported_protocol_version, ReasonCode::client_identifier_not_valid,
                         ReasonCode::server_unavailable, ReasonCode::bad_user_name_or_password,
                         ReasonCode::not_authorized}) {
      a.reason = r;
      check(a, v);
    }
  }
  ConnAck a;
  a.reason = ReasonCode::quota_exceeded;
  check(a, ProtocolVersion::v5);
  a.reason = ReasonCode::success;
  a.session_present = true;
  a.properties = full_props(PacketType::connack);
  check(a, ProtocolVersion::v5);
}

TEST_CASE("3.x CONNACK return codes") {
  std::vector<uint8_t> s;
  ConnAck a;
  a.reason = ReasonCode::server_busy;
  CHECK(hex(encode_vec(a, ProtocolVersion::v4)) == "20020003");
  a.reason = ReasonCode::banned;
  CHECK(hex(encode_vec(a, ProtocolVersion::v4)) == "20020005");
  a.reason = ReasonCode::quota_exceeded;
  CHECK_FALSE(has_v3_connack_code(a.reason));
  a.reason = ReasonCode::success;
  a.session_present = true;
  CHECK(hex(encode_vec(a, ProtocolVersion::v4)) == "20020100");
  CHECK(hex(encode_vec(a, ProtocolVersion::v3)) == "20020000");  // 3.1 has no session present
}

TEST_CASE("PUBLISH round trip") {
  std::vector<uint8_t> payload(300, 0xAB);
  for (ProtocolVersion v : kAllVersions) {
    for (uint8_t qos = 0; qos < 3; ++qos) {
      Publish p;
      p.topic = "a/b/c";
      p.qos = qos;
      p.packet_id = qos ? 0xFFFF : 0;
      p.retain = qos == 1;
      p.dup = qos == 2;
      check(p, v);
      p.payload = payload;
      if (v == ProtocolVersion::v5) p.properties = full_props(PacketType::publish);
      check(p, v);
    }
  }
  Publish alias_only;
  alias_only.properties.set_topic_alias(7);
  check(alias_only, ProtocolVersion::v5);
}

TEST_CASE("PUBACK, PUBREC, PUBREL, PUBCOMP round trip") {
  for (ProtocolVersion v : kAllVersions) {
    PubAck a;
    a.packet_id = 1;
    check(a, v);
    PubRec b;
    b.packet_id = 2;
    check(b, v);
    PubRel c;
    c.packet_id = 3;
    check(c, v);
    PubComp d;
    d.packet_id = 65535;
    check(d, v);
  }
  PubAck a;
  a.packet_id = 9;
  a.reason = ReasonCode::no_matching_subscribers;
  check(a, ProtocolVersion::v5);
  CHECK(encoded_size(a, ProtocolVersion::v5) == 5);
  a.reason = ReasonCode::success;
  CHECK(encoded_size(a, ProtocolVersion::v5) == 4);  // reason 0 without properties omitted
  a.properties = full_props(PacketType::puback);
  check(a, ProtocolVersion::v5);
  PubRec b;
  b.packet_id = 1;
  b.reason = ReasonCode::payload_format_invalid;
  b.properties = full_props(PacketType::pubrec);
  check(b, ProtocolVersion::v5);
  PubRel c;
  c.packet_id = 1;
  c.reason = ReasonCode::packet_identifier_not_found;
  c.properties = full_props(PacketType::pubrel);
  check(c, ProtocolVersion::v5);
  PubComp d;
  d.packet_id = 1;
  d.properties = full_props(PacketType::pubcomp);
  check(d, ProtocolVersion::v5);
}

TEST_CASE("SUBSCRIBE and SUBACK round trip") {
  for (ProtocolVersion v : kAllVersions) {
    Subscribe s;
    s.packet_id = 10;
    s.subscriptions.push_back({"a/+/c", 0});
    s.subscriptions.push_back({"#", 1});
    s.subscriptions.push_back({"$share/g/x/#", 2});
    if (v == ProtocolVersion::v5) {
      s.subscriptions.push_back({"nl", 1, true, true, 2});
      s.subscriptions.push_back({"rh1", 0, false, false, 1});
      s.properties = full_props(PacketType::subscribe);
    }
    check(s, v);
    SubAck a;
    a.packet_id = 10;
    a.reasons = {ReasonCode::granted_qos_0, ReasonCode::granted_qos_1, ReasonCode::granted_qos_2,
                 ReasonCode::unspecified_error};
    if (v == ProtocolVersion::v5) {
      a.reasons.push_back(ReasonCode::topic_filter_invalid);
      a.properties = full_props(PacketType::suback);
    }
    check(a, v);
  }
  SubAck a;
  a.packet_id = 1;
  a.reasons = {ReasonCode::quota_exceeded};
  CHECK(hex(encode_vec(a, ProtocolVersion::v4)) == "9003000180");  // 3.x: any error is 0x80
}

TEST_CASE("UNSUBSCRIBE and UNSUBACK round trip") {
  for (ProtocolVersion v : kAllVersions) {
    Unsubscribe u;
    u.packet_id = 7;
    u.filters = {"a/b", "+/#", "$share/g/t"};
    if (v == ProtocolVersion::v5) u.properties = full_props(PacketType::unsubscribe);
    check(u, v);
    UnsubAck a;
    a.packet_id = 7;
    if (v == ProtocolVersion::v5) {
      a.reasons = {ReasonCode::success, ReasonCode::no_subscription_existed, ReasonCode::not_authorized};
      a.properties = full_props(PacketType::unsuback);
    }
    check(a, v);
  }
  UnsubAck a;
  a.packet_id = 7;
  a.reasons = {ReasonCode::success};
  CHECK(hex(encode_vec(a, ProtocolVersion::v4)) == "b0020007");  // 3.x: no reasons on the wire
}

TEST_CASE("PINGREQ, PINGRESP, DISCONNECT, AUTH round trip") {
  for (ProtocolVersion v : kAllVersions) {
    check(PingReq{}, v);
    check(PingResp{}, v);
    check(Disconnect{}, v);
    CHECK(hex(encode_vec(Disconnect{}, v)) == "e000");
  }
  Disconnect d;
  d.reason = ReasonCode::disconnect_with_will_message;  // client to server only
  auto wire = encode_vec(d, ProtocolVersion::v5);
  CHECK(hex(wire) == "e00104");
  Frame f;
  REQUIRE(parse_frame(wire, f) == ReasonCode::success);
  Disconnect back;
  CHECK(decode_disconnect(f, ProtocolVersion::v5, Side::server, back) == ReasonCode::success);
  CHECK(back == d);
  d.reason = ReasonCode::server_shutting_down;
  d.properties = full_props(PacketType::disconnect);
  // Session Expiry is client-to-server only; decode_as decodes as a client.
  d.properties.present &= ~(uint64_t{1} << static_cast<unsigned>(PropertyId::session_expiry_interval));
  check(d, ProtocolVersion::v5);
  Auth a;
  a.reason = ReasonCode::continue_authentication;
  a.properties = full_props(PacketType::auth);
  check(a, ProtocolVersion::v5);
  a.reason = ReasonCode::success;
  check(a, ProtocolVersion::v5);
}

TEST_CASE("every property, in isolation, on every packet that allows it") {
  const PacketType types[] = {kWillProperties, PacketType::connect, PacketType::connack, PacketType::publish,
                              PacketType::puback, PacketType::pubrec, PacketType::pubrel, PacketType::pubcomp,
                              PacketType::subscribe, PacketType::suback, PacketType::unsubscribe,
                              PacketType::unsuback, PacketType::disconnect, PacketType::auth};
  int tested = 0;
  for (PacketType t : types) {
    Properties all = full_props(t);
    for (unsigned id = 1; id <= 0x2A; ++id) {
      const auto pid = static_cast<PropertyId>(id);
      if (!all.has(pid)) continue;
      Properties one = all;
      one.present = uint64_t{1} << id;
      if (pid != PropertyId::subscription_identifier) one.subscription_ids.clear();
      if (pid != PropertyId::user_property) one.user_properties.clear();
      std::vector<uint8_t> buf(properties_size(one));
      CHECK(encode_properties(one, buf.data()) == buf.size());
      Properties back;
      size_t used = 0;
      CAPTURE(property_name(pid));
      CAPTURE(packet_type_name(t));
      CHECK(decode_properties(buf.data(), buf.size(), t, back, used) == ReasonCode::success);
      CHECK(used == buf.size());
      CHECK(back == one);
      ++tested;
    }
  }
  CHECK(tested > 60);
}

TEST_CASE("variable byte integer boundaries") {
  const uint32_t values[] = {0, 127, 128, 16383, 16384, 2097151, 2097152, kMaxVarint};
  const size_t sizes[] = {1, 1, 2, 2, 3, 3, 4, 4};
  for (size_t i = 0; i < 8; ++i) {
    uint8_t buf[4];
    CHECK(varint_size(values[i]) == sizes[i]);
    size_t n = encode_varint(values[i], buf);
    CHECK(n == sizes[i]);
    uint32_t back = 0;
    size_t used = 0;
    CHECK(decode_varint(buf, n, back, used) == VarintStatus::ok);
    CHECK(back == values[i]);
    CHECK(used == n);
    if (n > 1) CHECK(decode_varint(buf, n - 1, back, used) == VarintStatus::need_more);
  }
}

TEST_CASE("PUBLISH header for zero-copy delivery") {
  const std::string_view payload = "0123456789";
  Publish whole;
  whole.topic = "t/1";
  whole.payload = bytes_of(payload);
  whole.qos = 1;
  whole.packet_id = 42;
  whole.retain = true;
  whole.properties.set_payload_format_indicator(1);
  whole.properties.add_user_property("a", "b");
  std::vector<uint8_t> fwd(forwarded_properties_size(whole.properties));
  CHECK(encode_forwarded_properties(whole.properties, fwd) == fwd.size());

  for (ProtocolVersion v : kAllVersions) {
    PublishHeader h;
    h.topic = whole.topic;
    h.qos = 1;
    h.packet_id = 42;
    h.retain = true;
    h.forwarded_properties = fwd;
    const uint32_t ids[] = {5, 300};
    h.subscription_ids = ids;
    h.message_expiry = 9;
    h.topic_alias = 2;
    uint8_t head[64];
    size_t n = encode_publish_header(h, v, payload.size(), head);
    REQUIRE(n == publish_header_size(h, v, payload.size()));
    std::vector<uint8_t> wire(head, head + n);
    wire.insert(wire.end(), payload.begin(), payload.end());
    Publish out;
    REQUIRE(decode_bytes(wire, v, out) == ReasonCode::success);
    CHECK(out.topic == "t/1");
    CHECK(out.packet_id == 42);
    CHECK(out.retain);
    CHECK(out.payload.size() == payload.size());
    if (v == ProtocolVersion::v5) {
      CHECK(out.properties.payload_format_indicator == 1);
      CHECK(out.properties.user_properties.size() == 1);
      CHECK(out.properties.subscription_ids == std::vector<uint32_t>{5, 300});
      CHECK(out.properties.message_expiry_interval == 9);
      CHECK(out.properties.topic_alias == 2);
    } else {
      CHECK(out.properties.empty());
    }
    // Retransmission: DUP patched in place.
    set_publish_dup({head, n});
    std::copy(head, head + n, wire.begin());
    REQUIRE(decode_bytes(wire, v, out) == ReasonCode::success);
    CHECK(out.dup);
  }
  PublishHeader small;
  small.topic = "x";
  uint8_t tiny[3];
  CHECK(encode_publish_header(small, ProtocolVersion::v4, 0, tiny) == 0);
  CHECK(publish_header_size(small, ProtocolVersion::v4, 1000) == 6);  // 30 e9 07 0001 78
}

TEST_CASE("content beyond the largest remaining length is refused, not overrun") {
  // 268,435,455 bytes of payload plus a topic cannot be framed: encode returns 0 however
  // large the buffer (the length would need a fifth byte the size did not count).
  const size_t big = kMaxVarint;
  std::unique_ptr<uint8_t[]> mem(new uint8_t[big + 64]);  // left uninitialised: never read
  Publish p;
  p.topic = "t";
  p.payload = {mem.get(), big - 3};  // 2 + 1 + big - 3 = kMaxVarint: still fits
  CHECK(encoded_size(p, ProtocolVersion::v4) == 1 + 4 + size_t{kMaxVarint});
  p.payload = {mem.get(), big - 2};  // one byte too many
  CHECK(encoded_size(p, ProtocolVersion::v4) == 0);
  CHECK(encode(p, ProtocolVersion::v4, {mem.get(), big + 64}) == 0);
  // The per-receiver header alike: the payload is only a size there.
  PublishHeader h;
  h.topic = "t";
  uint8_t head[16];
  CHECK(encode_publish_header(h, ProtocolVersion::v4, big - 3, head) == 5 + 3);
  CHECK(encode_publish_header(h, ProtocolVersion::v4, big - 2, head) == 0);
  CHECK(publish_header_size(h, ProtocolVersion::v4, big - 2) == 0);
  CHECK(encode_publish_header(h, ProtocolVersion::v5, big - 3, head) == 0);  // + property length
  CHECK(publish_header_size(h, ProtocolVersion::v5, big - 3) == 0);
}

TEST_CASE("variable byte integers: the specification's boundary encodings") {
  struct Case {
    uint32_t value;
    const char* wire;
  } cases[] = {
      {0, "00"},         {127, "7f"},         {128, "8001"},         {16383, "ff7f"},
      {16384, "808001"}, {2097151, "ffff7f"}, {2097152, "80808001"}, {268435455, "ffffff7f"},
  };
  for (const Case& c : cases) {
    uint8_t buf[4];
    size_t n = encode_varint(c.value, buf);
    CHECK(hex({buf, n}) == c.wire);
    uint32_t back = 0;
    size_t used = 0;
    auto wire = unhex(c.wire);
    CHECK(decode_varint(wire.data(), wire.size(), back, used) == VarintStatus::ok);
    CHECK(back == c.value);
  }
}

// Byte-exact fixtures, as hex: client packets captured from Debian 12's mosquitto_pub /
// mosquitto_sub 2.0.11 talking to a stub broker, server packets captured from the
// mosquitto 2.0.11 broker, and the specifications' examples. Each is decoded field by
// field and re-encoded: to the same bytes where our property order matches the capture's,
// else to bytes of the same size that decode the same.
#include "test_util.h"

using namespace mqttd;
using namespace mqttd::test;

namespace {

template <typename P>
void reencodes_exactly(std::string_view fixture, ProtocolVersion v) {
  auto bytes = unhex(fixture);
  P p;
  REQUIRE(decode_bytes(bytes, v, p) == ReasonCode::success);
  CHECK(hex(encode_vec(p, v)) == fixture);
}

template <typename P>
void reencodes_equivalently(std::string_view fixture, ProtocolVersion v) {
  auto bytes = unhex(fixture);
  P p;
  REQUIRE(decode_bytes(bytes, v, p) == ReasonCode::success);
  auto again = encode_vec(p, v);
  CHECK(again.size() == bytes.size());
  P q;
  REQUIRE(decode_bytes(again, v, q) == ReasonCode::success);
  CHECK(q == p);
}

}  // namespace

TEST_CASE("MQTT 3.1 (MQIsdp) from mosquitto_pub -V mqttv31 -q 1") {
  auto bytes = unhex("101100064d51497364700302003c0003633331");
  Connect c;
  REQUIRE(decode_bytes(bytes, ProtocolVersion::v3, c) == ReasonCode::success);
  CHECK(c.version == ProtocolVersion::v3);
  CHECK(c.client_id == "c31");
  CHECK(c.clean_start);
  CHECK(c.keep_alive == 60);
  reencodes_exactly<Connect>("101100064d51497364700302003c0003633331", ProtocolVersion::v3);
  Publish p;
  auto pub = unhex("320c0003612f62000168656c6c6f");
  REQUIRE(decode_bytes(pub, ProtocolVersion::v3, p) == ReasonCode::success);
  CHECK(p.topic == "a/b");
  CHECK(p.qos == 1);
  CHECK(p.packet_id == 1);
  CHECK(std::string_view(reinterpret_cast<const char*>(p.payload.data()), p.payload.size()) == "hello");
  reencodes_exactly<Publish>("320c0003612f62000168656c6c6f", ProtocolVersion::v3);
  reencodes_exactly<Disconnect>("e000", ProtocolVersion::v3);
  // mosquitto_sub -V mqttv31: SUBSCRIBE x QoS 0, UNSUBSCRIBE x
  reencodes_exactly<Subscribe>("8206000100017800", ProtocolVersion::v3);
  reencodes_exactly<Unsubscribe>("a2050002000178", ProtocolVersion::v3);
}

TEST_CASE("MQTT 3.1.1 from mosquitto_pub with will, user, password, QoS 2, retain") {
  const char* fx = "102600044d51545404ee003c0004633331310003772f740003627965000475736572000470617373";
  Connect c;
  auto bytes = unhex(fx);
  REQUIRE(decode_bytes(bytes, ProtocolVersion::v4, c) == ReasonCode::success);
  CHECK(c.version == ProtocolVersion::v4);
  CHECK(c.client_id == "c311");
  CHECK(c.has_will);
  CHECK(c.will.topic == "w/t");
  CHECK(c.will.qos == 1);
  CHECK(c.will.retain);
  CHECK(c.username == "user");
  CHECK(c.password.size() == 4);
  reencodes_exactly<Connect>(fx, ProtocolVersion::v4);
  Publish p;
  auto pub = unhex("350c0003612f62000168656c6c6f");
  REQUIRE(decode_bytes(pub, ProtocolVersion::v4, p) == ReasonCode::success);
  CHECK(p.qos == 2);
  CHECK(p.retain);
  reencodes_exactly<Publish>("350c0003612f62000168656c6c6f", ProtocolVersion::v4);
  reencodes_exactly<PubRel>("62020001", ProtocolVersion::v4);
  // mosquitto_sub -V mqttv311 -t 'a/+' -t '$share/g/b/#' -q 1
  reencodes_exactly<Connect>("100e00044d5154540402003c00027334", ProtocolVersion::v4);
  Subscribe s;
  auto sub = unhex("821700010003612f2b01000c2473686172652f672f622f2301");
  REQUIRE(decode_bytes(sub, ProtocolVersion::v4, s) == ReasonCode::success);
  REQUIRE(s.subscriptions.size() == 2);
  CHECK(s.subscriptions[1].filter == "$share/g/b/#");
  CHECK(s.subscriptions[1].qos == 1);
  reencodes_exactly<Subscribe>("821700010003612f2b01000c2473686172652f672f622f2301", ProtocolVersion::v4);
}

TEST_CASE("MQTT 5 from mosquitto_pub with CONNECT, will and PUBLISH properties") {
  const char* fx =
      "103600044d5154540506003c19110000001e21000a27000003e8220005170026000161000162000263350518000000050003772f"
      "35000178";
  Connect c;
  auto bytes = unhex(fx);
  REQUIRE(decode_bytes(bytes, ProtocolVersion::v5, c) == ReasonCode::success);
  CHECK(c.version == ProtocolVersion::v5);
  CHECK(c.client_id == "c5");
  const Properties& pr = c.properties;
  CHECK(pr.session_expiry_interval == 30);
  CHECK(pr.receive_maximum == 10);
  CHECK(pr.maximum_packet_size == 1000);
  CHECK(pr.topic_alias_maximum == 5);
  CHECK(pr.has(PropertyId::request_problem_information));
  CHECK(pr.request_problem_information == 0);
  REQUIRE(pr.user_properties.size() == 1);
  CHECK(pr.user_properties[0].name == "a");
  CHECK(c.will.properties.will_delay_interval == 5);
  CHECK(c.will.topic == "w/5");
  reencodes_equivalently<Connect>(fx, ProtocolVersion::v5);

  const char* pub =
      "32340003612f620001272600016b000176020000003c03000a746578742f706c61696e080003722f74090003616263010168656c6c"
      "6f";
  Publish p;
  auto pb = unhex(pub);
  REQUIRE(decode_bytes(pb, ProtocolVersion::v5, p) == ReasonCode::success);
  CHECK(p.properties.message_expiry_interval == 60);
  CHECK(p.properties.content_type == "text/plain");
  CHECK(p.properties.response_topic == "r/t");
  CHECK(p.properties.correlation_data.size() == 3);
  CHECK(p.properties.payload_format_indicator == 1);
  CHECK(p.properties.user_properties[0].value == "v");
  reencodes_equivalently<Publish>(pub, ProtocolVersion::v5);
  // mosquitto_sub -V mqttv5 -q 2 -D subscribe subscription-identifier 7 -D subscribe user-property u v
  reencodes_exactly<Connect>("101200044d5154540502003c0321001400027335", ProtocolVersion::v5);
  Subscribe s;
  auto sub = unhex("82180001090b07260001750001760003612f2b020003622f2302");
  REQUIRE(decode_bytes(sub, ProtocolVersion::v5, s) == ReasonCode::success);
  CHECK(s.properties.subscription_ids == std::vector<uint32_t>{7});
  CHECK(s.subscriptions.size() == 2);
  reencodes_exactly<Subscribe>("82180001090b07260001750001760003612f2b020003622f2302", ProtocolVersion::v5);
  reencodes_exactly<Unsubscribe>("a2080002000003612f2b", ProtocolVersion::v5);
}

TEST_CASE("spec-shaped server packets") {
  reencodes_exactly<ConnAck>("20020000", ProtocolVersion::v4);
  reencodes_exactly<ConnAck>("2003000000", ProtocolVersion::v5);
  reencodes_exactly<PubAck>("40020001", ProtocolVersion::v5);
  reencodes_exactly<SubAck>("9004000100" "01", ProtocolVersion::v5);
  reencodes_exactly<UnsubAck>("b004000100" "11", ProtocolVersion::v5);
  reencodes_exactly<PingResp>("d000", ProtocolVersion::v4);
  reencodes_exactly<Disconnect>("e0018b", ProtocolVersion::v5);
  Disconnect d;  // an explicit empty property block decodes the same as none
  auto bytes = unhex("e0028b00");
  REQUIRE(decode_bytes(bytes, ProtocolVersion::v5, d) == ReasonCode::success);
  CHECK(d.reason == ReasonCode::server_shutting_down);
  CHECK(d.properties.empty());
}

// Server packets captured from the mosquitto 2.0.11 broker (Debian 12), answering raw
// client packets; the client decodes them.
TEST_CASE("MQTT 5 server packets from the mosquitto broker") {
  const auto v5 = ProtocolVersion::v5;
  ConnAck a;
  auto bytes = unhex("200900000622000a210014");
  REQUIRE(decode_bytes(bytes, v5, a) == ReasonCode::success);
  CHECK_FALSE(a.session_present);
  CHECK(a.reason == ReasonCode::success);
  CHECK(a.properties.topic_alias_maximum == 10);
  CHECK(a.properties.receive_maximum == 20);
  reencodes_equivalently<ConnAck>("200900000622000a210014", v5);
  // A zero-length client id: the broker assigns one.
  const char* assigned =
      "203500003222000a1200296175746f2d39304330344235432d354545412d444131352d463430462d424238343644353839333433"
      "210014";
  bytes = unhex(assigned);
  REQUIRE(decode_bytes(bytes, v5, a) == ReasonCode::success);
  CHECK(a.properties.assigned_client_identifier == "auto-90C04B5C-5EEA-DA15-F40F-BB846D589343");
  reencodes_equivalently<ConnAck>(assigned, v5);

  SubAck s;
  bytes = unhex("9006000100020100");
  REQUIRE(decode_bytes(bytes, v5, s) == ReasonCode::success);
  CHECK(s.reasons == std::vector<ReasonCode>{ReasonCode::granted_qos_2, ReasonCode::granted_qos_1,
                                             ReasonCode::granted_qos_0});
  reencodes_exactly<SubAck>("9006000100020100", v5);
  reencodes_exactly<SubAck>("900400030002", v5);

  // Delivered to a subscription with identifier 7; user property and format indicator forwarded.
  const char* delivered = "32150003612f6200020b0b072600016b00017601016869";
  Publish p;
  bytes = unhex(delivered);
  REQUIRE(decode_bytes(bytes, v5, p) == ReasonCode::success);
  CHECK(p.topic == "a/b");
  CHECK(p.qos == 1);
  CHECK(p.packet_id == 2);
  CHECK(p.properties.subscription_ids == std::vector<uint32_t>{7});
  CHECK(p.properties.payload_format_indicator == 1);
  REQUIRE(p.properties.user_properties.size() == 1);
  CHECK(p.properties.user_properties[0].name == "k");
  reencodes_equivalently<Publish>(delivered, v5);
  // A retained message (payload "h") sent on subscribing.
  bytes = unhex("33120003612f620001090b072600016b00017668");
  REQUIRE(decode_bytes(bytes, v5, p) == ReasonCode::success);
  CHECK(p.retain);
  reencodes_equivalently<Publish>("33120003612f620001090b072600016b00017668", v5);

  reencodes_exactly<PubAck>("40020005", v5);
  reencodes_exactly<PubRec>("50020006", v5);
  reencodes_exactly<PubRel>("62020001", v5);
  reencodes_exactly<PubComp>("70020006", v5);
  UnsubAck u;
  bytes = unhex("b0050002000011");
  REQUIRE(decode_bytes(bytes, v5, u) == ReasonCode::success);
  CHECK(u.reasons == std::vector<ReasonCode>{ReasonCode::success, ReasonCode::no_subscription_existed});
  reencodes_exactly<UnsubAck>("b0050002000011", v5);
  // Its answer to SUBSCRIBE with Maximum QoS 3 (and to PUBLISH QoS 0 with DUP).
  reencodes_exactly<Disconnect>("e00181", v5);
}

TEST_CASE("MQTT 3.1.1 and 3.1 server packets from the mosquitto broker") {
  const auto v4 = ProtocolVersion::v4;
  reencodes_exactly<ConnAck>("20020000", v4);
  reencodes_exactly<ConnAck>("20020002", v4);  // empty client id without clean session
  reencodes_exactly<ConnAck>("20020001", v4);  // "MQTT" level 6
  SubAck s;
  auto bytes = unhex("900400010102");
  REQUIRE(decode_bytes(bytes, v4, s) == ReasonCode::success);
  CHECK(s.reasons == std::vector<ReasonCode>{ReasonCode::granted_qos_1, ReasonCode::granted_qos_2});
  reencodes_exactly<SubAck>("900400010102", v4);
  reencodes_exactly<UnsubAck>("b0020002", v4);
  reencodes_exactly<PingResp>("d000", v4);
  const auto v3 = ProtocolVersion::v3;
  reencodes_exactly<ConnAck>("20020000", v3);
  reencodes_exactly<SubAck>("9003000101", v3);  // its answer to a 3.1 SUBSCRIBE sent with DUP (8a)
  reencodes_exactly<PubComp>("70020001", v3);   // its answer to a 3.1 PUBREL sent with DUP (6a)
  PubRel r;
  bytes = unhex("6a020001");
  CHECK(decode_bytes(bytes, v3, r) == ReasonCode::success);
}

// The non-normative examples of the specifications (MQTT 3.1.1 chapters 1 and 3, MQTT 5.0
// 3.1.2.11), checked byte for byte against what the encoder writes.
TEST_CASE("specification examples") {
  // CONNECT variable header: "MQTT", level 4, flags CE (user, password, will QoS 1, will,
  // clean), keep alive 10.
  Connect c;
  c.version = ProtocolVersion::v4;
  c.keep_alive = 10;
  c.client_id = "c";
  c.has_will = true;
  c.will.qos = 1;
  c.will.topic = "w";
  c.has_username = true;
  c.username = "u";
  c.has_password = true;
  auto wire = encode_vec(c, ProtocolVersion::v4);
  CHECK(hex(std::span<const uint8_t>(wire).subspan(2, 10)) == "00044d515454" "04" "ce" "000a");
  // 5.0 adds the properties: length 5, Session Expiry Interval 10.
  c.version = ProtocolVersion::v5;
  c.properties.set_session_expiry_interval(10);
  wire = encode_vec(c, ProtocolVersion::v5);
  CHECK(hex(std::span<const uint8_t>(wire).subspan(2, 16)) == "00044d515454" "05" "ce" "000a" "05" "110000000a");
  Connect back;
  REQUIRE(decode_bytes(wire, ProtocolVersion::v5, back) == ReasonCode::success);
  CHECK(back == c);

  // PUBLISH variable header: topic "a/b", packet identifier 10.
  reencodes_exactly<Publish>("32070003612f62000a", ProtocolVersion::v4);
  // SUBSCRIBE "a/b" QoS 1 and "c/d" QoS 2; SUBACK QoS 0, QoS 2, failure; UNSUBSCRIBE both.
  reencodes_exactly<Subscribe>("820e000a0003612f62010003632f6402", ProtocolVersion::v4);
  reencodes_exactly<SubAck>("9005000a000280", ProtocolVersion::v4);
  reencodes_exactly<Unsubscribe>("a20c000a0003612f620003632f64", ProtocolVersion::v4);
  // A UTF-8 string: "A" and U+2A6D4 (a four-byte character), here as a topic name.
  Publish p;
  auto bytes = unhex("30070005" "41f0aa9b94");
  REQUIRE(decode_bytes(bytes, ProtocolVersion::v4, p) == ReasonCode::success);
  CHECK(p.topic == "A\xF0\xAA\x9B\x94");
}

// One test per validation rule a receiver can check on one packet, each asserting the
// exact reason code. Packets are built by hand from hex so they can break any rule.
#include "test_util.h"

using namespace mqttd;
using namespace mqttd::test;

namespace {

constexpr auto V3 = ProtocolVersion::v3;
constexpr auto V4 = ProtocolVersion::v4;
constexpr auto V5 = ProtocolVersion::v5;

// A packet: first byte and body hex; the remaining length is computed.
std::vector<uint8_t> pkt(uint8_t first, std::string_view body_hex) {
  auto body = unhex(body_hex);
  std::vector<uint8_t> out(1 + varint_size(static_cast<uint32_t>(body.size())));
  out[0] = first;
  encode_varint(static_cast<uint32_t>(body.size()), out.data() + 1);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// Property block hex with its length prefix.
std::string props(std::string_view body_hex) {
  auto b = unhex(body_hex);
  uint8_t len[4];
  size_t n = encode_varint(static_cast<uint32_t>(b.size()), len);
  return hex({len, n}) + std::string(body_hex);
}

template <typename P>
ReasonCode dec(const std::vector<uint8_t>& bytes, ProtocolVersion v) {
  P p;
  return decode_bytes(bytes, v, p);
}

ReasonCode connect(std::string_view body_hex) {
  Connect c;
  return decode_bytes(pkt(0x10, body_hex), V4, c);
}

ReasonCode publish(ProtocolVersion v, uint8_t first, std::string_view body_hex, Side side = Side::server) {
  Frame f;
  auto bytes = pkt(first, body_hex);
  ReasonCode rc = parse_frame(bytes, f);
  if (rc != ReasonCode::success) return rc;
  Publish p;
  return decode_publish(f, v, side, p);
}

ReasonCode disconnect(ProtocolVersion v, std::string_view body_hex, Side side) {
  Frame f;
  auto bytes = pkt(0xE0, body_hex);
  REQUIRE(parse_frame(bytes, f) == ReasonCode::success);
  Disconnect d;
  return decode_disconnect(f, v, side, d);
}

const std::string kMqtt = "00044d515454";  // "MQTT"

}  // namespace

TEST_CASE("CONNECT validation") {
  CHECK(connect(kMqtt + "0402003c000161") == ReasonCode::success);
  CHECK(connect(kMqtt + "0403003c000161") == ReasonCode::malformed_packet);  // reserved flag
  CHECK(connect(kMqtt + "041e003c000161") == ReasonCode::malformed_packet);  // will QoS 3
  CHECK(connect(kMqtt + "040a003c000161") == ReasonCode::malformed_packet);  // will QoS without will
  CHECK(connect(kMqtt + "0422003c000161") == ReasonCode::malformed_packet);  // will retain without will
  CHECK(connect(kMqtt + "0442003c000161" "000178") == ReasonCode::malformed_packet);  // password, no user (3.1.1)
  CHECK(connect("00044d515458" "0402003c000161") == ReasonCode::protocol_error);     // protocol name
  CHECK(connect("00064d5149736470" "0402003c000161") == ReasonCode::unsupported_protocol_version);
  CHECK(connect(kMqtt + "0302003c000161") == ReasonCode::unsupported_protocol_version);
  CHECK(connect(kMqtt + "0002003c000161") == ReasonCode::unsupported_protocol_version);
  CHECK(connect(kMqtt + "0400003c0000") == ReasonCode::client_identifier_not_valid);  // empty id, no clean
  CHECK(connect(kMqtt + "0402003c0000") == ReasonCode::success);                      // empty id, clean
  CHECK(connect(kMqtt + "0402003c00016100") == ReasonCode::malformed_packet);         // trailing byte
  CHECK(connect(kMqtt + "0402003c000561") == ReasonCode::malformed_packet);           // truncated id
  CHECK(connect(kMqtt + "0402003c") == ReasonCode::malformed_packet);                 // no payload
  CHECK(connect(kMqtt + "04") == ReasonCode::malformed_packet);                       // truncated header
  CHECK(connect(kMqtt + "0402003c000100") == ReasonCode::malformed_packet);           // U+0000
  CHECK(connect(kMqtt + "0402003c0003eda080") == ReasonCode::malformed_packet);       // surrogate
  CHECK(connect(kMqtt + "0402003c0002c0af") == ReasonCode::malformed_packet);         // overlong
  CHECK(connect(kMqtt + "0406003c000161" "0003612f2b" "0000") == ReasonCode::topic_name_invalid);
  CHECK(connect(kMqtt + "0406003c000161" "0003612f62" "0000") == ReasonCode::success);
  CHECK(connect(kMqtt + "0406003c000161" "0003612f62" "0005") == ReasonCode::malformed_packet);  // will payload
  CHECK(connect(kMqtt + "0482003c000161" "0002ff00") == ReasonCode::malformed_packet);  // user name UTF-8
  // 3.1: "MQIsdp" level 3 needs a client id.
  Connect c;
  CHECK(decode_bytes(pkt(0x10, "00064d51497364700302003c0000"), V4, c) == ReasonCode::client_identifier_not_valid);
  CHECK(c.version == V3);
  // An unknown level still reports a version to answer in.
  CHECK(decode_bytes(pkt(0x10, kMqtt + "0602003c000161"), V4, c) == ReasonCode::unsupported_protocol_version);
  CHECK(c.version == V4);
}

TEST_CASE("CONNECT MQTT 5 properties") {
  auto v5 = [](std::string_view prop_body) {
    Connect c;
    std::string body = kMqtt + "0502003c" + props(prop_body) + "000161";
    ReasonCode rc = decode_bytes(pkt(0x10, body), V5, c);
    CHECK(c.version == V5);
    return rc;
  };
  CHECK(v5("") == ReasonCode::success);
  CHECK(v5("110000000a") == ReasonCode::success);
  CHECK(v5("110000000a" "110000000b") == ReasonCode::protocol_error);  // duplicate
  CHECK(v5("230001") == ReasonCode::protocol_error);                   // topic alias: not on CONNECT
  CHECK(v5("050001") == ReasonCode::malformed_packet);                 // unknown identifier
  CHECK(v5("2100") == ReasonCode::malformed_packet);                   // truncated value
  CHECK(v5("210000") == ReasonCode::protocol_error);                   // receive maximum 0
  CHECK(v5("2700000000") == ReasonCode::protocol_error);               // maximum packet size 0
  CHECK(v5("1702") == ReasonCode::protocol_error);                     // request problem info 2
  CHECK(v5("1902") == ReasonCode::protocol_error);                     // request response info 2
  CHECK(v5("16000101") == ReasonCode::protocol_error);                 // auth data without method
  CHECK(v5("150001" "41" "16000101") == ReasonCode::success);
  CHECK(v5("260001610001ff") == ReasonCode::malformed_packet);         // user property UTF-8
  CHECK(v5("2600016100016226000161000162") == ReasonCode::success);    // user property repeats
  // Property length beyond the packet.
  Connect c;
  CHECK(decode_bytes(pkt(0x10, kMqtt + "0502003c" "20" "000161"), V5, c) == ReasonCode::malformed_packet);
  // Will properties: will delay allowed there, not in CONNECT's own block.
  CHECK(v5("1800000005") == ReasonCode::protocol_error);
  std::string will = kMqtt + "0506003c" + props("") + "000161" + props("1800000005" "0101") + "0001740000";
  CHECK(decode_bytes(pkt(0x10, will), V5, c) == ReasonCode::success);
  CHECK(c.will.properties.will_delay_interval == 5);
  will = kMqtt + "0506003c" + props("") + "000161" + props("110000000a") + "0001740000";
  CHECK(decode_bytes(pkt(0x10, will), V5, c) == ReasonCode::protocol_error);
}

TEST_CASE("PUBLISH validation") {
  CHECK(publish(V4, 0x30, "0003612f62" "6869") == ReasonCode::success);
  CHECK(publish(V4, 0x36, "0003612f62" "0001") == ReasonCode::malformed_packet);  // QoS 3
  CHECK(publish(V4, 0x38, "0003612f62") == ReasonCode::malformed_packet);         // DUP on QoS 0
  CHECK(publish(V4, 0x32, "0003612f62" "0000") == ReasonCode::protocol_error);    // packet id 0
  CHECK(publish(V4, 0x32, "0003612f62" "00") == ReasonCode::malformed_packet);    // truncated id
  CHECK(publish(V4, 0x30, "0003612f2b") == ReasonCode::topic_name_invalid);       // '+'
  CHECK(publish(V4, 0x30, "000123") == ReasonCode::topic_name_invalid);           // '#'
  CHECK(publish(V4, 0x30, "0000") == ReasonCode::topic_name_invalid);             // empty (3.1.1)
  CHECK(publish(V3, 0x30, "0000") == ReasonCode::topic_name_invalid);
  CHECK(publish(V4, 0x30, "0002c328") == ReasonCode::malformed_packet);           // bad UTF-8
  CHECK(publish(V4, 0x30, "0002610000") == ReasonCode::malformed_packet);         // U+0000
  CHECK(publish(V4, 0x30, "0004f4908080") == ReasonCode::malformed_packet);       // above U+10FFFF
  CHECK(publish(V4, 0x30, "0009612f62") == ReasonCode::malformed_packet);         // truncated topic
  CHECK(publish(V4, 0x30, "00") == ReasonCode::malformed_packet);
  CHECK(publish(V4, 0x30, "") == ReasonCode::malformed_packet);
  // MQTT 5
  CHECK(publish(V5, 0x30, "0003612f62" + props("")) == ReasonCode::success);
  CHECK(publish(V5, 0x30, "0003612f62") == ReasonCode::malformed_packet);         // no property length
  CHECK(publish(V5, 0x30, "0000" + props("")) == ReasonCode::protocol_error);     // empty, no alias
  CHECK(publish(V5, 0x30, "0000" + props("230001")) == ReasonCode::success);      // alias alone
  CHECK(publish(V5, 0x30, "0003612f62" + props("230000")) == ReasonCode::topic_alias_invalid);
  CHECK(publish(V5, 0x30, "0003612f62" + props("0b01")) == ReasonCode::protocol_error);  // sub id from client
  CHECK(publish(V5, 0x30, "0003612f62" + props("0b01" "0b02"), Side::client) == ReasonCode::success);
  CHECK(publish(V5, 0x30, "0003612f62" + props("0b00"), Side::client) == ReasonCode::protocol_error);
  CHECK(publish(V5, 0x30, "0003612f62" + props("0bffffffff01"), Side::client) == ReasonCode::malformed_packet);
  CHECK(publish(V5, 0x30, "0003612f62" + props("020000000a" "020000000a")) == ReasonCode::protocol_error);
  CHECK(publish(V5, 0x30, "0003612f62" + props("110000000a")) == ReasonCode::protocol_error);  // not allowed
  CHECK(publish(V5, 0x30, "0003612f62" + props("0102")) == ReasonCode::protocol_error);  // format 2
  CHECK(publish(V5, 0x30, "0003612f62" + props("080003612f23")) == ReasonCode::protocol_error);  // response '#'
  CHECK(publish(V5, 0x30, "0003612f62" + props("09000501")) == ReasonCode::malformed_packet);  // correlation
  CHECK(publish(V5, 0x30, "0003612f62" + props("030002ff61")) == ReasonCode::malformed_packet);  // content type
  CHECK(publish(V5, 0x30, "0003612f62" "05" "0101") == ReasonCode::malformed_packet);  // length beyond
}

TEST_CASE("acknowledgement validation") {
  CHECK(dec<PubAck>(pkt(0x40, "0001"), V4) == ReasonCode::success);
  CHECK(dec<PubAck>(pkt(0x40, "000100"), V4) == ReasonCode::malformed_packet);   // 3.x: exactly 2
  CHECK(dec<PubAck>(pkt(0x40, "00"), V4) == ReasonCode::malformed_packet);
  CHECK(dec<PubAck>(pkt(0x40, "0000"), V4) == ReasonCode::protocol_error);       // packet id 0
  CHECK(dec<PubAck>(pkt(0x41, "0001"), V4) == ReasonCode::malformed_packet);     // flags
  CHECK(dec<PubRel>(pkt(0x60, "0001"), V4) == ReasonCode::malformed_packet);     // PUBREL needs 0010
  CHECK(dec<PubRel>(pkt(0x62, "0001"), V4) == ReasonCode::success);
  CHECK(dec<PubAck>(pkt(0x40, "000110"), V5) == ReasonCode::success);
  CHECK(dec<PubAck>(pkt(0x40, "000105"), V5) == ReasonCode::protocol_error);     // no such reason
  CHECK(dec<PubRel>(pkt(0x62, "000110"), V5) == ReasonCode::protocol_error);     // not a PUBREL reason
  CHECK(dec<PubComp>(pkt(0x70, "000192"), V5) == ReasonCode::success);
  CHECK(dec<PubRec>(pkt(0x50, "00018005"), V5) == ReasonCode::malformed_packet); // property length beyond
  CHECK(dec<PubRec>(pkt(0x50, "0001800000"), V5) == ReasonCode::malformed_packet);  // trailing
  CHECK(dec<PubRec>(pkt(0x50, "000180" + props("1f000161")), V5) == ReasonCode::success);
  CHECK(dec<PubRec>(pkt(0x50, "000180" + props("1f000161" "1f000161")), V5) == ReasonCode::protocol_error);
  CHECK(dec<PubAck>(pkt(0x40, "000100" + props("0101")), V5) == ReasonCode::protocol_error);  // not allowed
}

TEST_CASE("SUBSCRIBE validation") {
  auto sub = [](ProtocolVersion v, std::string_view body) { return dec<Subscribe>(pkt(0x82, body), v); };
  std::string p5 = props("");
  CHECK(sub(V4, "0001" "0003612f2b" "01") == ReasonCode::success);
  CHECK(dec<Subscribe>(pkt(0x80, "0001" "0003612f2b01"), V4) == ReasonCode::malformed_packet);  // flags
  CHECK(sub(V4, "0001") == ReasonCode::protocol_error);                     // no filters
  CHECK(sub(V5, "0001" + p5) == ReasonCode::protocol_error);
  CHECK(sub(V4, "0000" "00016100") == ReasonCode::protocol_error);          // packet id 0
  CHECK(sub(V4, "0001" "00016104") == ReasonCode::malformed_packet);        // reserved option bits (3.1.1)
  CHECK(sub(V4, "0001" "00016103") == ReasonCode::malformed_packet);        // QoS 3
  CHECK(sub(V4, "0001" "000161") == ReasonCode::malformed_packet);          // options missing
  CHECK(sub(V4, "0001" "000561") == ReasonCode::malformed_packet);         // truncated filter
  CHECK(sub(V5, "0001" + p5 + "00016140") == ReasonCode::malformed_packet); // reserved option bits (5.0)
  CHECK(sub(V5, "0001" + p5 + "00016130") == ReasonCode::protocol_error);   // retain handling 3
  CHECK(sub(V5, "0001" + p5 + "0001612e") == ReasonCode::success);          // nl, rap, rh 2, QoS 2
  CHECK(sub(V5, "0001" + p5 + "000e2473686172652f672f612f622f6304") == ReasonCode::protocol_error);  // shared + nl
  CHECK(sub(V5, "0001" + props("0b01") + "00016100") == ReasonCode::success);
  CHECK(sub(V5, "0001" + props("0b01" "0b02") + "00016100") == ReasonCode::protocol_error);  // two ids
  CHECK(sub(V5, "0001" + props("0b00") + "00016100") == ReasonCode::protocol_error);        // id 0
  CHECK(sub(V5, "0001" + props("1f000161") + "00016100") == ReasonCode::protocol_error);    // not allowed
  CHECK(sub(V4, "0001" "0002c32800") == ReasonCode::malformed_packet);       // filter UTF-8
  const char* bad[] = {"a/#/b", "a#", "a/b#", "a/b+", "+a", "a+/b", "##", "", "$share/g", "$share//a",
                       "$share/g+/a", "$share/#/a", "$share/g/"};
  for (const char* f : bad) {
    CAPTURE(f);
    std::string_view fv = f;
    uint8_t len[2] = {0, static_cast<uint8_t>(fv.size())};
    std::string body = "0001" + hex(len) + hex(bytes_of(fv)) + "00";
    CHECK(sub(V4, body) == ReasonCode::topic_filter_invalid);
  }
}

TEST_CASE("UNSUBSCRIBE validation") {
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001" "000161"), V4) == ReasonCode::success);
  CHECK(dec<Unsubscribe>(pkt(0xA0, "0001" "000161"), V4) == ReasonCode::malformed_packet);  // flags
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001"), V4) == ReasonCode::protocol_error);             // no filters
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0000" "000161"), V4) == ReasonCode::protocol_error);    // id 0
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001" "0003612b62"), V4) == ReasonCode::topic_filter_invalid);
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001" "00036162"), V4) == ReasonCode::malformed_packet);
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001" + props("0b01") + "000161"), V5) == ReasonCode::protocol_error);
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001" + props("26000161000162") + "000161"), V5) == ReasonCode::success);
}

TEST_CASE("DISCONNECT, AUTH, PING validation") {
  CHECK(disconnect(V4, "", Side::server) == ReasonCode::success);
  CHECK(disconnect(V4, "00", Side::server) == ReasonCode::malformed_packet);
  CHECK(disconnect(V5, "", Side::server) == ReasonCode::success);
  CHECK(disconnect(V5, "04", Side::server) == ReasonCode::success);
  CHECK(disconnect(V5, "04", Side::client) == ReasonCode::protocol_error);   // only clients send 0x04
  CHECK(disconnect(V5, "8e", Side::server) == ReasonCode::protocol_error);   // only servers send 0x8E
  CHECK(disconnect(V5, "8e", Side::client) == ReasonCode::success);
  CHECK(disconnect(V5, "05", Side::server) == ReasonCode::protocol_error);   // no such reason
  CHECK(disconnect(V5, "00" + props("110000000a"), Side::server) == ReasonCode::success);
  CHECK(disconnect(V5, "00" + props("110000000a"), Side::client) == ReasonCode::protocol_error);
  CHECK(disconnect(V5, "00" + props("1c000161"), Side::server) == ReasonCode::protocol_error);
  CHECK(disconnect(V5, "00" + props("1c000161"), Side::client) == ReasonCode::success);
  CHECK(disconnect(V5, "0003", Side::server) == ReasonCode::malformed_packet);

  CHECK(dec<Auth>(pkt(0xF0, "18" + props("150001" "41")), V5) == ReasonCode::success);
  CHECK(dec<Auth>(pkt(0xF0, "18" + props("150001" "41")), V4) == ReasonCode::malformed_packet);  // no AUTH in 3.x
  CHECK(dec<Auth>(pkt(0xF0, "18" + props("")), V5) == ReasonCode::protocol_error);  // method required
  CHECK(dec<Auth>(pkt(0xF0, "01" + props("150001" "41")), V5) == ReasonCode::protocol_error);
  CHECK(dec<Auth>(pkt(0xF0, "18" + props("150001" "41" "150001" "41")), V5) == ReasonCode::protocol_error);

  CHECK(dec<PingReq>(pkt(0xC0, ""), V4) == ReasonCode::success);
  CHECK(dec<PingReq>(pkt(0xC0, "00"), V4) == ReasonCode::malformed_packet);
  CHECK(dec<PingResp>(pkt(0xD0, "00"), V4) == ReasonCode::malformed_packet);
}

TEST_CASE("CONNACK, SUBACK, UNSUBACK validation (client side)") {
  CHECK(dec<ConnAck>(pkt(0x20, "0000"), V4) == ReasonCode::success);
  CHECK(dec<ConnAck>(pkt(0x20, "0200"), V4) == ReasonCode::malformed_packet);  // reserved flags
  CHECK(dec<ConnAck>(pkt(0x20, "0006"), V4) == ReasonCode::protocol_error);    // no such return code
  CHECK(dec<ConnAck>(pkt(0x20, "0101"), V4) == ReasonCode::protocol_error);    // present with error
  CHECK(dec<ConnAck>(pkt(0x20, "000000"), V4) == ReasonCode::malformed_packet);
  CHECK(dec<ConnAck>(pkt(0x20, "000400"), V5) == ReasonCode::protocol_error);  // not a CONNACK reason
  CHECK(dec<ConnAck>(pkt(0x20, "0000" + props("2401")), V5) == ReasonCode::success);
  CHECK(dec<ConnAck>(pkt(0x20, "0000" + props("2402")), V5) == ReasonCode::protocol_error);  // max QoS 2
  CHECK(dec<ConnAck>(pkt(0x20, "0000" + props("2502")), V5) == ReasonCode::protocol_error);
  CHECK(dec<ConnAck>(pkt(0x20, "0000" + props("1800000001")), V5) == ReasonCode::protocol_error);

  CHECK(dec<SubAck>(pkt(0x90, "000100"), V4) == ReasonCode::success);
  CHECK(dec<SubAck>(pkt(0x90, "000103"), V4) == ReasonCode::protocol_error);
  CHECK(dec<SubAck>(pkt(0x90, "0001"), V4) == ReasonCode::protocol_error);     // no codes
  CHECK(dec<SubAck>(pkt(0x90, "0001" + props("") + "a2"), V5) == ReasonCode::success);
  CHECK(dec<SubAck>(pkt(0x90, "0001" + props("") + "11"), V5) == ReasonCode::protocol_error);

  CHECK(dec<UnsubAck>(pkt(0xB0, "0001"), V4) == ReasonCode::success);
  CHECK(dec<UnsubAck>(pkt(0xB0, "000100"), V4) == ReasonCode::malformed_packet);
  CHECK(dec<UnsubAck>(pkt(0xB0, "0001" + props("")), V5) == ReasonCode::protocol_error);  // no reasons
  CHECK(dec<UnsubAck>(pkt(0xB0, "0001" + props("") + "11"), V5) == ReasonCode::success);
}

TEST_CASE("decoders refuse frames of another type or with an inconsistent length") {
  auto bytes = pkt(0xC0, "");
  Frame f;
  REQUIRE(parse_frame(bytes, f) == ReasonCode::success);
  Publish p;
  CHECK(decode_publish(f, V4, Side::server, p) == ReasonCode::malformed_packet);
  Connect c;
  CHECK(decode_connect(f, c) == ReasonCode::malformed_packet);
  f.header.type = PacketType::disconnect;
  f.header.remaining_length = 5;  // disagrees with the body
  Disconnect d;
  CHECK(decode_disconnect(f, V4, Side::server, d) == ReasonCode::malformed_packet);
}

TEST_CASE("parse_frame: size limit and exactness") {
  auto bytes = pkt(0x30, "0003612f62" "00000000000000");
  Frame f;
  CHECK(bytes.size() == 14);
  CHECK(parse_frame(bytes, f, 14) == ReasonCode::success);
  CHECK(parse_frame(bytes, f, 13) == ReasonCode::packet_too_large);
  bytes.push_back(0);
  CHECK(parse_frame(bytes, f) == ReasonCode::malformed_packet);  // a byte beyond the packet
  bytes.resize(5);
  CHECK(parse_frame(bytes, f) == ReasonCode::malformed_packet);  // short
}

TEST_CASE("reason code tables") {
  CHECK(std::string_view(reason_name(ReasonCode::quota_exceeded)) == "quota_exceeded");
  CHECK(std::string_view(reason_name(static_cast<ReasonCode>(0x03))) == "unknown");
  CHECK(valid_reason_for(PacketType::suback, ReasonCode::granted_qos_2));
  CHECK_FALSE(valid_reason_for(PacketType::puback, ReasonCode::granted_qos_1));
  CHECK(v3_connack_code(ReasonCode::not_authorized) == 5);
}

TEST_CASE("CONNACK reason codes are those of MQTT 5 table 2-6") {
  // 0x8F (topic filter invalid) exists for SUBACK, UNSUBACK and DISCONNECT, not CONNACK.
  CHECK(dec<ConnAck>(pkt(0x20, "008f" + props("")), V5) == ReasonCode::protocol_error);
  CHECK(dec<ConnAck>(pkt(0x20, "0090" + props("")), V5) == ReasonCode::success);   // will topic refused
  CHECK(dec<ConnAck>(pkt(0x20, "009f" + props("")), V5) == ReasonCode::success);
}

TEST_CASE("DISCONNECT reason codes by sender") {
  // Sent by a server (decoded by the client): 0x9F connection rate exceeded, and 0x8C
  // (table 2-6: CONNACK, DISCONNECT), e.g. after a failed re-authentication.
  for (const char* r : {"9f", "8c", "87", "89", "8b", "8d", "8e", "8f", "9a", "9b", "9c", "9d", "9e", "a0", "a1",
                        "a2"}) {
    CAPTURE(r);
    CHECK(disconnect(V5, r, Side::client) == ReasonCode::success);
    CHECK(disconnect(V5, r, Side::server) == ReasonCode::protocol_error);  // not a client's code
  }
  for (const char* r : {"00", "80", "81", "82", "83", "90", "93", "94", "95", "96", "97", "98", "99"}) {
    CAPTURE(r);
    CHECK(disconnect(V5, r, Side::client) == ReasonCode::success);
    CHECK(disconnect(V5, r, Side::server) == ReasonCode::success);
  }
  for (const char* r : {"84", "85", "86", "88", "8a", "91", "92", "a3", "10", "ff"}) {
    CAPTURE(r);
    CHECK(disconnect(V5, r, Side::client) == ReasonCode::protocol_error);
  }
}

TEST_CASE("SUBSCRIBE: Maximum QoS 3 is a protocol error in 5.0, malformed in 3.x") {
  auto sub = [](ProtocolVersion v, std::string_view body) { return dec<Subscribe>(pkt(0x82, body), v); };
  CHECK(sub(V5, "0001" + props("") + "00016103") == ReasonCode::protocol_error);  // 3.8.3.1
  CHECK(sub(V5, "0001" + props("") + "00016133") == ReasonCode::protocol_error);  // and retain handling 3
  CHECK(sub(V5, "0001" + props("") + "000161c3") == ReasonCode::malformed_packet);  // reserved bits first
  CHECK(sub(V4, "0001" "00016103") == ReasonCode::malformed_packet);               // MQTT-3-8.3-4
  CHECK(sub(V3, "0001" "00016103") == ReasonCode::malformed_packet);
}

TEST_CASE("MQTT 3.1 specifics") {
  const std::string kIsdp = "00064d514973647003";  // "MQIsdp", level 3
  Connect c;
  // 3.1: the client id is 1 to 23 characters; more is answered with return code 2.
  CHECK(decode_bytes(pkt(0x10, kIsdp + "02003c" "0017" + std::string(46, '6')), V3, c) == ReasonCode::success);
  CHECK(c.client_id.size() == 23);
  CHECK(decode_bytes(pkt(0x10, kIsdp + "02003c" "0018" + std::string(48, '6')), V3, c) ==
        ReasonCode::client_identifier_not_valid);
  CHECK(c.version == V3);
  // 3.1.1 and 5.0 have no such limit.
  CHECK(connect(kMqtt + "0402003c" "0018" + std::string(48, '6')) == ReasonCode::success);
  // The reserved connect flag is not checked by 3.1 (MQTT-3.1.2-3 is a 3.1.1 rule).
  CHECK(decode_bytes(pkt(0x10, kIsdp + "03003c" "0003633331"), V3, c) == ReasonCode::success);
  CHECK(c.clean_start);
  CHECK(connect(kMqtt + "0403003c000161") == ReasonCode::malformed_packet);
  // 3.1 allows no password without a user name either.
  CHECK(decode_bytes(pkt(0x10, kIsdp + "42003c" "0003633331" "000178"), V3, c) == ReasonCode::malformed_packet);
  // 3.1 CONNACK: the first byte is reserved and not used.
  ConnAck a;
  CHECK(decode_bytes(pkt(0x20, "0100"), V3, a) == ReasonCode::success);
  CHECK_FALSE(a.session_present);
  CHECK(dec<ConnAck>(pkt(0x20, "0200"), V4) == ReasonCode::malformed_packet);
}

TEST_CASE("MQTT 3.1 retransmits PUBREL, SUBSCRIBE, UNSUBSCRIBE with DUP set") {
  // 3.1 handles their retries like PUBLISH's: DUP may be 1 (fixed flags 1010). 3.1.1 and
  // 5.0 require exactly 0010.
  CHECK(dec<PubRel>(pkt(0x6A, "0001"), V3) == ReasonCode::success);
  CHECK(dec<Subscribe>(pkt(0x8A, "0001" "00016101"), V3) == ReasonCode::success);
  CHECK(dec<Unsubscribe>(pkt(0xAA, "0001" "000161"), V3) == ReasonCode::success);
  for (ProtocolVersion v : {V4, V5}) {
    const std::string p5 = v == V5 ? props("") : "";
    CHECK(dec<PubRel>(pkt(0x6A, "0001"), v) == ReasonCode::malformed_packet);
    CHECK(dec<Subscribe>(pkt(0x8A, "0001" + p5 + "00016101"), v) == ReasonCode::malformed_packet);
    CHECK(dec<Unsubscribe>(pkt(0xAA, "0001" + p5 + "000161"), v) == ReasonCode::malformed_packet);
  }
  // Only DUP: other flag combinations stay malformed, in 3.1 too.
  CHECK(dec<PubRel>(pkt(0x6B, "0001"), V3) == ReasonCode::malformed_packet);
  CHECK(dec<PubRel>(pkt(0x68, "0001"), V3) == ReasonCode::malformed_packet);
  CHECK(dec<PubAck>(pkt(0x48, "0001"), V3) == ReasonCode::malformed_packet);
}

TEST_CASE("empty bodies where the packet needs content") {
  CHECK(dec<Auth>(pkt(0xF0, ""), V5) == ReasonCode::protocol_error);                 // no method
  CHECK(dec<SubAck>(pkt(0x90, "0001" + props("")), V5) == ReasonCode::protocol_error);  // no codes
  CHECK(dec<Subscribe>(pkt(0x82, ""), V4) == ReasonCode::malformed_packet);          // no packet id
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001"), V5) == ReasonCode::malformed_packet);    // no property length
  CHECK(dec<PubAck>(pkt(0x40, ""), V5) == ReasonCode::malformed_packet);
  CHECK(dec<ConnAck>(pkt(0x20, "00"), V4) == ReasonCode::malformed_packet);
  CHECK(dec<ConnAck>(pkt(0x20, "0000"), V5) == ReasonCode::malformed_packet);        // no property length
  CHECK(connect("") == ReasonCode::malformed_packet);
}

TEST_CASE("UTF-8 rules apply to every string and topic") {
  CHECK(publish(V4, 0x30, "0005" "612feda080") == ReasonCode::malformed_packet);      // surrogate in topic
  CHECK(publish(V5, 0x30, "0005" "612feda080" + props("")) == ReasonCode::malformed_packet);
  auto sub = [](std::string_view body) { return dec<Subscribe>(pkt(0x82, body), V4); };
  CHECK(sub("0001" "0003610061" "00") == ReasonCode::malformed_packet);                // U+0000 in a filter
  CHECK(sub("0001" "0003eda080" "00") == ReasonCode::malformed_packet);                // surrogate in a filter
  CHECK(dec<Unsubscribe>(pkt(0xA2, "0001" "000161" "0001ff"), V4) == ReasonCode::malformed_packet);
  CHECK(connect(kMqtt + "0406003c000161" "0002ff61" "0000") == ReasonCode::malformed_packet);  // will topic
  CHECK(connect(kMqtt + "0406003c000161" "0000" "0000") == ReasonCode::topic_name_invalid);    // empty will topic
  CHECK(connect(kMqtt + "0406003c000161" "0001" "23" "0000") == ReasonCode::topic_name_invalid);
  CHECK(dec<PubAck>(pkt(0x40, "000100" + props("1f0001ff")), V5) == ReasonCode::malformed_packet);  // reason string
  CHECK(dec<ConnAck>(pkt(0x20, "0000" + props("12000300c080")), V5) == ReasonCode::malformed_packet);
}

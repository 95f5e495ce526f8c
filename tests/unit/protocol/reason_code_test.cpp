// The reason code tables checked exhaustively: every value 0..255 against every packet
// that carries a reason code, per MQTT 5.0 table 2-6; and the 3.x CONNACK return codes.
#include "test_util.h"

using namespace mqttd;

namespace {

constexpr uint32_t bit(PacketType t) { return 1u << static_cast<unsigned>(t); }
constexpr uint32_t CA = bit(PacketType::connack);
constexpr uint32_t PA = bit(PacketType::puback);
constexpr uint32_t PRC = bit(PacketType::pubrec);
constexpr uint32_t PRL = bit(PacketType::pubrel);
constexpr uint32_t PC = bit(PacketType::pubcomp);
constexpr uint32_t SA = bit(PacketType::suback);
constexpr uint32_t UA = bit(PacketType::unsuback);
constexpr uint32_t D = bit(PacketType::disconnect);
constexpr uint32_t AU = bit(PacketType::auth);

// Table 2-6, transcribed by hand: the packets each defined code may appear in.
struct Row {
  uint8_t code;
  uint32_t packets;
};
constexpr Row kTable[] = {
    {0x00, CA | PA | PRC | PRL | PC | SA | UA | D | AU},  // success / normal / granted QoS 0
    {0x01, SA}, {0x02, SA},
    {0x04, D},
    {0x10, PA | PRC},
    {0x11, UA},
    {0x18, AU}, {0x19, AU},
    {0x80, CA | PA | PRC | SA | UA | D},
    {0x81, CA | D}, {0x82, CA | D},
    {0x83, CA | PA | PRC | SA | UA | D},
    {0x84, CA}, {0x85, CA}, {0x86, CA},
    {0x87, CA | PA | PRC | SA | UA | D},
    {0x88, CA}, {0x89, CA | D}, {0x8A, CA}, {0x8B, D}, {0x8C, CA | D}, {0x8D, D}, {0x8E, D},
    {0x8F, SA | UA | D},
    {0x90, CA | PA | PRC | D},
    {0x91, PA | PRC | SA | UA},
    {0x92, PRL | PC},
    {0x93, D}, {0x94, D}, {0x95, CA | D}, {0x96, D},
    {0x97, CA | PA | PRC | SA | D},
    {0x98, D},
    {0x99, CA | PA | PRC | D},
    {0x9A, CA | D}, {0x9B, CA | D}, {0x9C, CA | D}, {0x9D, CA | D},
    {0x9E, SA | D}, {0x9F, CA | D},
    {0xA0, D}, {0xA1, SA | D}, {0xA2, SA | D},
};

uint32_t packets_of(unsigned code) {
  for (const Row& r : kTable) {
    if (r.code == code) return r.packets;
  }
  return 0;
}

}  // namespace

TEST_CASE("valid_reason_for matches table 2-6 for every value and packet") {
  const PacketType carriers[] = {PacketType::connack, PacketType::puback,     PacketType::pubrec,
                                 PacketType::pubrel,  PacketType::pubcomp,    PacketType::suback,
                                 PacketType::unsuback, PacketType::disconnect, PacketType::auth};
  for (unsigned code = 0; code < 256; ++code) {
    for (PacketType t : carriers) {
      CAPTURE(code);
      CAPTURE(packet_type_name(t));
      CHECK(valid_reason_for(t, static_cast<ReasonCode>(code)) == ((packets_of(code) & bit(t)) != 0));
    }
    // Packets without a reason code accept none.
    CHECK_FALSE(valid_reason_for(PacketType::publish, static_cast<ReasonCode>(code)));
  }
}

TEST_CASE("every defined reason code has a name") {
  for (const Row& r : kTable) {
    CAPTURE(int(r.code));
    CHECK(std::string_view(reason_name(static_cast<ReasonCode>(r.code))) != "unknown");
  }
  CHECK(std::string_view(reason_name(static_cast<ReasonCode>(0x05))) == "unknown");
  CHECK(std::string_view(reason_name(static_cast<ReasonCode>(0xA3))) == "unknown");
}

TEST_CASE("3.x CONNACK return codes") {
  struct Case {
    ReasonCode reason;
    int code;  // -1: none
  } cases[] = {
      {ReasonCode::success, 0},
      {ReasonCode::unsupported_protocol_version, 1},
      {ReasonCode::client_identifier_not_valid, 2},
      {ReasonCode::server_unavailable, 3},
      {ReasonCode::server_busy, 3},
      {ReasonCode::bad_user_name_or_password, 4},
      {ReasonCode::not_authorized, 5},
      {ReasonCode::banned, 5},
      {ReasonCode::bad_authentication_method, 5},
      {ReasonCode::malformed_packet, -1},
      {ReasonCode::protocol_error, -1},
      {ReasonCode::topic_name_invalid, -1},
      {ReasonCode::quota_exceeded, -1},
  };
  for (const Case& c : cases) {
    CAPTURE(reason_name(c.reason));
    CHECK(has_v3_connack_code(c.reason) == (c.code >= 0));
    if (c.code >= 0) CHECK(v3_connack_code(c.reason) == c.code);
  }
}

// The MQTT 5 property table checked exhaustively: which identifiers exist, their wire
// types, and on which packets each is allowed (MQTT 5.0 2.2.2.2), for every identifier
// 0..255 and every packet type.
#include "test_util.h"

using namespace mqttd;
using namespace mqttd::test;

namespace {

constexpr uint32_t bit(PacketType t) { return 1u << static_cast<unsigned>(t); }
constexpr uint32_t W = bit(kWillProperties);
constexpr uint32_t C = bit(PacketType::connect);
constexpr uint32_t CA = bit(PacketType::connack);
constexpr uint32_t P = bit(PacketType::publish);
constexpr uint32_t ACK = bit(PacketType::puback) | bit(PacketType::pubrec) | bit(PacketType::pubrel) |
                         bit(PacketType::pubcomp);
constexpr uint32_t S = bit(PacketType::subscribe);
constexpr uint32_t SA = bit(PacketType::suback);
constexpr uint32_t U = bit(PacketType::unsubscribe);
constexpr uint32_t UA = bit(PacketType::unsuback);
constexpr uint32_t D = bit(PacketType::disconnect);
constexpr uint32_t AU = bit(PacketType::auth);

// A sample value of the property's type, as hex, and the packets that allow it.
struct Row {
  uint8_t id;
  const char* value;  // the shortest valid value of its type
  uint32_t packets;
};
constexpr Row kTable[] = {
    {0x01, "01", P | W},                    // byte
    {0x02, "0000003c", P | W},              // four-byte integer
    {0x03, "000161", P | W},                // UTF-8 string
    {0x08, "000161", P | W},                // UTF-8 string
    {0x09, "000100", P | W},                // binary data
    {0x0B, "07", P | S},                    // variable byte integer
    {0x11, "0000000a", C | CA | D},
    {0x12, "000161", CA},
    {0x13, "000a", CA},                     // two-byte integer
    {0x15, "000161", C | CA | AU},
    {0x16, "000100", C | CA | AU},
    {0x17, "01", C},
    {0x18, "00000005", W},
    {0x19, "01", C},
    {0x1A, "000161", CA},
    {0x1C, "000161", CA | D},
    {0x1F, "000161", CA | ACK | SA | UA | D | AU},
    {0x21, "000a", C | CA},
    {0x22, "000a", C | CA},
    {0x23, "0001", P},
    {0x24, "01", CA},
    {0x25, "01", CA},
    {0x26, "000161000162", C | CA | P | W | ACK | S | SA | U | UA | D | AU},  // string pair
    {0x27, "00000400", C | CA},
    {0x28, "01", CA},
    {0x29, "01", CA},
    {0x2A, "01", CA},
};

const Row* row_of(unsigned id) {
  for (const Row& r : kTable) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::vector<uint8_t> block(std::string_view body_hex) {
  auto body = unhex(body_hex);
  std::vector<uint8_t> out(varint_size(static_cast<uint32_t>(body.size())));
  encode_varint(static_cast<uint32_t>(body.size()), out.data());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

const PacketType kAllSlots[] = {kWillProperties,       PacketType::connect,   PacketType::connack,
                                PacketType::publish,   PacketType::puback,    PacketType::pubrec,
                                PacketType::pubrel,    PacketType::pubcomp,   PacketType::subscribe,
                                PacketType::suback,    PacketType::unsubscribe, PacketType::unsuback,
                                PacketType::pingreq,   PacketType::pingresp,  PacketType::disconnect,
                                PacketType::auth};

}  // namespace

TEST_CASE("property_allowed matches the specification for every identifier and packet") {
  for (unsigned id = 0; id < 256; ++id) {
    const Row* r = row_of(id);
    for (PacketType t : kAllSlots) {
      CAPTURE(id);
      CAPTURE(packet_type_name(t));
      CHECK(property_allowed(static_cast<PropertyId>(id), t) == (r && (r->packets & bit(t))));
    }
  }
}

TEST_CASE("each property decodes with its type's size, and truncated is malformed") {
  for (const Row& r : kTable) {
    const auto id = static_cast<PropertyId>(r.id);
    CAPTURE(property_name(id));
    for (PacketType t : kAllSlots) {
      std::string one = hex(std::span<const uint8_t>(&r.id, 1)) + r.value;
      auto b = block(one);
      Properties out;
      size_t used = 0;
      ReasonCode rc = decode_properties(b.data(), b.size(), t, out, used);
      if (!(r.packets & bit(t))) {
        CHECK(rc == ReasonCode::protocol_error);  // not allowed there
        continue;
      }
      REQUIRE(rc == ReasonCode::success);
      CHECK(used == b.size());
      CHECK(out.has(id));
      // Encoding it again gives the same bytes.
      std::vector<uint8_t> again(properties_size(out));
      CHECK(encode_properties(out, again.data()) == again.size());
      CHECK(hex(again) == hex(b));
      // The value cut short by one byte, the block length still consistent.
      auto cut = block(one.substr(0, one.size() - 2));
      CHECK(decode_properties(cut.data(), cut.size(), t, out, used) == ReasonCode::malformed_packet);
    }
  }
}

TEST_CASE("unknown identifiers are malformed wherever they appear") {
  for (unsigned id = 0; id < 256; ++id) {
    if (row_of(id)) continue;
    CAPTURE(id);
    uint8_t raw = static_cast<uint8_t>(id);
    auto b = block(hex(std::span<const uint8_t>(&raw, 1)) + "00000000");
    Properties out;
    size_t used = 0;
    CHECK(decode_properties(b.data(), b.size(), PacketType::publish, out, used) == ReasonCode::malformed_packet);
  }
}

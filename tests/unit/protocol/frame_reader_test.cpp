// FrameReader: zero-copy whole packets, reassembly under any fragmentation, coalesced
// packets, need-more counts, size limit, fixed-header checks, buffer release.
#include "test_util.h"

using namespace mqttd;
using mqttd::test::unhex;

TEST_CASE("FrameReader stays small") { CHECK(sizeof(FrameReader) <= 24); }

TEST_CASE("a whole packet is returned as a view into the input") {
  auto bytes = unhex("320c0003612f62000168656c6c6f");
  FrameReader r(1024);
  std::span<const uint8_t> in = bytes;
  Frame f;
  ParseResult res = r.next(in, f);
  REQUIRE(res.status == ParseStatus::ok);
  CHECK(f.header.type == PacketType::publish);
  CHECK(f.header.flags == 2);
  CHECK(f.header.remaining_length == 12);
  CHECK(f.body.data() == bytes.data() + 2);  // no copy
  CHECK(f.wire_size() == bytes.size());
  // The decoded topic and payload are views into the same bytes.
  Publish p;
  REQUIRE(decode_publish(f, ProtocolVersion::v4, Side::server, p) == ReasonCode::success);
  CHECK(static_cast<const void*>(p.topic.data()) == bytes.data() + 4);
  CHECK(p.payload.data() == bytes.data() + 9);
  CHECK(in.empty());
  CHECK(r.capacity() == 0);
  res = r.next(in, f);
  CHECK(res.status == ParseStatus::need_more);
  CHECK(res.needed == 1);
}

TEST_CASE("coalesced packets come out one by one") {
  auto bytes = unhex("c000" "320c0003612f62000168656c6c6f" "62020001" "e000");
  FrameReader r(1024);
  std::span<const uint8_t> in = bytes;
  Frame f;
  PacketType want[] = {PacketType::pingreq, PacketType::publish, PacketType::pubrel, PacketType::disconnect};
  for (PacketType t : want) {
    REQUIRE(r.next(in, f).status == ParseStatus::ok);
    CHECK(f.header.type == t);
  }
  CHECK(r.next(in, f).status == ParseStatus::need_more);
  CHECK(r.capacity() == 0);
}

TEST_CASE("one byte at a time reassembles and reports what is missing") {
  auto bytes = unhex("320c0003612f62000168656c6c6f" "c000");
  FrameReader r(1024);
  Frame f;
  int frames = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::span<const uint8_t> in(&bytes[i], 1);
    ParseResult res = r.next(in, f);
    CHECK(in.empty());
    if (i == 0) CHECK(res.needed == 1);                 // length not known yet
    if (i == 1) CHECK(res.needed == 12);                // body outstanding
    if (i == 5) CHECK(res.needed == 8);
    if (res.status == ParseStatus::ok) {
      ++frames;
      if (frames == 1) {
        CHECK(f.header.type == PacketType::publish);
        CHECK(mqttd::test::hex(f.body) == "0003612f62000168656c6c6f");
      } else {
        CHECK(f.header.type == PacketType::pingreq);
      }
    }
  }
  CHECK(frames == 2);
  std::span<const uint8_t> none;
  CHECK(r.next(none, f).status == ParseStatus::need_more);
  CHECK(r.capacity() == 0);  // freed once the reassembled packet was handed out
  CHECK(r.buffered() == 0);
}

TEST_CASE("a split packet followed by whole ones in the same buffer") {
  auto a = unhex("320c0003612f62");
  auto b = unhex("000168656c6c6f" "c000" "c000");
  FrameReader r(1024);
  Frame f;
  std::span<const uint8_t> in = a;
  ParseResult res = r.next(in, f);
  CHECK(res.status == ParseStatus::need_more);
  CHECK(res.needed == 7);
  in = b;
  REQUIRE(r.next(in, f).status == ParseStatus::ok);
  CHECK(f.header.type == PacketType::publish);
  REQUIRE(r.next(in, f).status == ParseStatus::ok);
  CHECK(f.header.type == PacketType::pingreq);
  CHECK(f.body.data() == b.data() + 9);  // back on the zero-copy path
  REQUIRE(r.next(in, f).status == ParseStatus::ok);
  CHECK(r.next(in, f).status == ParseStatus::need_more);
}

TEST_CASE("the reassembly buffer grows with the bytes, not with the announced length") {
  // PUBLISH announcing 2,000,000 bytes, of which 10 arrive.
  std::vector<uint8_t> bytes = {0x30, 0x80, 0x89, 0x7A, 0x00, 0x01, 'a', 1, 2, 3, 4, 5, 6, 7};
  FrameReader r(4 << 20);
  Frame f;
  std::span<const uint8_t> in = bytes;
  ParseResult res = r.next(in, f);
  CHECK(res.status == ParseStatus::need_more);
  CHECK(res.needed == 2'000'000 - 10);
  CHECK(r.capacity() <= 64);
  r.reset();
  CHECK(r.capacity() == 0);
}

TEST_CASE("remaining length limits") {
  FrameReader r(0);  // no limit beyond the protocol's
  Frame f;
  SUBCASE("maximum value 268,435,455 is accepted as a header") {
    std::vector<uint8_t> b = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    std::span<const uint8_t> in = b;
    ParseResult res = r.next(in, f);
    CHECK(res.status == ParseStatus::need_more);
    CHECK(res.needed == kMaxVarint);
  }
  SUBCASE("a fifth length byte is malformed") {
    std::vector<uint8_t> b = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    std::span<const uint8_t> in = b;
    ParseResult res = r.next(in, f);
    CHECK(res.status == ParseStatus::error);
    CHECK(res.reason == ReasonCode::malformed_packet);
  }
  SUBCASE("a non-minimal length is malformed") {
    std::vector<uint8_t> b = {0xC0, 0x80, 0x00};
    std::span<const uint8_t> in = b;
    ParseResult res = r.next(in, f);
    CHECK(res.status == ParseStatus::error);
    CHECK(res.reason == ReasonCode::malformed_packet);
  }
}

TEST_CASE("packets over the maximum size are refused as soon as the header is known") {
  FrameReader r(16);
  Frame f;
  auto ok = unhex("300e0003612f62" "000000000000000000");  // 16 bytes on the wire
  std::span<const uint8_t> in = ok;
  CHECK(r.next(in, f).status == ParseStatus::ok);
  std::vector<uint8_t> big = {0x30, 0x0F};
  in = big;
  ParseResult res = r.next(in, f);
  CHECK(res.status == ParseStatus::error);
  CHECK(res.reason == ReasonCode::packet_too_large);
  // Split header: detected on the byte that completes the length.
  FrameReader r2(16);
  std::vector<uint8_t> big2 = {0x30, 0x80, 0x01};
  for (size_t i = 0; i < big2.size(); ++i) {
    std::span<const uint8_t> one(&big2[i], 1);
    res = r2.next(one, f);
  }
  CHECK(res.status == ParseStatus::error);
  CHECK(res.reason == ReasonCode::packet_too_large);
}

TEST_CASE("fixed header flag rules") {
  struct Case {
    uint8_t first;
    bool ok;
  } cases[] = {
      {0x00, false}, {0x0F, false},                 // type 0
      {0x10, true},  {0x11, false},                 // CONNECT flags 0
      {0x30, true},  {0x3B, true}, {0x36, false},   // PUBLISH QoS 3
      {0x62, true},  {0x60, false}, {0x63, false},  // PUBREL 0010
      {0x6A, true},  {0x6B, false}, {0x68, false},  // 1010: MQTT 3.1's DUP (the decoders check the level)
      {0x82, true},  {0x80, false}, {0xA2, true},  {0xA3, false},
      {0x8A, true},  {0xAA, true},  {0x8E, false}, {0xA8, false},
      {0xC0, true},  {0xC1, false}, {0xE0, true},  {0xE8, false}, {0xF0, true}, {0xF1, false},
      {0x40, true},  {0x42, false}, {0x90, true},  {0x92, false},
  };
  for (const Case& c : cases) {
    INFO("first byte ", int(c.first));
    CHECK((check_fixed_header(c.first) == ReasonCode::success) == c.ok);
    FrameReader r(100);
    std::vector<uint8_t> b = {c.first, 0x00};
    std::span<const uint8_t> in = b;
    Frame f;
    ParseResult res = r.next(in, f);
    CHECK((res.status == ParseStatus::ok) == c.ok);
    if (!c.ok) CHECK(res.reason == ReasonCode::malformed_packet);
  }
}

TEST_CASE("move keeps the partial packet") {
  auto bytes = unhex("320c0003612f62000168656c6c6f");
  FrameReader a(100);
  Frame f;
  std::span<const uint8_t> in(bytes.data(), 5);
  CHECK(a.next(in, f).status == ParseStatus::need_more);
  FrameReader b(std::move(a));
  CHECK(a.buffered() == 0);
  in = std::span<const uint8_t>(bytes).subspan(5);
  REQUIRE(b.next(in, f).status == ParseStatus::ok);
  CHECK(f.body.size() == 12);
}

TEST_CASE("need-more counts what a partial length already implies") {
  // The next length byte is at least 1 (a length ends on a non-zero byte), so a partial
  // length of k continuation bytes means at least 128^k more.
  struct Case {
    std::vector<uint8_t> bytes;
    uint32_t needed;
  } cases[] = {
      {{0x30}, 1},                                   // only the type: one length byte
      {{0x30, 0x80}, 129},                           // 3 + 128 on the wire, 2 here
      {{0x30, 0xFF}, 256},                           // 3 + 127 + 128
      {{0x30, 0x80, 0x80}, 16385},                   // 4 + 16384, 3 here
      {{0x30, 0xFF, 0xFF, 0xFF}, 4194304},           // 5 + 2097151 + 2097152, 4 here
  };
  for (const Case& c : cases) {
    CAPTURE(mqttd::test::hex(c.bytes));
    FrameReader whole(0);
    Frame f;
    std::span<const uint8_t> in = c.bytes;
    ParseResult res = whole.next(in, f);
    CHECK(res.status == ParseStatus::need_more);
    CHECK(res.needed == c.needed);
    CHECK(in.empty());
    // The same, one byte at a time.
    FrameReader bytewise(0);
    for (uint8_t b : c.bytes) {
      std::span<const uint8_t> one(&b, 1);
      res = bytewise.next(one, f);
    }
    CHECK(res.status == ParseStatus::need_more);
    CHECK(res.needed == c.needed);
  }
}

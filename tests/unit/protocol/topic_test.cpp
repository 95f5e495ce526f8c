// UTF-8 and topic rules.
#include "test_util.h"

using namespace mqttd;

TEST_CASE("valid_utf8") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ascii that is longer than eight bytes"));
  CHECK(valid_utf8("\xC3\xA9t\xC3\xA9"));
  CHECK(valid_utf8("\xE2\x82\xAC"));
  CHECK(valid_utf8("\xF0\x9F\x98\x80"));
  CHECK(valid_utf8("\xEF\xBF\xBF"));  // U+FFFF is allowed (a receiver may refuse; we don't)
  CHECK_FALSE(valid_utf8(std::string_view("ab\0cdefghijk", 12)));
  CHECK_FALSE(valid_utf8(std::string_view("\0", 1)));
  CHECK_FALSE(valid_utf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(valid_utf8("\xED\xBF\xBF"));      // U+DFFF
  CHECK_FALSE(valid_utf8("\xC0\x80"));          // overlong NUL
  CHECK_FALSE(valid_utf8("\xE0\x80\xAF"));      // overlong
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(valid_utf8("\x80"));
  CHECK_FALSE(valid_utf8("abcdefgh\xC3"));      // truncated at the end
  CHECK_FALSE(valid_utf8("\xC3("));
}

TEST_CASE("topic names and filters") {
  CHECK(valid_topic_name("a"));
  CHECK(valid_topic_name("/"));
  CHECK(valid_topic_name("a//b"));
  CHECK(valid_topic_name("$SYS/x"));
  CHECK_FALSE(valid_topic_name(""));
  CHECK_FALSE(valid_topic_name("a/+"));
  CHECK_FALSE(valid_topic_name("#"));
  for (const char* f : {"#", "+", "a/#", "+/+", "/+", "+/", "a/+/b", "//", "$share/g/#", "$share/g/a/b",
                        "$SYS/#", "a//#"}) {
    CAPTURE(f);
    CHECK(valid_topic_filter(f));
  }
  for (const char* f : {"", "a#", "#/a", "a/#/", "a+", "+a/b", "a/b+/c", "$share/", "$share/g",
                        "$share/g/", "$share//a", "$share/+/a", "$share/g#/a", "$share/g/a#"}) {
    CAPTURE(f);
    CHECK_FALSE(valid_topic_filter(f));
  }
}

TEST_CASE("check_topic_name is valid_utf8 then valid_topic_name, in one pass") {
  auto reference = [](std::string_view s) {
    if (!valid_utf8(s)) return ReasonCode::malformed_packet;
    return valid_topic_name(s) ? ReasonCode::success : ReasonCode::topic_name_invalid;
  };
  CHECK(check_topic_name("") == ReasonCode::topic_name_invalid);
  CHECK(check_topic_name("sensors/building-1/floor-2/temperature") == ReasonCode::success);
  CHECK(check_topic_name("sensors/building-1/floor-2/temperatur#") == ReasonCode::topic_name_invalid);
  CHECK(check_topic_name("+ensors/building-1/floor-2/temperature") == ReasonCode::topic_name_invalid);
  CHECK(check_topic_name("a/+\xC3") == ReasonCode::malformed_packet);  // bad UTF-8 wins over '+'
  CHECK(check_topic_name(std::string_view("abcdefgh/\0", 10)) == ReasonCode::malformed_packet);
  // Every string of up to 20 bytes drawn from an alphabet of the interesting cases, at
  // every alignment, against the two-pass reference.
  // '\xAB', '\xA3': '+' and '#' with the high bit; '\x03', '\x0B': their low bits alone.
  const char alphabet[] = {'a',    '/',    '+',    '#',    '\0',   '\x80', '\xC3', '\xA9',
                           '\xED', '\xA0', '\xF0', '\x9F', '\xAB', '\xA3', '\x03', '\x0B'};
  uint64_t state = 12345;
  for (int round = 0; round < 200000; ++round) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t len = (state >> 33) % 21;
    std::string s;
    uint64_t bits = state;
    for (size_t i = 0; i < len; ++i) {
      if (i % 8 == 0) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        bits = state >> 16;
      }
      // Mostly 'a' so that whole eight-byte words of plain ASCII occur.
      const unsigned pick = bits & 0x3F;
      bits >>= 6;
      s += pick < sizeof alphabet ? alphabet[pick] : 'a';
    }
    CAPTURE(mqttd::test::hex(mqttd::test::bytes_of(s)));
    REQUIRE(check_topic_name(s) == reference(s));
  }
}

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

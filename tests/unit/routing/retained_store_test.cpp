#include "routing/retained_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace mqttd;

namespace {

MessageRef msg(std::string_view topic, std::string_view payload = "x", uint64_t expiry = 0) {
  return MessageRef::adopt(Message::create(
      topic, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}, {}, 1, true, expiry));
}

std::vector<std::string> topics(const RetainedStore& rs, std::string_view filter, uint64_t now = 1) {
  std::vector<MessageRef> out;
  rs.match(filter, out, now);
  std::vector<std::string> t;
  for (const MessageRef& m : out) t.emplace_back(m->topic());
  std::sort(t.begin(), t.end());
  return t;
}

using T = std::vector<std::string>;

}  // namespace

TEST_CASE("retained messages are found by exact and wildcard filters") {
  Qsbr q(2);
  RetainedStore rs(q);
  for (const char* t : {"sport", "sport/tennis", "sport/tennis/p1", "sport/golf/p1", "a//b", "/a",
                        "$SYS/uptime", "$SYS/load/1min", "news"}) {
    rs.set(t, msg(t));
  }
  CHECK(rs.counters().messages == 9);
  CHECK(topics(rs, "sport/tennis") == T{"sport/tennis"});
  CHECK(topics(rs, "sport/#") == T{"sport", "sport/golf/p1", "sport/tennis", "sport/tennis/p1"});
  CHECK(topics(rs, "sport/+") == T{"sport/tennis"});
  CHECK(topics(rs, "sport/+/p1") == T{"sport/golf/p1", "sport/tennis/p1"});
  CHECK(topics(rs, "+") == T{"news", "sport"});
  CHECK(topics(rs, "#") == T{"/a", "a//b", "news", "sport", "sport/golf/p1", "sport/tennis",
                             "sport/tennis/p1"});
  CHECK(topics(rs, "+/a") == T{"/a"});
  CHECK(topics(rs, "a/+/b") == T{"a//b"});
  CHECK(topics(rs, "$SYS/#") == T{"$SYS/load/1min", "$SYS/uptime"});
  CHECK(topics(rs, "$SYS/+") == T{"$SYS/uptime"});
  CHECK(topics(rs, "+/uptime").empty());
  CHECK(topics(rs, "nothing/#").empty());
  CHECK(topics(rs, "$share/g/news") == T{"news"});
}

TEST_CASE("set replaces, clear removes and prunes, expiry is honoured") {
  Qsbr q(2);
  RetainedStore rs(q);
  rs.set("a/b/c", msg("a/b/c", "one"));
  rs.set("a/b/c", msg("a/b/c", "two"));
  CHECK(rs.counters().messages == 1);
  std::vector<MessageRef> out;
  rs.match("a/b/c", out, 1);
  REQUIRE(out.size() == 1);
  CHECK(out[0]->payload().size() == 3);
  CHECK(out[0]->payload()[1] == 'w');
  rs.set("a", msg("a"));
  rs.clear("a/b/c");
  rs.clear("a/b/c");
  rs.clear("never/set");
  CHECK(rs.counters().messages == 1);
  CHECK(rs.counters().nodes == 1);  // "a" only: b and c were pruned
  CHECK(topics(rs, "#") == T{"a"});
  rs.set("e", msg("e", "x", 1000));
  CHECK(topics(rs, "e", 999) == T{"e"});
  CHECK(topics(rs, "e", 1000).empty());
  CHECK(topics(rs, "+", 5000) == T{"a"});
  rs.clear("a");
  rs.clear("e");
  CHECK(rs.counters().nodes == 0);
  CHECK(rs.counters().messages == 0);
  q.reclaim();
  CHECK(q.pending() == 0);
  CHECK(out[0]->ref_count_for_test() == 1);  // our copy is the last one
}

TEST_CASE("the store drops its references when destroyed") {
  MessageRef keep = msg("k");
  {
    Qsbr q(1);
    RetainedStore rs(q);
    rs.set("k", keep);
    rs.set("k2", keep);
    CHECK(keep->ref_count_for_test() == 3);
    rs.set("k", msg("k"));  // the replaced reference is retired, freed by ~Qsbr at worst
  }
  CHECK(keep->ref_count_for_test() == 1);
}

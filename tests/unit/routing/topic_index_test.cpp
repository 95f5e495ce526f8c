#include "routing/topic_index.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "routing_test_util.h"

using namespace mqttd;
using mqttd::test::Hit;
using mqttd::test::match;

namespace {

SubscriptionOptions qos(uint8_t q) {
  SubscriptionOptions o;
  o.qos = q;
  return o;
}

// Handles (on worker 0) that `topic` reaches, sorted.
std::vector<uint64_t> handles(const TopicIndex& ix, std::string_view topic) {
  std::vector<uint64_t> out;
  for (const Hit& h : match(ix, topic)) out.push_back(h.handle);
  return out;
}

using H = std::vector<uint64_t>;

struct Fixture {
  Qsbr qsbr{4};
  TopicIndex ix{qsbr};
  uint64_t next = 1;
  // Subscribes a fresh handle to `filter`; returns it.
  uint64_t sub(std::string_view filter, uint16_t worker = 0) {
    uint64_t h = next++;
    CHECK_FALSE(ix.subscribe(filter, worker, h, SubscriptionOptions{}, 0));
    return h;
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture, "exact filters match only their topic") {
  uint64_t a = sub("sport/tennis/player1");
  CHECK(handles(ix, "sport/tennis/player1") == H{a});
  CHECK(handles(ix, "sport/tennis").empty());
  CHECK(handles(ix, "sport/tennis/player1/ranking").empty());
  CHECK(handles(ix, "Sport/tennis/player1").empty());  // case-sensitive
  CHECK(handles(ix, "sport/tennis/player2").empty());
}

TEST_CASE_FIXTURE(Fixture, "# matches the parent level and everything below") {
  uint64_t a = sub("sport/tennis/player1/#");
  uint64_t all = sub("#");
  CHECK(handles(ix, "sport/tennis/player1") == H{a, all});
  CHECK(handles(ix, "sport/tennis/player1/ranking") == H{a, all});
  CHECK(handles(ix, "sport/tennis/player1/score/wimbledon") == H{a, all});
  CHECK(handles(ix, "sport/tennis") == H{all});
  uint64_t s = sub("sport/#");
  CHECK(handles(ix, "sport") == H{all, s});
  CHECK(handles(ix, "sport/") == H{all, s});
  CHECK(handles(ix, "/") == H{all});
}

TEST_CASE_FIXTURE(Fixture, "+ matches exactly one level, empty ones included") {
  uint64_t a = sub("sport/tennis/+");
  CHECK(handles(ix, "sport/tennis/player1") == H{a});
  CHECK(handles(ix, "sport/tennis/player2") == H{a});
  CHECK(handles(ix, "sport/tennis/player1/ranking").empty());
  CHECK(handles(ix, "sport/tennis/") == H{a});
  CHECK(handles(ix, "sport/tennis").empty());
  uint64_t b = sub("sport/+");
  CHECK(handles(ix, "sport") .empty());
  CHECK(handles(ix, "sport/") == H{b});
  uint64_t c = sub("+/+");
  uint64_t d = sub("/+");
  uint64_t e = sub("+");
  CHECK(handles(ix, "/finance") == H{c, d});
  CHECK(handles(ix, "finance") == H{e});
  CHECK(handles(ix, "/") == H{c, d});
  uint64_t f = sub("+/tennis/#");
  CHECK(handles(ix, "sport/tennis") == H{b, c, f});
  uint64_t g = sub("sport/+/player1");
  CHECK(handles(ix, "sport/tennis/player1") == H{a, f, g});
}

TEST_CASE_FIXTURE(Fixture, "topics starting with $ are not matched by leading wildcards") {
  uint64_t all = sub("#");
  uint64_t plus = sub("+/monitor/Clients");
  uint64_t sys = sub("$SYS/#");
  uint64_t sysmon = sub("$SYS/monitor/+");
  uint64_t plus2 = sub("+");
  CHECK(handles(ix, "$SYS/monitor/Clients") == H{sys, sysmon});
  CHECK(handles(ix, "$SYS") == H{sys});
  CHECK(handles(ix, "$foo").empty());
  CHECK(handles(ix, "x/monitor/Clients") == H{all, plus});
  CHECK(handles(ix, "x") == H{all, plus2});
  // Only the first character counts: `a/$b` is an ordinary topic.
  uint64_t ab = sub("a/+");
  CHECK(handles(ix, "a/$b") == H{all, ab});
}

TEST_CASE_FIXTURE(Fixture, "empty levels and UTF-8 levels are ordinary levels") {
  uint64_t a = sub("a//b");
  uint64_t b = sub("/a");
  uint64_t c = sub("a/+/b");
  uint64_t u = sub("k\xC3\xBC\x68l/\xE6\xB8\xA9\xE5\xBA\xA6/+");
  uint64_t e = sub("a/");
  CHECK(handles(ix, "a//b") == H{a, c});
  CHECK(handles(ix, "a/b").empty());
  CHECK(handles(ix, "/a") == H{b});
  CHECK(handles(ix, "a") .empty());
  CHECK(handles(ix, "a/") == H{e});
  CHECK(handles(ix, "k\xC3\xBC\x68l/\xE6\xB8\xA9\xE5\xBA\xA6/x") == H{u});
  CHECK(handles(ix, "kuhl/\xE6\xB8\xA9\xE5\xBA\xA6/x").empty());
}

TEST_CASE_FIXTURE(Fixture, "subscribe reports replacement, unsubscribe reports existence") {
  CHECK_FALSE(ix.subscribe("a/b", 0, 7, qos(0), 0));
  CHECK(ix.subscribe("a/b", 0, 7, qos(2), 5));
  CHECK(ix.counters().subscriptions == 1);
  auto h = match(ix, "a/b");
  REQUIRE(h.size() == 1);
  CHECK(h[0].qos == 2);
  CHECK(h[0].ids == std::vector<uint32_t>{5});
  CHECK_FALSE(ix.unsubscribe("a/c", 0, 7));
  CHECK_FALSE(ix.unsubscribe("a/b", 1, 7));  // same handle, other worker
  CHECK_FALSE(ix.unsubscribe("a/b/#", 0, 7));
  CHECK(ix.unsubscribe("a/b", 0, 7));
  CHECK_FALSE(ix.unsubscribe("a/b", 0, 7));
  CHECK(match(ix, "a/b").empty());
  CHECK(ix.counters().subscriptions == 0);
  CHECK(ix.counters().nodes == 0);  // pruned back to the root
}

TEST_CASE_FIXTURE(Fixture, "results are grouped by worker") {
  ix.subscribe("t", 3, 30, qos(1), 0);
  ix.subscribe("t", 1, 10, qos(1), 0);
  ix.subscribe("t/#", 1, 11, qos(1), 0);
  ix.subscribe("+", 3, 31, qos(1), 0);
  ix.subscribe("#", 0, 1, qos(1), 0);
  MatchResult r;
  ix.match("t", r);
  r.finalize(std::nullopt);
  REQUIRE(r.workers().size() == 3);
  CHECK(r.workers()[0] == 0);
  CHECK(r.workers()[1] == 1);
  CHECK(r.workers()[2] == 3);
  CHECK(r.entries(1).size() == 2);
  CHECK(r.entries(3).size() == 2);
  CHECK(r.entries(2).empty());
  for (uint16_t w : r.workers()) {
    for (const auto& e : r.entries(w)) CHECK(e.worker == w);
  }
  CHECK(r.size() == 5);
}

TEST_CASE_FIXTURE(Fixture, "overlapping subscriptions of one client merge: max QoS, all identifiers") {
  SubscriptionOptions o1 = qos(0);
  SubscriptionOptions o2 = qos(2);
  o2.retain_as_published = true;
  ix.subscribe("a/+", 0, 1, o1, 11);
  ix.subscribe("a/b", 0, 1, o2, 12);
  ix.subscribe("#", 0, 1, qos(1), 0);  // no identifier
  ix.subscribe("a/b", 0, 2, qos(1), 0);
  auto h = match(ix, "a/b");
  REQUIRE(h.size() == 2);
  CHECK(h[0].handle == 1);
  CHECK(h[0].qos == 2);
  CHECK(h[0].rap);
  CHECK(h[0].ids == std::vector<uint32_t>{11, 12});
  CHECK(h[1].handle == 2);
  CHECK(h[1].ids.empty());
}

TEST_CASE_FIXTURE(Fixture, "no-local drops the publisher's own subscriptions only") {
  SubscriptionOptions nl = qos(1);
  nl.no_local = true;
  ix.subscribe("a", 0, 1, nl, 0);
  ix.subscribe("a", 1, 1, nl, 0);  // same handle on another worker: another session
  ix.subscribe("a", 0, 2, qos(1), 0);
  CHECK(match(ix, "a", SubscriberKey{0, 1}).size() == 2);
  CHECK(match(ix, "a", SubscriberKey{0, 2}).size() == 3);
  // A publisher with an overlapping local subscription still gets it from the other one.
  ix.subscribe("#", 0, 1, qos(0), 9);
  auto h = match(ix, "a", SubscriberKey{0, 1});
  REQUIRE(h.size() == 3);
  CHECK(h[0].handle == 1);
  CHECK(h[0].qos == 0);
  CHECK(h[0].ids == std::vector<uint32_t>{9});
}

TEST_CASE_FIXTURE(Fixture, "shared subscriptions deliver once per group, round-robin across workers") {
  CHECK(is_shared_filter("$share/g/a/b"));
  CHECK_FALSE(is_shared_filter("$sharex/g/a"));
  CHECK_FALSE(ix.subscribe("$share/g/a/+", 0, 1, qos(1), 0));
  CHECK_FALSE(ix.subscribe("$share/g/a/+", 1, 2, qos(1), 0));
  CHECK_FALSE(ix.subscribe("$share/g/a/+", 2, 3, qos(1), 0));
  CHECK(ix.subscribe("$share/g/a/+", 2, 3, qos(2), 0));
  CHECK_FALSE(ix.subscribe("$share/h/a/+", 0, 1, qos(1), 0));  // another group
  CHECK_FALSE(ix.subscribe("$share/g/a/b", 0, 4, qos(1), 0));  // same group, other filter
  CHECK_FALSE(ix.subscribe("a/+", 0, 1, qos(0), 0));           // non-shared, same client
  CHECK(ix.counters().subscriptions == 6);  // g: 1, 2, 3 on a/+ and 4 on a/b; h: 1; a/+: 1
  std::map<uint64_t, int> seen;
  for (int i = 0; i < 300; ++i) {
    auto h = match(ix, "a/b");
    int shared = 0, g_picks = 0;
    for (const Hit& x : h) {
      if (!x.shared) continue;
      ++shared;
      if (x.handle != 4 && x.handle != 1) ++g_picks;
      if (x.handle != 4) ++seen[x.handle];
    }
    CHECK(shared == 3);  // g on a/+, h on a/+, g on a/b
    CHECK(h.size() == 4);  // plus the non-shared a/+, never merged with a shared pick
    (void)g_picks;
  }
  CHECK(seen[2] == 100);
  CHECK(seen[3] == 100);
  CHECK(seen[1] == 400);  // group g picks 1 a third of the time, group h always
  // Shared filters obey the $ rule too, and `#` in a shared filter.
  ix.subscribe("$share/g/#", 0, 9, qos(0), 0);
  CHECK(match(ix, "$SYS/x").empty());
  CHECK(match(ix, "z").size() == 1);
  CHECK(ix.unsubscribe("$share/g/a/+", 1, 2));
  CHECK_FALSE(ix.unsubscribe("$share/g/a/+", 1, 2));
  CHECK_FALSE(ix.unsubscribe("$share/x/a/+", 0, 1));
  CHECK(ix.unsubscribe("$share/g/a/+", 0, 1));
  CHECK(ix.unsubscribe("$share/g/a/+", 2, 3));
  CHECK(ix.unsubscribe("$share/h/a/+", 0, 1));
  CHECK(ix.unsubscribe("$share/g/a/b", 0, 4));
  CHECK(ix.unsubscribe("$share/g/#", 0, 9));
  CHECK(ix.unsubscribe("a/+", 0, 1));
  CHECK(ix.counters().subscriptions == 0);
  CHECK(ix.counters().nodes == 0);
}

TEST_CASE_FIXTURE(Fixture, "malformed filters are refused without effect") {
  CHECK_FALSE(ix.subscribe("$share/g", 0, 1, qos(0), 0));
  CHECK_FALSE(ix.subscribe("$share//a", 0, 1, qos(0), 0));
  CHECK_FALSE(ix.subscribe("$share/g+/a", 0, 1, qos(0), 0));
  CHECK_FALSE(ix.subscribe("a/#/b", 0, 1, qos(0), 0));
  CHECK_FALSE(ix.subscribe("a/b+", 0, 1, qos(0), 0));
  CHECK(ix.counters().subscriptions == 0);
}

TEST_CASE("many children of one level exercise the HAMT: split, collide, collapse") {
  Qsbr qsbr(2);
  TopicIndex ix(qsbr);
  constexpr int kN = 5000;
  for (int i = 0; i < kN; ++i) {
    ix.subscribe("root/" + std::to_string(i), static_cast<uint16_t>(i % 7), uint64_t(i), qos(0), 0);
  }
  CHECK(ix.counters().nodes == kN + 1);
  for (int i = 0; i < kN; i += 3) CHECK(ix.unsubscribe("root/" + std::to_string(i), uint16_t(i % 7), uint64_t(i)));
  for (int i = 0; i < kN; ++i) {
    auto h = match(ix, "root/" + std::to_string(i));
    if (i % 3 == 0) {
      CHECK(h.empty());
    } else {
      REQUIRE(h.size() == 1);
      CHECK(h[0].handle == uint64_t(i));
      CHECK(h[0].worker == i % 7);
    }
  }
  CHECK(match(ix, "root/x").empty());
  for (int i = 0; i < kN; ++i) {
    if (i % 3) CHECK(ix.unsubscribe("root/" + std::to_string(i), uint16_t(i % 7), uint64_t(i)));
  }
  CHECK(ix.counters().nodes == 0);
  CHECK(ix.counters().subscriptions == 0);
  qsbr.reclaim();
  CHECK(qsbr.pending() == 0);  // no thread registered: everything retired is freed
}

TEST_CASE("re-subscribing with the same options changes nothing; bytes return to zero") {
  Qsbr qsbr(2);
  TopicIndex ix(qsbr);
  CHECK(match(ix, "a/b").empty());  // an empty index has no version at all
  CHECK(ix.counters().bytes == 0);
  SubscriptionOptions o = qos(1);
  CHECK_FALSE(ix.subscribe("a/b", 0, 1, o, 7));
  CHECK_FALSE(ix.subscribe("$share/g/a/b", 0, 1, o, 7));
  const uint64_t bytes = ix.counters().bytes;
  CHECK(bytes > 0);
  qsbr.reclaim();
  CHECK(ix.subscribe("a/b", 0, 1, o, 7));
  CHECK(ix.subscribe("$share/g/a/b", 0, 1, o, 7));
  CHECK(qsbr.pending() == 0);  // nothing was copied, so nothing was retired
  CHECK(ix.counters().bytes == bytes);
  CHECK(ix.subscribe("a/b", 0, 1, o, 8));  // another identifier: a real change
  auto h = match(ix, "a/b");
  REQUIRE(h.size() == 2);
  CHECK(h[0].ids == std::vector<uint32_t>{8});
  CHECK(h[1].shared);
  CHECK(h[1].ids == std::vector<uint32_t>{7});
  CHECK(ix.unsubscribe("a/b", 0, 1));
  CHECK(ix.unsubscribe("$share/g/a/b", 0, 1));
  CHECK(ix.counters().bytes == 0);
  CHECK(ix.counters().nodes == 0);
}

TEST_CASE("a reused MatchResult carries nothing over") {
  Qsbr qsbr(2);
  TopicIndex ix(qsbr);
  ix.subscribe("a", 0, 1, qos(1), 3);
  ix.subscribe("+", 0, 1, qos(1), 4);
  MatchResult r;
  ix.match("a", r);
  r.finalize(std::nullopt);
  CHECK(r.size() == 1);
  ix.match("b", r);
  r.finalize(std::nullopt);
  REQUIRE(r.size() == 1);
  CHECK(r.subscription_ids(r.entries(0)[0]).size() == 1);
  ix.match("$x", r);
  r.finalize(std::nullopt);
  CHECK(r.empty());
  CHECK(r.workers().empty());
}

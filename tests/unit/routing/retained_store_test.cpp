#include "routing/retained_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "routing_test_util.h"

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

TEST_CASE("an empty payload clears the topic (MQTT-3.3.1-6/7)") {
  Qsbr q(1);
  RetainedStore rs(q);
  const uint64_t empty_bytes = rs.counters().bytes;
  rs.set("a/b", msg("a/b", "x"));
  CHECK(topics(rs, "a/#") == T{"a/b"});
  rs.set("a/b", msg("a/b", ""));
  CHECK(topics(rs, "a/#").empty());
  CHECK(rs.counters().messages == 0);
  CHECK(rs.counters().nodes == 0);
  rs.set("never", msg("never", ""));  // nothing to clear, nothing stored
  CHECK(rs.counters().nodes == 0);
  CHECK(rs.counters().bytes == empty_bytes);
}

TEST_CASE("expire() sweeps due messages only, bounded per call, and frees them") {
  Qsbr q(1);
  RetainedStore rs(q);
  const uint64_t empty_bytes = rs.counters().bytes;
  CHECK(rs.expire(UINT64_MAX - 1) == 0);  // nothing held
  MessageRef keep = msg("x/keep", "k", 0);
  rs.set("x/keep", keep);
  rs.set("x/soon", msg("x/soon", "s", 100));
  rs.set("x/later", msg("x/later", "l", 500));
  rs.set("y/z/late", msg("y/z/late", "l", 500));
  // Replaced by a message without expiry: its old expiry must not clear it.
  rs.set("x/replaced", msg("x/replaced", "1", 100));
  rs.set("x/replaced", msg("x/replaced", "2", 0));
  // Replaced by one that expires later.
  rs.set("x/moved", msg("x/moved", "1", 100));
  rs.set("x/moved", msg("x/moved", "2", 900));
  // The very same message set twice keeps its single expiry entry.
  MessageRef twice = msg("x/twice", "t", 100);
  rs.set("x/twice", twice);
  rs.set("x/twice", twice);
  CHECK(rs.counters().messages == 7);

  CHECK(rs.expire(99) == 0);
  CHECK(rs.expire(100) == 2);  // soon, twice
  CHECK(topics(rs, "#", 0) == T{"x/keep", "x/later", "x/moved", "x/replaced", "y/z/late"});
  CHECK(rs.expire(499) == 0);
  CHECK(rs.expire(500, 1) == 1);  // bounded: one of the two due
  CHECK(rs.expire(500, 1) == 1);
  CHECK(rs.expire(500) == 0);
  CHECK(topics(rs, "#", 0) == T{"x/keep", "x/moved", "x/replaced"});
  CHECK(rs.counters().nodes == 4);  // x, keep, moved, replaced: y/z/late was pruned
  CHECK(rs.expire(10000) == 1);     // moved
  CHECK(topics(rs, "#", 0) == T{"x/keep", "x/replaced"});
  CHECK(rs.counters().messages == 2);

  rs.clear("x/keep");
  rs.clear("x/replaced");
  CHECK(rs.counters().messages == 0);
  CHECK(rs.counters().nodes == 0);
  CHECK(rs.counters().bytes == empty_bytes);
  q.reclaim();
  CHECK(q.pending() == 0);
  CHECK(keep->ref_count_for_test() == 1);
  CHECK(twice->ref_count_for_test() == 1);
}

// Readers walk the store with wildcard filters while a writer sets, replaces, clears and
// expires: under ASan/TSan nothing a reader touches is freed or raced, and every result
// is plausible: each message's topic matches the filter, no topic twice, no version the
// writer had not begun to store, and per reader and topic versions never go back.
TEST_CASE("retained store: concurrent set/clear/expire and wildcard matches") {
  Qsbr q(4);
  RetainedStore rs(q);
  const std::vector<std::string> kTopics = {"a",   "a/b",   "a/c",  "a/b/c", "b/b",   "$s/x",
                                            "a//", "b/a/c", "/a",   "c",     "a/b/d", "$s"};
  const std::vector<std::string> kFilters = {"#", "+", "a/#", "a/+", "+/b", "+/+/c", "$s/#", "a/b/c", "/+", "+/#"};
  std::atomic<uint64_t> started{0};  // release: versions below it may be in the store
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, seen{0};
  std::thread writer([&] {
    std::mt19937 rng(5);
    for (uint64_t v = 1; !stop.load(std::memory_order_relaxed); ++v) {
      const std::string& t = kTopics[rng() % kTopics.size()];
      started.store(v, std::memory_order_release);
      switch (rng() % 4) {
        case 0: rs.clear(t); break;
        case 1: rs.expire(v); break;  // "now" = v: messages set with expiry <= v go
        default: {
          std::string payload = std::to_string(v);
          rs.set(t, msg(t, payload, rng() % 2 ? v + rng() % 64 : 0));
        }
      }
    }
  });
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) {
    readers.emplace_back([&, i] {
      Qsbr::ThreadId id = q.register_thread();
      std::mt19937 rng(10 + i);
      std::map<std::string, uint64_t> last;
      std::vector<MessageRef> out;
      for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        const std::string& f = kFilters[rng() % kFilters.size()];
        out.clear();
        rs.match(f, out, 0);
        const uint64_t hi = started.load(std::memory_order_acquire);
        std::set<std::string> topics_seen;
        for (const MessageRef& m : out) {
          std::string t(m->topic());
          auto p = m->payload();
          uint64_t v = std::stoull(std::string(reinterpret_cast<const char*>(p.data()), p.size()));
          if (!test::reference_matches(f, t) || !topics_seen.insert(t).second || v > hi || v < last[t]) {
            bad.fetch_add(1);
          }
          last[t] = v;
          seen.fetch_add(1, std::memory_order_relaxed);
        }
        out.clear();  // drop our references before announcing the turn
        if (n % 8 == 7) q.quiescent(id);
      }
      q.unregister_thread(id);
    });
  }
#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
  std::this_thread::sleep_for(std::chrono::seconds(3));
#else
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
#endif
  stop = true;
  writer.join();
  for (auto& t : readers) t.join();
  CHECK(bad.load() == 0);
  CHECK(seen.load() > 100);
  for (const std::string& t : kTopics) rs.clear(t);
  CHECK(rs.counters().messages == 0);
  CHECK(rs.counters().nodes == 0);
  q.reclaim();
  CHECK(q.pending() == 0);
}

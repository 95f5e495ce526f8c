// Concurrency stress: writer threads subscribe, re-subscribe and unsubscribe while reader
// threads match, for a few seconds (longer under the sanitizers). Every match result is
// checked against a sequential history, not just for "no crash":
//
//  * Each writer owns its subscribers (disjoint handles, its own share groups) and logs
//    every operation before doing it. The state of its subscriptions after its first k
//    operations is S(k), computable from the log.
//  * Writers never communicate, so a sequential history may interleave their operations
//    freely, keeping each writer's order. A match is explained by such a history iff,
//    for each writer, the part of the result that belongs to that writer's subscribers
//    equals what S(k) gives for the topic, for some k with
//        done_before <= k <= started_after
//    (operations completed before the match began must be visible; operations begun
//    after it ended cannot be) and, per reader, k never goes back: a reader's later match
//    cannot see an older state than its earlier one.
//  * "Equals" is exact for plain subscriptions (subscriber, maximum QoS, retain-as-
//    published, every identifier); a shared group must be delivered exactly once, to a
//    member of the group in S(k), with that member's options.
// Identifiers encode (filter, group), so each entry says which subscriptions it stands for.
//
// Run twice: with the broker's layout (sections inline) and with every section of more
// than two records a B+-tree of the smallest shape.
// Duration: MQTTD_STRESS_SECONDS, else 1.5 s, or 5 s in a sanitizer build, per run.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "routing_test_util.h"

using namespace mqttd;
using mqttd::test::Hit;

namespace {

constexpr int kWriters = 2;
constexpr int kReaders = 3;
constexpr int kHandles = 16;  // per writer, on workers 0..15
constexpr int kGroups = 3;   // 0: plain; 1, 2: the writer's share groups

const std::vector<std::string> kFilters = {
    "#",     "+",     "a",     "a/#",   "a/+",     "a/b",     "a/b/#", "a/b/c", "a/+/c", "+/b",
    "+/+",   "+/b/#", "+/+/c", "/a",    "/+",      "a//c",    "a/+/#", "$s/#",  "$s/+", "$s/b",
    "b",     "b/#",   "b/+/c", "+/#",   "a/b/c/d", "a/+/+/d", "+/+/+", "a/b/+",
};
const std::vector<std::string> kTopics = {
    "a", "a/b", "a/b/c", "a/x/c", "b", "b/b", "b/b/c", "/a", "a//c", "$s/b", "$s", "a/b/c/d", "c/b/c",
};
constexpr int kF = 28;
static_assert(kF * kGroups < 256);

// One logged operation. state 0: unsubscribe; else 1 + qos + 4 * retain_as_published.
struct Op {
  uint8_t handle, filter, group, state;
};

uint32_t sub_id(int f, int g) { return 1 + static_cast<uint32_t>(f * kGroups + g); }
static_assert(kHandles <= 16, "handle_of() gives each writer 16 handles");
uint64_t handle_of(int writer, int j) { return static_cast<uint64_t>(writer * 16 + j + 1); }
std::string full_filter(int writer, int f, int g) {
  if (g == 0) return kFilters[f];
  return "$share/w" + std::to_string(writer) + "g" + std::to_string(g) + "/" + kFilters[f];
}

// S(k) of one writer.
struct State {
  uint8_t s[kHandles][kF][kGroups] = {};
  void apply(const Op& op) { s[op.handle][op.filter][op.group] = op.state; }
};

struct alignas(64) Writer {
  std::vector<Op> log;
  // release (both): the log entry, and for `done` the operation itself, precede them.
  std::atomic<uint64_t> started{0};
  std::atomic<uint64_t> done{0};
};

bool matches[16][kF];  // matches[topic][filter], from the reference matcher

// Is `got` (this writer's entries, sorted) what state `st` gives for topic `t`?
bool explains(const State& st, int writer, int t, const std::vector<Hit>& got) {
  // Plain: one merged entry per handle, ascending handle (entries are sorted by worker = j).
  std::vector<const Hit*> shared;
  std::vector<Hit> plain;
  for (int j = 0; j < kHandles; ++j) {
    Hit want{static_cast<uint16_t>(j), handle_of(writer, j), 0, false, false, {}};
    bool any = false;
    for (int f = 0; f < kF; ++f) {
      uint8_t v = st.s[j][f][0];
      if (!v || !matches[t][f]) continue;
      any = true;
      want.qos = std::max<uint8_t>(want.qos, (v - 1) & 3);
      want.rap = want.rap || ((v - 1) & 4);
      want.ids.push_back(sub_id(f, 0));
    }
    if (any) plain.push_back(std::move(want));
  }
  std::vector<Hit> got_plain;
  for (const Hit& h : got) (h.shared ? (void)shared.push_back(&h) : got_plain.push_back(h));
  std::sort(plain.begin(), plain.end());
  if (got_plain != plain) return false;
  // Shared: one pick per non-empty matching group.
  size_t groups = 0;
  for (int g = 1; g < kGroups; ++g) {
    for (int f = 0; f < kF; ++f) {
      if (!matches[t][f]) continue;
      bool nonempty = false;
      for (int j = 0; j < kHandles; ++j) nonempty = nonempty || st.s[j][f][g];
      if (!nonempty) continue;
      ++groups;
      int picks = 0;
      for (const Hit* h : shared) {
        if (h->ids.size() != 1 || h->ids[0] != sub_id(f, g)) continue;
        ++picks;
        int j = h->worker;
        uint8_t v = j < kHandles ? st.s[j][f][g] : 0;
        if (!v || h->handle != handle_of(writer, j) || h->qos != ((v - 1) & 3) ||
            h->rap != static_cast<bool>((v - 1) & 4)) {
          return false;
        }
      }
      if (picks != 1) return false;
    }
  }
  return shared.size() == groups;
}

double stress_seconds() {
  if (const char* e = std::getenv("MQTTD_STRESS_SECONDS")) return std::atof(e);
#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
  return 5.0;
#else
  return 1.5;
#endif
}

// Returns how many sections were trees when the writers stopped.
uint64_t run_stress(const TopicIndex::Tuning& tuning) {
  for (size_t t = 0; t < kTopics.size(); ++t) {
    for (int f = 0; f < kF; ++f) matches[t][f] = test::reference_matches(kFilters[f], kTopics[t]);
  }
  REQUIRE(kFilters.size() == kF);
  REQUIRE(kTopics.size() <= 16);

  Qsbr qsbr(kReaders + 1);
  TopicIndex ix(qsbr, tuning);
  std::vector<Writer> writers(kWriters);
  constexpr size_t kLogCap = 1 << 22;
  for (Writer& w : writers) w.log.resize(kLogCap);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0}, matches_done{0}, inflight_matches{0}, ops_done{0};
  std::mutex first_mu;
  std::string first_failure;
  auto fail = [&](std::string what) {
    if (failures.fetch_add(1) == 0) {
      std::lock_guard l(first_mu);
      first_failure = std::move(what);
    }
  };

  std::vector<std::thread> threads;
  for (int wi = 0; wi < kWriters; ++wi) {
    threads.emplace_back([&, wi] {
      Writer& me = writers[wi];
      State st;
      std::mt19937 rng(1000 + wi);
      for (uint64_t k = 0; k < kLogCap && !stop.load(std::memory_order_relaxed); ++k) {
        Op op{static_cast<uint8_t>(rng() % kHandles), static_cast<uint8_t>(rng() % kF),
              static_cast<uint8_t>(rng() % 4 == 0 ? 1 + rng() % (kGroups - 1) : 0), 0};
        const uint8_t cur = st.s[op.handle][op.filter][op.group];
        if (!cur || rng() % 2) op.state = static_cast<uint8_t>(1 + rng() % 3 + 4 * (rng() % 2));
        me.log[k] = op;
        me.started.store(k + 1, std::memory_order_release);
        const std::string f = full_filter(wi, op.filter, op.group);
        const uint16_t worker = op.handle;
        const uint64_t h = handle_of(wi, op.handle);
        bool r;
        if (op.state) {
          SubscriptionOptions o;
          o.qos = static_cast<uint8_t>((op.state - 1) & 3);
          o.retain_as_published = ((op.state - 1) & 4) != 0;
          r = ix.subscribe(f, worker, h, o, sub_id(op.filter, op.group));
        } else {
          r = ix.unsubscribe(f, worker, h);
        }
        if (r != (cur != 0)) fail("writer " + std::to_string(wi) + ": wrong return at op " + std::to_string(k));
        st.apply(op);
        me.done.store(k + 1, std::memory_order_release);
        ops_done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int ri = 0; ri < kReaders; ++ri) {
    threads.emplace_back([&, ri] {
      Qsbr::ThreadId id = qsbr.register_thread();
      std::mt19937 rng(2000 + ri);
      MatchResult r;
      State mirror[kWriters];
      uint64_t pos[kWriters] = {};  // mirror[w] is S(pos[w])
      uint64_t lo[kWriters], hi[kWriters];
      std::vector<Hit> mine[kWriters];
      for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        const int t = static_cast<int>(rng() % kTopics.size());
        for (int w = 0; w < kWriters; ++w) lo[w] = writers[w].done.load(std::memory_order_acquire);
        ix.match(kTopics[t], r);
        r.finalize(std::nullopt);
        for (int w = 0; w < kWriters; ++w) hi[w] = writers[w].started.load(std::memory_order_acquire);
        for (auto& v : mine) v.clear();
        for (const Hit& h : test::hits(r)) {
          int w = static_cast<int>((h.handle - 1) / 16);
          if (w >= kWriters) {
            fail("unknown subscriber in a result");
            continue;
          }
          mine[w].push_back(h);
        }
        bool inflight = false;
        for (int w = 0; w < kWriters; ++w) {
          inflight = inflight || lo[w] != hi[w];
          while (pos[w] < lo[w]) mirror[w].apply(writers[w].log[pos[w]++]);
          for (;;) {
            if (explains(mirror[w], w, t, mine[w])) break;
            if (pos[w] == hi[w]) {
              fail("reader " + std::to_string(ri) + ": match of '" + kTopics[t] + "' explained by no state of writer " +
                   std::to_string(w) + " in [" + std::to_string(lo[w]) + ", " + std::to_string(hi[w]) + "]");
              break;
            }
            mirror[w].apply(writers[w].log[pos[w]++]);
          }
        }
        matches_done.fetch_add(1, std::memory_order_relaxed);
        if (inflight) inflight_matches.fetch_add(1, std::memory_order_relaxed);
        if (n % 16 == 15) qsbr.quiescent(id);  // one event-loop turn
        if (n % 1024 == 1023) {                 // now and then, a blocking wait
          qsbr.offline(id);
          std::this_thread::yield();
          qsbr.online(id);
        }
      }
      qsbr.unregister_thread(id);
    });
  }
  const double secs = stress_seconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  stop = true;
  for (auto& th : threads) th.join();

  MESSAGE("stress: " << secs << " s, " << kWriters << " writers, " << kReaders << " readers, "
                     << ops_done.load() << " writes, " << matches_done.load() << " matches ("
                     << inflight_matches.load() << " overlapping a write)");
  {
    std::lock_guard l(first_mu);
    if (!first_failure.empty()) MESSAGE("first failure: " << first_failure);
  }
  CHECK(failures.load() == 0);
  CHECK(ops_done.load() > 1000);
  CHECK(matches_done.load() > 1000);
  CHECK(inflight_matches.load() > 0);

  const uint64_t trees = ix.counters().trees;
  CHECK(ix.test_check() == "");
  // The index ends as the writers left it.
  uint64_t live = 0;
  for (int w = 0; w < kWriters; ++w) {
    State st;
    for (uint64_t k = 0; k < writers[w].done.load(); ++k) st.apply(writers[w].log[k]);
    for (int j = 0; j < kHandles; ++j) {
      for (int f = 0; f < kF; ++f) {
        for (int g = 0; g < kGroups; ++g) {
          if (!st.s[j][f][g]) continue;
          ++live;
          CHECK(ix.unsubscribe(full_filter(w, f, g), static_cast<uint16_t>(j), handle_of(w, j)));
        }
      }
    }
  }
  CHECK(live > 0);
  CHECK(ix.counters().subscriptions == 0);
  CHECK(ix.counters().nodes == 0);
  CHECK(ix.counters().trees == 0);
  qsbr.reclaim();
  CHECK(qsbr.pending() == 0);
  return trees;
}

}  // namespace

TEST_CASE("stress: concurrent subscribe/unsubscribe/match results are sequentially explainable") {
  run_stress(TopicIndex::kDefaultTuning);
}

TEST_CASE("stress: the same with sections as B+-trees of the smallest shape") {
  // Beyond 2 records a section (up to 32) or group (up to 16) is a tree of leaves of 4
  // and nodes of 4, back inline at 1: splits, merges, root changes and representation
  // switches all race with the readers.
  CHECK(run_stress(TopicIndex::Tuning{2, 4, 4}) > 20);
}

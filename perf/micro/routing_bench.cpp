// Subscription-index micro-benchmarks, on one index of 1,000,000 subscriptions over
// 5-level topics (region/site/device/sensor/metric), 85% exact filters and 15% with `+`
// or `#`, on 8 workers:
//   BM_Build1M              subscribe rate while building it; bytes per subscription from
//                           the index's own counter, from malloc (mallinfo2) and from RSS
//   BM_MatchHot             match + finalize of one topic with ~10 matching subscribers
//                           (5 exact, 4 wildcard, 1 shared group of 3)
//   BM_MatchProbes          the same over 1,000 such topics in turn (less cache-friendly)
//   BM_MatchRandom          random topics of the 10^7 space (mostly 0-1 subscriber)
//   BM_SubscribeUnsubscribe one subscribe + one unsubscribe per iteration, at 1M
//   BM_SubscribeUnsubscribeFanIn  the same on one topic already shared by N subscribers
//   BM_MatchUnderChurn      readers on 1, 2, 4 threads matching the probe topics while a
//                           writer thread subscribes and unsubscribes without pause
// And on a second index, the fleet case: N devices (1,000,000; MQTTD_BENCH_BROADCAST
// overrides) on 16 workers all subscribed to one broadcast topic, each also to its own:
//   BM_BroadcastBuild       time and rate of the N broadcast subscribes, then of the N own
//                           ones, then of N/10 members joining one shared group
//   BM_BroadcastChurn       a random device leaves the broadcast topic and rejoins (2 ops)
//   BM_BroadcastJoinLeave   a new device joins the broadcast topic and leaves it (2 ops)
//   BM_MatchBroadcast       match + finalize of the broadcast topic and a walk of every
//                           entry, worker by worker; items_per_second is subscribers
//   BM_MatchArrayReference  the floor for that: N records in one array fed to a
//                           MatchResult, finalized and walked the same way
//   BM_MatchBroadcastShared a topic whose shared group has N/10 members (one pick)
// items_per_second is matches (or subscription operations) per second; for the threaded
// runs it is the total of all threads. Readers announce a quiescent state every 64
// matches, as a worker does once per loop turn.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "routing/match_result.h"
#include "routing/qsbr.h"
#include "routing/topic_index.h"

using namespace mqttd;

namespace {

constexpr uint32_t kSubscriptions = 1000000;
constexpr uint32_t kProbes = 1000;
constexpr uint32_t kWorkers = 8;
constexpr uint32_t kL[5] = {10, 100, 100, 10, 10};  // values per level: 10^7 topics

struct Topic {
  uint32_t v[5];
};

const char* const kNames[5] = {"region", "site", "device", "sensor", "metric"};

std::string level(int i, uint32_t v) { return kNames[i] + std::to_string(v); }
std::string topic_name(const Topic& t) {
  std::string s;
  for (int i = 0; i < 5; ++i) {
    if (i) s += '/';
    s += level(i, t.v[i]);
  }
  return s;
}
Topic random_topic(std::mt19937_64& rng) {
  Topic t;
  for (int i = 0; i < 5; ++i) t.v[i] = static_cast<uint32_t>(rng() % kL[i]);
  return t;
}
// A filter over `t` with level `plus` replaced by `+` (-1: none), or ending in `#` after
// `hash_after` levels (0: no `#`).
std::string filter_of(const Topic& t, int plus, int hash_after) {
  std::string s;
  int n = hash_after ? hash_after : 5;
  for (int i = 0; i < n; ++i) {
    if (i) s += '/';
    s += i == plus ? std::string("+") : level(i, t.v[i]);
  }
  if (hash_after) s += "/#";
  return s;
}
// Background filter i: 85% exact; the wildcard ones fix at least four levels, so a
// given topic meets well under one of them by chance.
std::string background_filter(std::mt19937_64& rng) {
  Topic t = random_topic(rng);
  switch (rng() % 20) {
    case 0: return filter_of(t, 4, 0);
    case 1: return filter_of(t, 3, 0);
    case 2: return filter_of(t, 2, 0);
    case 3: return filter_of(t, 0, 0);
    case 4: return filter_of(t, -1, 4);
    case 5: return filter_of(t, 1, 0);
    default: return filter_of(t, -1, 0);
  }
}

size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}
size_t malloc_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

struct Fixture {
  Qsbr qsbr{64};
  TopicIndex ix{qsbr};
  std::vector<std::string> probes;  // topics with ~10 subscribers each
  uint64_t next_handle = 1;
  double build_seconds = 0;
  size_t malloc_delta = 0, rss_delta = 0;

  void sub(const std::string& f, uint8_t qos = 1, uint32_t id = 0) {
    uint64_t h = next_handle++;
    ix.subscribe(f, static_cast<uint16_t>(h % kWorkers), h, SubscriptionOptions{qos, false, false, 0}, id);
  }

  Fixture() {
    std::mt19937_64 rng(42);
    const size_t malloc0 = malloc_bytes(), rss0 = rss_bytes();
    auto t0 = std::chrono::steady_clock::now();
    // The probes: 5 exact, 4 wildcard, one shared group of 3 = 10 deliveries.
    for (uint32_t p = 0; p < kProbes; ++p) {
      Topic t = random_topic(rng);
      std::string name = topic_name(t);
      probes.push_back(name);
      for (int i = 0; i < 5; ++i) sub(name, static_cast<uint8_t>(i % 3), i == 0 ? p + 1 : 0);
      sub(filter_of(t, 4, 0));
      sub(filter_of(t, 2, 0));
      sub(filter_of(t, 1, 0));
      sub(filter_of(t, -1, 3));
      for (int i = 0; i < 3; ++i) sub("$share/g" + std::to_string(p) + "/" + name);
    }
    while (next_handle <= kSubscriptions) sub(background_filter(rng));
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    malloc_delta = malloc_bytes() - malloc0;
    rss_delta = rss_bytes() - rss0;
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture;  // never destroyed: the process ends after the runs
  return *f;
}

void BM_Build1M(benchmark::State& state) {
  for (auto _ : state) {
    Fixture& f = fixture();
    state.SetIterationTime(f.build_seconds);
  }
  Fixture& f = fixture();
  const auto c = f.ix.counters();
  const double subs = static_cast<double>(c.subscriptions);
  state.counters["subscriptions"] = subs;
  state.counters["nodes"] = static_cast<double>(c.nodes);
  state.counters["subscribe_per_s"] = subs / f.build_seconds;
  state.counters["bytes_per_sub_counter"] = static_cast<double>(c.bytes) / subs;
  state.counters["bytes_per_sub_malloc"] = static_cast<double>(f.malloc_delta) / subs;
  state.counters["bytes_per_sub_rss"] = static_cast<double>(f.rss_delta) / subs;
}
BENCHMARK(BM_Build1M)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

// A reader as a worker is one: registered, quiescent once per "turn" of 64 matches.
template <class Next>
void run_matches(benchmark::State& state, Next next_topic) {
  Fixture& f = fixture();
  Qsbr::ThreadId id = f.qsbr.register_thread();
  MatchResult r;
  uint64_t delivered = 0, n = 0;
  for (auto _ : state) {
    f.ix.match(next_topic(), r);
    r.finalize(std::nullopt);
    delivered += r.size();
    if ((++n & 63) == 0) f.qsbr.quiescent(id);
  }
  f.qsbr.unregister_thread(id);
  state.SetItemsProcessed(state.iterations());
  state.counters["subscribers_per_match"] =
      benchmark::Counter(static_cast<double>(delivered), benchmark::Counter::kAvgIterations);
}

void BM_MatchHot(benchmark::State& state) {
  const std::string& t = fixture().probes[0];
  run_matches(state, [&]() -> const std::string& { return t; });
}
BENCHMARK(BM_MatchHot);

void BM_MatchProbes(benchmark::State& state) {
  const auto& probes = fixture().probes;
  size_t i = 0;
  run_matches(state, [&]() -> const std::string& { return probes[i++ % probes.size()]; });
}
BENCHMARK(BM_MatchProbes);

void BM_MatchRandom(benchmark::State& state) {
  fixture();
  std::mt19937_64 rng(7);
  std::vector<std::string> topics;
  for (int i = 0; i < 4096; ++i) topics.push_back(topic_name(random_topic(rng)));
  size_t i = 0;
  run_matches(state, [&]() -> const std::string& { return topics[i++ % topics.size()]; });
}
BENCHMARK(BM_MatchRandom);

// Subscribe/unsubscribe pairs on the 1M index, filters drawn like the background ones.
struct Churn {
  std::vector<std::string> filters;
  explicit Churn(uint64_t seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 4096; ++i) filters.push_back(background_filter(rng));
  }
  void pair(TopicIndex& ix, size_t i) {
    const std::string& f = filters[i % filters.size()];
    const uint64_t h = (uint64_t{1} << 40) + i;
    ix.subscribe(f, static_cast<uint16_t>(i % kWorkers), h, SubscriptionOptions{1, false, false, 0}, 0);
    ix.unsubscribe(f, static_cast<uint16_t>(i % kWorkers), h);
  }
};

void BM_SubscribeUnsubscribe(benchmark::State& state) {
  Fixture& f = fixture();
  Churn churn(9);
  size_t i = 0;
  for (auto _ : state) churn.pair(f.ix, i++);
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_SubscribeUnsubscribe);

// One more subscriber joining and leaving a topic that N others share ("broadcast"). Up
// to 64 the section is one immutable array, copied by each write (O(N)); above, a
// B+-tree, of which a write copies one leaf and the interior nodes above it.
void BM_SubscribeUnsubscribeFanIn(benchmark::State& state) {
  Qsbr q(2);
  TopicIndex ix(q);
  const int64_t n = state.range(0);
  const SubscriptionOptions o{1, false, false, 0};
  for (int64_t i = 0; i < n; ++i) ix.subscribe("broadcast/all", static_cast<uint16_t>(i % kWorkers), static_cast<uint64_t>(i), o, 0);
  const uint64_t h = uint64_t{1} << 40;
  for (auto _ : state) {
    ix.subscribe("broadcast/all", 0, h, o, 0);
    ix.unsubscribe("broadcast/all", 0, h);
  }
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_SubscribeUnsubscribeFanIn)->Arg(100)->Arg(3000)->Arg(30000)->Arg(1000000);

// ---- The fleet: one broadcast topic that every device subscribes to ---------------

constexpr uint32_t kFleetWorkers = 16;
constexpr std::string_view kBroadcast = "fleet/all/commands";
constexpr std::string_view kSharedJobs = "$share/workers/fleet/all/jobs";

std::string device_topic(uint32_t i) { return "fleet/dev" + std::to_string(i) + "/commands"; }

struct Fleet {
  Qsbr qsbr{64};
  TopicIndex ix{qsbr};
  uint32_t devices = 1000000;
  double broadcast_seconds = 0, own_seconds = 0, shared_seconds = 0;
  const SubscriptionOptions o{1, false, false, 0};

  // Device i: worker i % 16, handle i (each worker's handles increase, as they are
  // handed out); it subscribes in that order.
  uint16_t worker(uint32_t i) const { return static_cast<uint16_t>(i % kFleetWorkers); }

  Fleet() {
    if (const char* e = std::getenv("MQTTD_BENCH_BROADCAST")) {
      devices = static_cast<uint32_t>(std::atol(e));
    }
    auto t0 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < devices; ++i) ix.subscribe(kBroadcast, worker(i), i, o, 0);
    auto t1 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < devices; ++i) ix.subscribe(device_topic(i), worker(i), i, o, 0);
    auto t2 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < devices / 10; ++i) ix.subscribe(kSharedJobs, worker(i), i, o, 0);
    auto t3 = std::chrono::steady_clock::now();
    broadcast_seconds = std::chrono::duration<double>(t1 - t0).count();
    own_seconds = std::chrono::duration<double>(t2 - t1).count();
    shared_seconds = std::chrono::duration<double>(t3 - t2).count();
  }
};

Fleet& fleet() {
  static Fleet* f = new Fleet;  // never destroyed, like fixture()
  return *f;
}

void BM_BroadcastBuild(benchmark::State& state) {
  for (auto _ : state) {
    Fleet& f = fleet();
    state.SetIterationTime(f.broadcast_seconds + f.own_seconds + f.shared_seconds);
  }
  Fleet& f = fleet();
  state.counters["devices"] = f.devices;
  state.counters["broadcast_s"] = f.broadcast_seconds;
  state.counters["broadcast_subscribe_per_s"] = f.devices / f.broadcast_seconds;
  state.counters["own_subscribe_per_s"] = f.devices / f.own_seconds;
  state.counters["shared_subscribe_per_s"] = (f.devices / 10) / f.shared_seconds;
  const auto c = f.ix.counters();
  state.counters["bytes_per_sub_counter"] =
      static_cast<double>(c.bytes) / static_cast<double>(c.subscriptions);
}
BENCHMARK(BM_BroadcastBuild)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_BroadcastChurn(benchmark::State& state) {
  Fleet& f = fleet();
  std::mt19937_64 rng(5);
  for (auto _ : state) {
    const uint32_t i = static_cast<uint32_t>(rng() % f.devices);
    f.ix.unsubscribe(kBroadcast, f.worker(i), i);
    f.ix.subscribe(kBroadcast, f.worker(i), i, f.o, 0);
  }
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_BroadcastChurn);

void BM_BroadcastJoinLeave(benchmark::State& state) {
  Fleet& f = fleet();
  const uint64_t h = uint64_t{1} << 40;
  for (auto _ : state) {
    f.ix.subscribe(kBroadcast, 3, h, f.o, 0);
    f.ix.unsubscribe(kBroadcast, 3, h);
  }
  state.SetItemsProcessed(2 * state.iterations());
}
BENCHMARK(BM_BroadcastJoinLeave);

void BM_MatchBroadcast(benchmark::State& state) {
  Fleet& f = fleet();
  Qsbr::ThreadId id = f.qsbr.register_thread();
  MatchResult r;
  uint64_t delivered = 0, checksum = 0;
  for (auto _ : state) {
    f.ix.match(kBroadcast, r);
    r.finalize(std::nullopt);
    // What publish does next: one pass over each worker's entries.
    for (uint16_t w : r.workers()) {
      for (const MatchResult::Entry& e : r.entries(w)) checksum += e.subscriber ^ e.qos;
    }
    delivered += r.size();
    f.qsbr.quiescent(id);
  }
  benchmark::DoNotOptimize(checksum);
  f.qsbr.unregister_thread(id);
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
  state.counters["subscribers_per_match"] =
      benchmark::Counter(static_cast<double>(delivered), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_MatchBroadcast)->Unit(benchmark::kMillisecond);

// The floor BM_MatchBroadcast is held to: the same N records in one flat array, fed to a
// MatchResult the way match() feeds it, then finalized and walked the same way.
void BM_MatchArrayReference(benchmark::State& state) {
  struct Rec {
    uint64_t handle;
    uint32_t sub_id;
    uint16_t worker;
    uint8_t qos, flags;
  };
  const uint32_t n = fleet().devices;
  std::vector<Rec> recs(n);
  for (uint32_t i = 0; i < n; ++i) {
    recs[i] = Rec{i, 0, static_cast<uint16_t>(i % kFleetWorkers), 1, 0};
  }
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) {
    return a.worker != b.worker ? a.worker < b.worker : a.handle < b.handle;
  });
  MatchResult r;
  uint64_t delivered = 0, checksum = 0;
  for (auto _ : state) {
    r.reset();
    r.begin_run();
    r.reserve_more(n);
    for (const Rec& x : recs) r.add(x.worker, x.handle, x.qos, x.flags, x.sub_id);
    r.finalize(std::nullopt);
    for (uint16_t w : r.workers()) {
      for (const MatchResult::Entry& e : r.entries(w)) checksum += e.subscriber ^ e.qos;
    }
    delivered += r.size();
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
}
BENCHMARK(BM_MatchArrayReference)->Unit(benchmark::kMillisecond);

void BM_MatchBroadcastShared(benchmark::State& state) {
  Fleet& f = fleet();
  Qsbr::ThreadId id = f.qsbr.register_thread();
  MatchResult r;
  uint64_t n = 0;
  for (auto _ : state) {
    f.ix.match("fleet/all/jobs", r);
    r.finalize(std::nullopt);
    if ((++n & 63) == 0) f.qsbr.quiescent(id);
  }
  f.qsbr.unregister_thread(id);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MatchBroadcastShared);

std::atomic<bool> churn_stop{false};
std::atomic<uint64_t> churn_ops{0};
std::unique_ptr<std::thread> churn_thread;

void BM_MatchUnderChurn(benchmark::State& state) {
  Fixture& f = fixture();
  if (state.thread_index() == 0) {
    churn_stop = false;
    churn_ops = 0;
    churn_thread = std::make_unique<std::thread>([&f] {
      Churn churn(11);
      for (size_t i = 0; !churn_stop.load(std::memory_order_relaxed); ++i) {
        churn.pair(f.ix, i);
        churn_ops.fetch_add(2, std::memory_order_relaxed);
      }
    });
  }
  const auto& probes = f.probes;
  size_t i = static_cast<size_t>(state.thread_index()) * 97;
  auto t0 = std::chrono::steady_clock::now();
  run_matches(state, [&]() -> const std::string& { return probes[i++ % probes.size()]; });
  if (state.thread_index() == 0) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    churn_stop = true;
    churn_thread->join();
    churn_thread.reset();
    state.counters["writer_ops_per_s"] = static_cast<double>(churn_ops.load()) / secs;
  }
}
BENCHMARK(BM_MatchUnderChurn)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

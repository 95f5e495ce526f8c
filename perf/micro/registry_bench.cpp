// Client-registry micro-benchmarks, on one registry of 1,000,000 clients with ids like
// mqttd-bench's ("bench-12345-678901", 18 bytes), 60 workers:
//   BM_Build1M        one CONNECT's registry work per client (find, miss, set) while
//                     building it; bytes per client of the id a session keeps plus its
//                     entry, from malloc (mallinfo2: glibc's, not the broker's mimalloc)
//                     and from the registry's own count
//   BM_ConnectLeave   a new client connects and its session ends: find (miss),
//                     compare_and_set, erase_if (3 ops), at 1M, on 1, 2 and 4 threads
//   BM_FindHit        find of a random registered client, at 1M
//   BM_Takeover       compare_and_set over a random registered client's entry (a clean
//                     start on another worker), at 1M
// items_per_second counts registry operations (for threaded runs, of all threads).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "session/registry.h"

using namespace mqttd;

namespace {

constexpr size_t kClients = 1'000'000;
constexpr uint16_t kWorkers = 60;

// The id a session keeps, and the view the registry is asked with.
using SessionId = ClientId;
SessionId session_id(std::string_view id) { return ClientId(id); }
std::string_view view(const SessionId& id) { return id.view(); }

std::string id_of(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "bench-12345-%zu", 100000 + i);
  return buf;
}

size_t heap_bytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // small blocks + mmapped ones (big slot arrays)
}

struct Fleet {
  ClientRegistry registry;
  std::vector<SessionId> sessions;  // what the sessions hold

  bool connect(std::string_view id, uint64_t handle) {
    std::optional<SessionLocation> expected = registry.find(id);
    SessionId s = session_id(id);
    SessionLocation loc{static_cast<uint16_t>(handle % kWorkers), handle};
    if (!registry.compare_and_set(s, expected, loc)) return false;
    sessions.push_back(std::move(s));
    return true;
  }
};

Fleet& fleet() {
  static Fleet* f = [] {
    auto* f = new Fleet;
    f->sessions.reserve(kClients);
    for (size_t i = 0; i < kClients; ++i) f->connect(id_of(i), i);
    return f;
  }();
  return *f;
}

void BM_Build1M(benchmark::State& state) {
  for (auto _ : state) {
    auto f = std::make_unique<Fleet>();
    f->sessions.reserve(kClients);
    std::vector<std::string> ids;
    ids.reserve(kClients);
    for (size_t i = 0; i < kClients; ++i) ids.push_back(id_of(i));
    size_t before = heap_bytes();
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < kClients; ++i) f->connect(ids[i], i);
    auto t1 = std::chrono::steady_clock::now();
    size_t after = heap_bytes();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    state.counters["malloc_B_per_client"] = static_cast<double>(after - before) / kClients;
    state.counters["registry_B_per_client"] =
        static_cast<double>(f->registry.memory_bytes()) / kClients;
    state.SetItemsProcessed(state.items_processed() + 2 * kClients);
  }
}
BENCHMARK(BM_Build1M)->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);

void BM_ConnectLeave(benchmark::State& state) {
  ClientRegistry& r = fleet().registry;
  uint64_t n = 0;
  const auto t = static_cast<uint16_t>(state.thread_index());
  std::vector<std::string> ids;
  for (size_t i = 0; i < 4096; ++i)
    ids.push_back("fresh-" + std::to_string(t) + "-" + std::to_string(i));
  for (auto _ : state) {
    const std::string& id = ids[n++ & 4095];
    std::optional<SessionLocation> expected = r.find(id);
    SessionId s = session_id(id);
    SessionLocation loc{t, n};
    bool ok = r.compare_and_set(s, expected, loc);
    bool gone = r.erase_if(view(s), loc);
    benchmark::DoNotOptimize(ok && gone);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 3);
}
BENCHMARK(BM_ConnectLeave)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

void BM_FindHit(benchmark::State& state) {
  Fleet& f = fleet();
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.registry.find(view(f.sessions[rng() % f.sessions.size()])));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_FindHit);

void BM_Takeover(benchmark::State& state) {
  Fleet& f = fleet();
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    const SessionId& s = f.sessions[rng() % f.sessions.size()];
    std::optional<SessionLocation> expected = f.registry.find(view(s));
    SessionLocation loc{static_cast<uint16_t>(expected->worker ^ 1), expected->handle};
    benchmark::DoNotOptimize(f.registry.compare_and_set(s, expected, loc));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2);
}
BENCHMARK(BM_Takeover);

}  // namespace

BENCHMARK_MAIN();

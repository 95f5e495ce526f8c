#include "session/registry.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mqttd {
namespace {

#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
constexpr size_t kScale = 10;  // sanitizers: a tenth of the iterations
#else
constexpr size_t kScale = 1;
#endif

using Loc = std::optional<SessionLocation>;

SessionLocation at(uint16_t worker, uint64_t handle) { return SessionLocation{worker, handle}; }

// Inserts `id` -> loc, which must be absent.
void put(ClientRegistry& r, std::string_view id, SessionLocation loc) {
  Loc expected;
  REQUIRE(r.compare_and_set(ClientId(id), expected, loc));
}

std::string key(size_t i) { return "client-" + std::to_string(i) + "-of-a-fleet"; }

// What a slot and a key may cost at most: slots at the lowest fill a grown table has
// (53%) or a shrunk one may reach (25%), the key in its allocation, and the shard array.
size_t bound_bytes(size_t live, size_t key_len, double fill) {
  return static_cast<size_t>(static_cast<double>(live) * 24 / fill) + live * (6 + key_len) +
         64 * (64 + 8 * 24);
}

TEST_CASE("ClientId: one shared allocation, 6 bytes of header") {
  ClientId none;
  CHECK_FALSE(none);
  CHECK(none.view().empty());
  CHECK(none.allocated_bytes() == 0);

  ClientId a("device-0123456789");
  CHECK(a);
  CHECK(a.view() == "device-0123456789");
  CHECK(a.allocated_bytes() == 6 + 17);
  ClientId b = a;
  CHECK(b.same_allocation(a));
  ClientId c(std::string_view("device-0123456789"));
  CHECK_FALSE(c.same_allocation(a));
  CHECK(c.view() == a.view());

  ClientId m = std::move(b);
  CHECK_FALSE(b);  // moved from: holds no id
  CHECK(m.same_allocation(a));
  m = ClientId("other");
  CHECK(m.view() == "other");
  CHECK(a.view() == "device-0123456789");
  m = a;
  ClientId& alias = m;
  m = alias;  // self-assignment keeps it
  CHECK(m.same_allocation(a));
  m = std::move(alias);
  CHECK(m.same_allocation(a));

  // An empty id is an id (not "no id"); tiny ones still get a whole header.
  ClientId e{std::string_view()};
  CHECK(e);
  CHECK(e.view().empty());
  CHECK(e.allocated_bytes() == 8);
  CHECK(ClientId("x").allocated_bytes() == 8);
  CHECK(ClientId("xy").allocated_bytes() == 8);
  CHECK(ClientId("xyz").allocated_bytes() == 9);

  // Bytes are bytes: an embedded NUL and the longest MQTT string.
  std::string nul("a\0b", 3);
  CHECK(ClientId(nul).view() == nul);
  std::string longest(65535, 'q');
  CHECK(ClientId(longest).view() == longest);
}

TEST_CASE("ClientRegistry: find, compare_and_set and erase_if, expected matching or not") {
  ClientRegistry r;
  CHECK(r.size() == 0);
  CHECK_FALSE(r.find("a"));
  CHECK_FALSE(r.erase_if("a", at(0, 1)));

  // Absent -> set, only when absent was expected.
  Loc expected = at(1, 1);
  CHECK_FALSE(r.compare_and_set(ClientId("a"), expected, at(2, 2)));
  CHECK_FALSE(expected);  // told: absent
  CHECK_FALSE(r.find("a"));
  CHECK(r.compare_and_set(ClientId("a"), expected, at(2, 2)));
  CHECK(r.find("a") == Loc(at(2, 2)));
  CHECK(r.size() == 1);

  // Present: absent expected fails and reports the current mapping.
  expected.reset();
  CHECK_FALSE(r.compare_and_set(ClientId("a"), expected, at(3, 3)));
  CHECK(expected == Loc(at(2, 2)));
  // Wrong worker, wrong handle: fail, report, leave alone.
  expected = at(2, 9);
  CHECK_FALSE(r.compare_and_set(ClientId("a"), expected, at(3, 3)));
  CHECK(expected == Loc(at(2, 2)));
  expected = at(9, 2);
  CHECK_FALSE(r.compare_and_set(ClientId("a"), expected, at(3, 3)));
  CHECK(expected == Loc(at(2, 2)));
  CHECK(r.find("a") == Loc(at(2, 2)));
  // Right expectation: replaced (a takeover); the count does not change.
  CHECK(r.compare_and_set(ClientId("a"), expected, at(3, 3)));
  CHECK(expected == Loc(at(2, 2)));  // untouched on success
  CHECK(r.find("a") == Loc(at(3, 3)));
  CHECK(r.size() == 1);
  // Setting what is already there succeeds (a session resumed on its own worker).
  expected = at(3, 3);
  CHECK(r.compare_and_set(ClientId("a"), expected, at(3, 3)));
  CHECK(r.find("a") == Loc(at(3, 3)));

  // The old session ending must not remove the newer one's entry.
  CHECK_FALSE(r.erase_if("a", at(2, 2)));
  CHECK_FALSE(r.erase_if("a", at(3, 4)));
  CHECK_FALSE(r.erase_if("a", at(4, 3)));
  CHECK_FALSE(r.erase_if("b", at(3, 3)));
  CHECK(r.find("a") == Loc(at(3, 3)));
  CHECK(r.erase_if("a", at(3, 3)));
  CHECK_FALSE(r.find("a"));
  CHECK(r.size() == 0);
  CHECK_FALSE(r.erase_if("a", at(3, 3)));

  // Ids that differ in length, in the last byte, or are prefixes of each other.
  put(r, "abc", at(1, 1));
  put(r, "abd", at(1, 2));
  put(r, "ab", at(1, 3));
  put(r, "abcd", at(1, 4));
  put(r, "", at(1, 5));  // the empty id is an id like any other here
  CHECK(r.find("abc") == Loc(at(1, 1)));
  CHECK(r.find("abd") == Loc(at(1, 2)));
  CHECK(r.find("ab") == Loc(at(1, 3)));
  CHECK(r.find("abcd") == Loc(at(1, 4)));
  CHECK(r.find("") == Loc(at(1, 5)));
  CHECK_FALSE(r.find("a"));
  CHECK(r.size() == 5);
  // A ClientId holding no id stands for the empty id.
  expected = at(1, 5);
  CHECK(r.compare_and_set(ClientId(), expected, at(1, 6)));
  CHECK(r.find("") == Loc(at(1, 6)));
}

TEST_CASE("ClientRegistry: the key outlives whichever of entry and session lets go first") {
  std::string id = "a-client-id-longer-than-any-inline-buffer";
  ClientId session1(id);
  ClientId session2(id);
  {
    ClientRegistry r;
    Loc expected;
    REQUIRE(r.compare_and_set(session1, expected, at(0, 1)));
    // A clean start elsewhere takes the entry over; the first session is still alive.
    expected = at(0, 1);
    REQUIRE(r.compare_and_set(session2, expected, at(1, 2)));
    // The newer session ends first and removes the entry...
    session2 = ClientId();
    CHECK(r.erase_if(id, at(1, 2)));
    // ...and the older one, kicked later, still has its bytes; its erase finds nothing.
    CHECK(session1.view() == id);
    CHECK_FALSE(r.erase_if(session1.view(), at(0, 1)));

    // A session dropped without erasing (shutdown): the entry keeps the bytes.
    {
      ClientId gone("gone-without-erase");
      expected.reset();
      REQUIRE(r.compare_and_set(gone, expected, at(2, 3)));
    }
    CHECK(r.find("gone-without-erase") == Loc(at(2, 3)));
    expected.reset();
    REQUIRE(r.compare_and_set(session1, expected, at(0, 4)));
  }
  // The registry went first: the session's id is intact.
  CHECK(session1.view() == id);
}

TEST_CASE("ClientRegistry: keys of every length, and two ids with one 38-bit hash") {
  ClientRegistry r;
  std::vector<std::string> ids;
  constexpr size_t kLengths[] = {0,  1,  2,  3,  15,  16,  17,   18,   19,
                                 23, 24, 40, 64, 255, 256, 4096, 65535};
  for (size_t len : kLengths) {
    for (char c : {'a', 'b'}) {
      std::string s(len, 'x');
      if (len) s.back() = c;
      if (len == 0 && c == 'b') continue;
      ids.push_back(s);
    }
  }
  ids.push_back(std::string("nul\0one", 7));
  ids.push_back(std::string("nul\0two", 7));
  for (size_t i = 0; i < ids.size(); ++i) put(r, ids[i], at(7, i));
  CHECK(r.size() == ids.size());
  for (size_t i = 0; i < ids.size(); ++i) CHECK(r.find(ids[i]) == Loc(at(7, i)));
  CHECK_FALSE(r.find(std::string(65534, 'x')));
  CHECK_FALSE(r.find("nul"));

  // Two different ids the registry cannot tell apart by hash (same shard, same slot
  // hash, same home): found by sorting the hashes of 2 M candidates. If the registry's
  // hash changes they are just two ids, and the checks below still hold.
  constexpr uint64_t kMask = (uint64_t{0x3f} << 58) | 0xffffffffu;
  std::vector<std::pair<uint64_t, uint32_t>> hs;
  const uint32_t n = 2'000'000;
  hs.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    hs.emplace_back(std::hash<std::string_view>{}("twin-" + std::to_string(i)) & kMask, i);
  }
  std::sort(hs.begin(), hs.end());
  auto twin = std::adjacent_find(hs.begin(), hs.end(),
                                 [](const auto& a, const auto& b) { return a.first == b.first; });
  REQUIRE(twin != hs.end());
  std::string t1 = "twin-" + std::to_string(twin[0].second);
  std::string t2 = "twin-" + std::to_string(twin[1].second);
  REQUIRE(t1 != t2);
  put(r, t1, at(8, 1));
  CHECK_FALSE(r.find(t2));
  CHECK_FALSE(r.erase_if(t2, at(8, 1)));
  Loc expected;
  CHECK(r.compare_and_set(ClientId(t2), expected, at(8, 2)));
  CHECK(r.find(t1) == Loc(at(8, 1)));
  CHECK(r.find(t2) == Loc(at(8, 2)));
  CHECK(r.erase_if(t1, at(8, 1)));
  CHECK_FALSE(r.find(t1));
  CHECK(r.find(t2) == Loc(at(8, 2)));
}

TEST_CASE("ClientRegistry: random operations agree with a std::unordered_map") {
  // Few ids over 64 shards keep the tables at their smallest, where runs wrap around the
  // end; more ids make them grow and shrink through every size.
  constexpr size_t kUniverses[] = {40, 600, 20000};
  for (size_t universe : kUniverses) {
    CAPTURE(universe);
    ClientRegistry r;
    std::unordered_map<std::string, SessionLocation> model;
    std::mt19937_64 rng(universe);
    const size_t ops = 400'000 / kScale;
    for (size_t op = 0; op < ops; ++op) {
      std::string id = key(rng() % universe);
      auto it = model.find(id);
      Loc current = it == model.end() ? Loc() : Loc(it->second);
      SessionLocation loc = at(static_cast<uint16_t>(rng() % 4), rng() % 8);
      switch (rng() % 4) {
        case 0: {
          REQUIRE(r.find(id) == current);
          break;
        }
        case 1: {  // set, expecting the right or a wrong mapping
          const Loc asked = rng() % 3 ? current : Loc(at(5, 5));
          Loc expected = asked;
          bool ok = r.compare_and_set(ClientId(id), expected, loc);
          REQUIRE(ok == (asked == current));
          REQUIRE(expected == current);
          if (ok) model[id] = loc;
          break;
        }
        default: {  // erase, expecting the right or a wrong mapping
          SessionLocation expected = current && rng() % 3 ? *current : loc;
          bool ok = r.erase_if(id, expected);
          REQUIRE(ok == (current && *current == expected));
          if (ok) model.erase(id);
          break;
        }
      }
    }
    REQUIRE(r.size() == model.size());
    for (size_t i = 0; i < universe; ++i) {
      auto it = model.find(key(i));
      REQUIRE(r.find(key(i)) == (it == model.end() ? Loc() : Loc(it->second)));
    }
  }
}

TEST_CASE("ClientRegistry: a million ids, grown and emptied, memory back to the start") {
  ClientRegistry r;
  const size_t empty_bytes = r.memory_bytes();
  CHECK(empty_bytes == 64 * 64);
  const size_t n = 1'000'000 / kScale;
  const size_t len = key(n).size();
  for (size_t i = 0; i < n; ++i) put(r, key(i), at(static_cast<uint16_t>(i % 60), i));
  CHECK(r.size() == n);
  CHECK(r.memory_bytes() <= bound_bytes(n, len, 0.53));
  MESSAGE("registry bytes per id at ", n,
          " ids: ", static_cast<double>(r.memory_bytes()) / static_cast<double>(n));
  for (size_t i = 0; i < n; ++i)
    REQUIRE(r.find(key(i)) == Loc(at(static_cast<uint16_t>(i % 60), i)));
  CHECK_FALSE(r.find(key(n)));

  // Erase every other id: the rest stay reachable across the backward shifts.
  for (size_t i = 0; i < n; i += 2)
    REQUIRE(r.erase_if(key(i), at(static_cast<uint16_t>(i % 60), i)));
  CHECK(r.size() == n / 2);
  for (size_t i = 0; i < n; ++i) {
    Loc want = i % 2 ? Loc(at(static_cast<uint16_t>(i % 60), i)) : Loc();
    REQUIRE(r.find(key(i)) == want);
  }
  // Erase the rest: the tables shrink back to their smallest.
  for (size_t i = 1; i < n; i += 2)
    REQUIRE(r.erase_if(key(i), at(static_cast<uint16_t>(i % 60), i)));
  CHECK(r.size() == 0);
  CHECK(r.memory_bytes() <= empty_bytes + 64 * 8 * 24);
  for (size_t i = 0; i < n; i += 997) CHECK_FALSE(r.find(key(i)));
}

TEST_CASE("ClientRegistry: churn at a steady size keeps memory flat (no tombstones)") {
  ClientRegistry r;
  const size_t live = 10'000;
  const size_t cycles = 1'000'000 / kScale;
  for (size_t i = 0; i < live; ++i) put(r, key(i), at(1, i));
  const size_t len = key(live + cycles).size();
  size_t most = 0;
  // Each cycle ends the oldest session and starts a new id: every id is new to its table.
  for (size_t i = 0; i < cycles; ++i) {
    REQUIRE(r.erase_if(key(i), at(1, i)));
    put(r, key(live + i), at(1, live + i));
    if (i % 1000 == 0) most = std::max(most, r.memory_bytes());
  }
  CHECK(r.size() == live);
  CHECK(most <= bound_bytes(live, len, 0.53));
  for (size_t i = cycles; i < cycles + live; ++i) REQUIRE(r.find(key(i)) == Loc(at(1, i)));
  for (size_t i = 0; i < cycles; i += 101) REQUIRE_FALSE(r.find(key(i)));
}

TEST_CASE("ClientRegistry: compare_and_set from absent is a lock, from 4 threads") {
  // Each thread takes an id by setting it from absent, works on the id's counter without
  // synchronisation of its own, and gives it back with erase_if. Two holders at once
  // would be a race on the counter (TSan) or a lost update (the count below).
  ClientRegistry r;
  constexpr size_t kIds = 16;
  std::vector<uint64_t> counters(kIds, 0);
  const size_t rounds = 100'000 / kScale;
  std::vector<size_t> taken(4, 0);
  std::vector<std::thread> threads;
  for (uint16_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (size_t i = 0; i < rounds; ++i) {
        size_t k = rng() % kIds;
        ClientId id(key(k));
        SessionLocation mine = at(t, i);
        Loc expected;
        if (!r.compare_and_set(id, expected, mine)) {
          CHECK(expected);  // someone holds it
          continue;
        }
        ++counters[k];
        ++taken[t];
        CHECK(r.find(id.view()) == Loc(mine));
        bool released = r.erase_if(id.view(), mine);
        CHECK(released);
      }
    });
  }
  for (auto& th : threads) th.join();
  uint64_t sum = 0;
  for (uint64_t c : counters) sum += c;
  size_t total = 0;
  for (size_t n : taken) total += n;
  CHECK(sum == total);
  CHECK(total > 0);
  CHECK(r.size() == 0);
}

TEST_CASE("ClientRegistry: takeovers and session ends from 4 threads") {
  // Workers connecting clients with shared ids: look up, take over whatever is there,
  // end their own sessions later. Keys are made and dropped on every thread, often while
  // another thread's entry shares them. At the end every entry must be a mapping that
  // some thread set and did not successfully erase.
  ClientRegistry r;
  constexpr size_t kIds = 2000;
  const size_t rounds = 200'000 / kScale;
  struct Held {
    ClientId id;
    SessionLocation loc;
  };
  std::vector<std::vector<Held>> alive(4);  // per thread: sessions that did not end
  std::vector<std::thread> threads;
  for (uint16_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      std::vector<Held>& mine = alive[t];
      for (size_t i = 0; i < rounds; ++i) {
        if (!mine.empty() && rng() % 2) {  // a session of ours ends (the entry may be gone)
          size_t j = rng() % mine.size();
          r.erase_if(mine[j].id.view(), mine[j].loc);
          mine[j] = std::move(mine.back());
          mine.pop_back();
          continue;
        }
        std::string s = key(rng() % kIds);
        Loc expected = r.find(s);
        Held h{ClientId(s), at(t, i + 1)};
        for (int attempt = 0; attempt < 16; ++attempt) {
          if (r.compare_and_set(h.id, expected, h.loc)) {
            mine.push_back(std::move(h));
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  std::unordered_map<std::string, std::vector<SessionLocation>> candidates;
  size_t sessions = 0;
  for (auto& v : alive) {
    for (Held& h : v) {
      candidates[std::string(h.id.view())].push_back(h.loc);
      ++sessions;
    }
  }
  size_t entries = 0;
  for (size_t k = 0; k < kIds; ++k) {
    Loc got = r.find(key(k));
    if (!got) continue;
    ++entries;
    auto it = candidates.find(key(k));
    REQUIRE(it != candidates.end());
    CHECK(std::find(it->second.begin(), it->second.end(), *got) != it->second.end());
  }
  CHECK(entries == r.size());
  CHECK(entries <= sessions);
  // Everyone ends their sessions: the registry empties.
  for (auto& v : alive) {
    for (Held& h : v) r.erase_if(h.id.view(), h.loc);
  }
  CHECK(r.size() == 0);
}

}  // namespace
}  // namespace mqttd

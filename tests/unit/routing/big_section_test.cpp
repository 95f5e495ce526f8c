// Sections too big to copy: 200,000 clients (20,000 in a sanitizer build) on 16 workers
// subscribed to one broadcast filter and each to its own, matched, half of them gone,
// matched again; a shared group of thousands picked round-robin over its whole
// membership; and the switch between the inline and the tree representation.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "routing_test_util.h"

using namespace mqttd;

namespace {

constexpr uint16_t kWorkers = 16;

struct Client {
  uint16_t worker;
  uint64_t handle;
  uint8_t qos;
  uint32_t id;
  bool broadcast = false;  // subscribed to the broadcast filter
  bool own = false;        // subscribed to its own filter
};

std::string own_topic(size_t i) { return "fleet/dev" + std::to_string(i) + "/commands"; }
constexpr std::string_view kBroadcast = "fleet/all/commands";

SubscriptionOptions qos(uint8_t q) {
  SubscriptionOptions o;
  o.qos = q;
  return o;
}

// The broadcast topic reaches exactly the clients subscribed to it, in one group per
// worker (workers ascending, each once), each group by handle, each entry with its
// client's options. Returns the number of failures.
int check_broadcast(const TopicIndex& ix, const std::vector<Client>& clients,
                    const std::vector<std::vector<uint32_t>>& by_worker_handle) {
  MatchResult r;
  ix.match(kBroadcast, r);
  r.finalize(std::nullopt);
  int failures = 0;
  size_t want = 0;
  std::vector<size_t> per_worker(kWorkers, 0);
  for (const Client& c : clients) {
    if (c.broadcast) {
      ++want;
      ++per_worker[c.worker];
    }
  }
  if (r.size() != want) ++failures;
  int last_worker = -1;
  size_t seen = 0;
  for (uint16_t w : r.workers()) {
    if (static_cast<int>(w) <= last_worker || w >= kWorkers) ++failures;
    last_worker = w;
    auto entries = r.entries(w);
    if (entries.size() != per_worker[w]) ++failures;
    const std::vector<uint32_t>& order = by_worker_handle[w];  // client indexes by handle
    size_t k = 0;
    for (size_t e = 0; e < entries.size(); ++e) {
      const MatchResult::Entry& x = entries[e];
      if (x.worker != w || x.shared()) ++failures;
      if (e > 0 && entries[e - 1].subscriber >= x.subscriber) ++failures;
      while (k < order.size() && !clients[order[k]].broadcast) ++k;  // the next live one
      if (k == order.size()) {
        ++failures;
        break;
      }
      const Client& c = clients[order[k++]];
      auto ids = r.subscription_ids(x);
      if (x.subscriber != c.handle || x.qos != c.qos || ids.size() != (c.id ? 1u : 0u) ||
          (c.id && ids[0] != c.id)) {
        ++failures;
      }
    }
    seen += entries.size();
  }
  if (seen != want) ++failures;
  return failures;
}

// A sample of own topics reaches its client alone, or nobody once it left.
int check_own(const TopicIndex& ix, const std::vector<Client>& clients, std::mt19937_64& rng) {
  int failures = 0;
  for (int s = 0; s < 500; ++s) {
    const size_t i = rng() % clients.size();
    auto h = test::match(ix, own_topic(i));
    if (!clients[i].own) {
      failures += !h.empty();
    } else if (h.size() != 1 || h[0].worker != clients[i].worker ||
               h[0].handle != clients[i].handle) {
      ++failures;
    }
  }
  return failures;
}

}  // namespace

TEST_CASE("big sections: 200,000 clients on one filter plus their own, half leave") {
#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
  constexpr size_t kClients = 20000;
#else
  constexpr size_t kClients = 200000;
#endif
  Qsbr qsbr(2);
  TopicIndex ix(qsbr);
  std::mt19937_64 rng(77);
  // Handles per worker are sparse and increasing with the client number, as a worker
  // hands them out; the clients subscribe in a random order.
  std::vector<Client> clients(kClients);
  std::vector<std::vector<uint32_t>> by_worker_handle(kWorkers);
  for (size_t i = 0; i < kClients; ++i) {
    Client& c = clients[i];
    c.worker = static_cast<uint16_t>(i % kWorkers);
    c.handle = 1000 + (i / kWorkers) * 3 + rng() % 3;
    c.qos = static_cast<uint8_t>(i % 3);
    c.id = i % 5 == 0 ? 0 : static_cast<uint32_t>(i + 1);
    by_worker_handle[c.worker].push_back(static_cast<uint32_t>(i));
  }
  std::vector<uint32_t> order(kClients);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  int wrong_returns = 0;
  for (uint32_t i : order) {
    Client& c = clients[i];
    wrong_returns += ix.subscribe(kBroadcast, c.worker, c.handle, qos(c.qos), c.id);
    wrong_returns += ix.subscribe(own_topic(i), c.worker, c.handle, qos(1), 0);
    c.broadcast = c.own = true;
  }
  CHECK(wrong_returns == 0);
  CHECK(ix.counters().subscriptions == 2 * kClients);
  CHECK(ix.counters().trees == 1);  // the broadcast section; every own one is inline
  CHECK(ix.test_check() == "");
  CHECK(check_broadcast(ix, clients, by_worker_handle) == 0);
  CHECK(check_own(ix, clients, rng) == 0);

  // Half leave the broadcast filter, a quarter their own; a tenth re-subscribe with new
  // options (a replacement, in place in the tree).
  for (size_t i = 0; i < kClients; ++i) {
    Client& c = clients[i];
    if (i % 2 == 1) {
      wrong_returns += !ix.unsubscribe(kBroadcast, c.worker, c.handle);
      wrong_returns += ix.unsubscribe(kBroadcast, c.worker, c.handle);
      c.broadcast = false;
    } else if (i % 10 == 0) {
      c.qos = static_cast<uint8_t>((c.qos + 1) % 3);
      c.id = static_cast<uint32_t>(i + 7);
      wrong_returns += !ix.subscribe(kBroadcast, c.worker, c.handle, qos(c.qos), c.id);
    }
    if (i % 4 == 3) {
      wrong_returns += !ix.unsubscribe(own_topic(i), c.worker, c.handle);
      c.own = false;
    }
  }
  CHECK(wrong_returns == 0);
  CHECK(ix.counters().subscriptions == kClients / 2 + kClients * 3 / 4);
  CHECK(ix.test_check() == "");
  CHECK(check_broadcast(ix, clients, by_worker_handle) == 0);
  CHECK(check_own(ix, clients, rng) == 0);

  // The publisher's own no-local subscription is dropped from the big section too.
  Client& p = clients[0];
  SubscriptionOptions nl = qos(p.qos);
  nl.no_local = true;
  CHECK(ix.subscribe(kBroadcast, p.worker, p.handle, nl, p.id));
  CHECK(test::match(ix, kBroadcast, SubscriberKey{p.worker, p.handle}).size() == kClients / 2 - 1);

  // Everyone leaves: nothing is left, not a byte, not a tree.
  for (size_t i = 0; i < kClients; ++i) {
    const Client& c = clients[i];
    if (c.broadcast) wrong_returns += !ix.unsubscribe(kBroadcast, c.worker, c.handle);
    if (c.own) wrong_returns += !ix.unsubscribe(own_topic(i), c.worker, c.handle);
  }
  CHECK(wrong_returns == 0);
  CHECK(ix.counters().subscriptions == 0);
  CHECK(ix.counters().nodes == 0);
  CHECK(ix.counters().bytes == 0);
  CHECK(ix.counters().trees == 0);
  qsbr.reclaim();
  CHECK(qsbr.pending() == 0);
}

TEST_CASE("big shared group: every member is picked once per round") {
  constexpr uint32_t kMembers = 5000;
  Qsbr qsbr(2);
  TopicIndex ix(qsbr);
  for (uint32_t i = 0; i < kMembers; ++i) {
    CHECK_FALSE(ix.subscribe("$share/g/jobs/+", static_cast<uint16_t>(i % kWorkers), i, qos(1), 9));
  }
  CHECK(ix.counters().trees == 1);
  CHECK(ix.test_check() == "");
  auto round = [&](uint32_t matches) {
    std::set<std::pair<uint16_t, uint64_t>> picked;
    MatchResult r;
    for (uint32_t m = 0; m < matches; ++m) {
      ix.match("jobs/x", r);
      r.finalize(std::nullopt);
      REQUIRE(r.size() == 1);
      const MatchResult::Entry& e = r.entries(r.workers()[0])[0];
      CHECK(e.shared());
      picked.insert({e.worker, e.subscriber});
    }
    return picked;
  };
  // The cursor advances by one per match, and a tree picks by rank: one round of
  // kMembers matches visits every member.
  auto picked = round(kMembers);
  CHECK(picked.size() == kMembers);
  for (uint32_t i = 0; i < kMembers; i += 2)
    CHECK(ix.unsubscribe("$share/g/jobs/+", static_cast<uint16_t>(i % kWorkers), i));
  CHECK(ix.test_check() == "");
  picked = round(kMembers / 2);
  CHECK(picked.size() == kMembers / 2);
  for (const auto& [w, h] : picked) CHECK(h % 2 == 1);
  for (uint32_t i = 1; i < kMembers; i += 2)
    CHECK(ix.unsubscribe("$share/g/jobs/+", static_cast<uint16_t>(i % kWorkers), i));
  CHECK(ix.counters().subscriptions == 0);
  CHECK(ix.counters().trees == 0);
  CHECK(ix.counters().bytes == 0);
}

TEST_CASE("a section becomes a tree above flat_max and goes back inline at flat_max / 2") {
  Qsbr qsbr(2);
  TopicIndex ix(qsbr);
  const uint32_t flat_max = TopicIndex::kDefaultTuning.flat_max;
  for (uint32_t i = 0; i < flat_max; ++i) ix.subscribe("t/#", 0, i, qos(0), 0);
  CHECK(ix.counters().trees == 0);
  ix.subscribe("t/#", 0, flat_max, qos(0), 0);
  CHECK(ix.counters().trees == 1);
  CHECK(ix.test_check() == "");
  for (uint32_t i = flat_max; i > flat_max / 2; --i) CHECK(ix.unsubscribe("t/#", 0, i));
  CHECK(ix.counters().trees == 1);  // flat_max / 2 + 1 left: still a tree
  CHECK(test::match(ix, "t/x").size() == flat_max / 2 + 1);
  CHECK(ix.unsubscribe("t/#", 0, flat_max / 2));
  CHECK(ix.counters().trees == 0);
  CHECK(ix.test_check() == "");
  CHECK(test::match(ix, "t").size() == flat_max / 2);
}

// Differential test: 100,000 random filter operations (25,000 in a sanitizer build) (subscribe, re-subscribe with new
// options, unsubscribe; plain and `$share/<group>/` filters, `+` and `#`, `$` levels,
// empty and UTF-8 levels, subscribers on several workers) and 100,000 random topics,
// each matched by the index and by a brute-force model, which must agree exactly: the
// same subscribers, merged the same way (maximum QoS, retain-as-published if any asks,
// every identifier), no-local applied, one pick per shared group, that pick a member of
// the group with its own options.
//
// Three modes: the broker's layout (small sections, inline), every section a B+-tree of
// the smallest shape, and a few crowded filters whose sections grow deep trees and
// cross between the inline and the tree representation both ways. The index's own
// invariants (TopicIndex::test_check) are walked every 512 operations.
//
// The model keeps levels as small integers so that 100,000 x (live subscriptions)
// reference matches stay cheap in a -O0 sanitizer build; it is checked against the
// string reference_matches() of routing_test_util.h on a sample of pairs.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "routing_test_util.h"

using namespace mqttd;
using mqttd::test::Hit;

namespace {

// Level vocabulary: ids 0.. index kLevels; the last two start with `$`.
const char* const kLevels[] = {"a", "b", "c", "", "k\xC3\xBC\x68l", "level-longer-than-8", "$x", "$SYS"};
constexpr int8_t kNumPlain = 6;   // ids that may appear at any level
constexpr int8_t kNumLevels = 8;  // ids 6, 7: `$` levels, first level only
constexpr int8_t kPlus = -1, kHash = -2;

struct Levels {
  int8_t v[5];
  uint8_t n;
};

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(g() % n); }
  bool chance(uint32_t percent) { return below(100) < percent; }
};

Levels random_topic(Rng& r) {
  Levels t{};
  t.n = static_cast<uint8_t>(1 + r.below(5));
  for (int i = 0; i < t.n; ++i) {
    t.v[i] = i == 0 && r.chance(10) ? static_cast<int8_t>(kNumPlain + r.below(2)) : static_cast<int8_t>(r.below(kNumPlain));
  }
  if (t.n == 1 && t.v[0] == 3) t.v[0] = 0;  // "" alone is no topic name
  return t;
}

Levels random_filter(Rng& r) {
  Levels f{};
  f.n = static_cast<uint8_t>(1 + r.below(5));
  for (int i = 0; i < f.n; ++i) {
    if (i + 1 == f.n && r.chance(20)) {
      f.v[i] = kHash;
    } else if (r.chance(25)) {
      f.v[i] = kPlus;
    } else if (i == 0 && r.chance(10)) {
      f.v[i] = static_cast<int8_t>(kNumPlain + r.below(2));
    } else {
      f.v[i] = static_cast<int8_t>(r.below(kNumPlain));
    }
  }
  if (f.n == 1 && f.v[0] == 3) f.v[0] = kPlus;  // "" alone is no filter
  return f;
}

std::string text(const Levels& l) {
  std::string s;
  for (int i = 0; i < l.n; ++i) {
    if (i) s += '/';
    s += l.v[i] == kPlus ? "+" : l.v[i] == kHash ? "#" : kLevels[l.v[i]];
  }
  return s;
}

// MQTT 5.0 4.7 on level ids: the same rules as test::reference_matches.
bool model_matches(const Levels& f, const Levels& t) {
  if (t.v[0] >= kNumPlain && (f.v[0] == kPlus || f.v[0] == kHash)) return false;  // MQTT-4.7.2-1
  int i = 0;
  for (; i < f.n; ++i) {
    if (f.v[i] == kHash) return true;  // the parent level and any number below
    if (i >= t.n) return false;
    if (f.v[i] != kPlus && f.v[i] != t.v[i]) return false;
  }
  return i == t.n;
}

struct Sub {
  uint16_t worker;
  uint64_t handle;
  int group;  // -1: plain; else the share group g<group>
  Levels filter;
  std::string filter_text;
  SubscriptionOptions o;
  uint32_t id;

  bool same_key(const Sub& s) const {
    return worker == s.worker && handle == s.handle && group == s.group && filter_text == s.filter_text;
  }
  std::string full() const { return group < 0 ? filter_text : "$share/g" + std::to_string(group) + "/" + filter_text; }
};

// Filters the concentrated mode draws from: few, mostly wildcards, so that sections
// grow to hundreds of subscribers and most topics reach some of them.
const char* const kPool[] = {"#", "+", "a/#", "+/+", "a/+", "+/b/#", "a", "$x/#"};

Levels parse(std::string_view f) {
  Levels l{};
  for (std::string_view lv : test::split(f)) {
    int8_t v = lv == "+" ? kPlus : lv == "#" ? kHash : -3;
    for (int8_t i = 0; i < kNumLevels && v == -3; ++i) {
      if (lv == kLevels[i]) v = i;
    }
    l.v[l.n++] = v;
  }
  return l;
}

struct Mode {
  TopicIndex::Tuning tuning;
  int ops;
  size_t population;  // live subscriptions the model hovers around
  uint32_t handles;   // per worker
  bool pooled;        // filters from kPool, else random ones
  uint32_t share_percent;
};

// Returns the most sections held as trees at once.
uint64_t run(const Mode& mode) {
  const int kOps = mode.ops;
  const size_t kPopulation = mode.population;
  Rng rng(0x5EEDC0DEull);
  Qsbr qsbr(2);
  TopicIndex ix(qsbr, mode.tuning);
  uint64_t max_trees = 0;
  std::vector<Sub> subs;
  std::map<std::string, uint32_t> group_ids;  // "g/filter" -> the id all its members use
  MatchResult r;
  int64_t mismatches = 0, model_errors = 0;
  uint64_t delivered = 0, shared_picks = 0;

  for (int op = 0; op < kOps; ++op) {
    // ---- one filter operation -------------------------------------------------------
    const bool remove = !subs.empty() && (subs.size() > kPopulation ? rng.chance(70) : rng.chance(30));
    if (remove) {
      size_t i = rng.below(static_cast<uint32_t>(subs.size()));
      CHECK(ix.unsubscribe(subs[i].full(), subs[i].worker, subs[i].handle));
      CHECK_FALSE(ix.unsubscribe(subs[i].full(), subs[i].worker, subs[i].handle));
      subs[i] = std::move(subs.back());
      subs.pop_back();
    } else {
      Sub s;
      s.worker = static_cast<uint16_t>(rng.below(4));
      s.handle = 1 + rng.below(mode.handles);
      s.group = rng.chance(mode.share_percent) ? static_cast<int>(rng.below(3)) : -1;
      if (mode.pooled) {
        s.filter_text = kPool[rng.below(std::size(kPool))];
        s.filter = parse(s.filter_text);
      } else {
        s.filter = random_filter(rng);
        s.filter_text = text(s.filter);
      }
      s.o.qos = static_cast<uint8_t>(rng.below(3));
      s.o.no_local = s.group < 0 && rng.chance(20);  // no-local on a shared subscription is refused earlier
      s.o.retain_as_published = rng.chance(30);
      s.o.retain_handling = static_cast<uint8_t>(rng.below(3));
      if (s.group < 0) {
        s.id = rng.chance(40) ? 0 : 1 + rng.below(50);
      } else {
        // Every member of one (group, filter) carries the same identifier, so a pick
        // names the group it was made for.
        auto [it, fresh] = group_ids.try_emplace(s.full(), 0);
        if (fresh) it->second = 1000000 + static_cast<uint32_t>(group_ids.size());
        s.id = it->second;
      }
      auto it = std::find_if(subs.begin(), subs.end(), [&](const Sub& x) { return x.same_key(s); });
      CHECK(ix.subscribe(s.full(), s.worker, s.handle, s.o, s.id) == (it != subs.end()));
      if (it != subs.end()) {
        *it = std::move(s);
      } else {
        subs.push_back(std::move(s));
      }
    }
    if (op % 64 == 0) CHECK(ix.counters().subscriptions == subs.size());
    if (op % 512 == 0) CHECK(ix.test_check() == "");
    max_trees = std::max(max_trees, ix.counters().trees);

    // ---- one topic ------------------------------------------------------------------
    const Levels topic = random_topic(rng);
    const std::string topic_text = text(topic);
    std::optional<SubscriberKey> publisher;
    if (rng.chance(50)) publisher = SubscriberKey{static_cast<uint16_t>(rng.below(4)), 1 + rng.below(mode.handles)};

    // The model: plain subscriptions merged per subscriber; shared ones per group id.
    std::vector<Hit> want;
    std::map<uint32_t, std::vector<const Sub*>> groups;
    for (const Sub& s : subs) {
      const bool m = model_matches(s.filter, topic);
      if (op % 100 == 0 && m != test::reference_matches(s.filter_text, topic_text)) ++model_errors;
      if (!m) continue;
      if (s.group >= 0) {
        groups[s.id].push_back(&s);
        continue;
      }
      if (s.o.no_local && publisher && publisher->worker == s.worker && publisher->handle == s.handle) continue;
      auto x = std::find_if(want.begin(), want.end(),
                            [&](const Hit& h) { return h.worker == s.worker && h.handle == s.handle; });
      if (x == want.end()) {
        want.push_back(Hit{s.worker, s.handle, s.o.qos, false, s.o.retain_as_published, {}});
        x = want.end() - 1;
      } else {
        x->qos = std::max(x->qos, s.o.qos);
        x->rap = x->rap || s.o.retain_as_published;
      }
      if (s.id != 0) x->ids.push_back(s.id);
    }
    for (Hit& x : want) {
      std::sort(x.ids.begin(), x.ids.end());
      x.ids.erase(std::unique(x.ids.begin(), x.ids.end()), x.ids.end());
    }
    // Plain hits are unique per (worker, handle): ordering by that alone is cheap.
    auto by_key = [](const Hit& a, const Hit& b) { return a.worker != b.worker ? a.worker < b.worker : a.handle < b.handle; };
    std::sort(want.begin(), want.end(), by_key);

    // The index.
    ix.match(topic_text, r);
    r.finalize(publisher);
    std::vector<Hit> got_plain;
    std::set<uint32_t> picked;
    bool ok = true;
    uint16_t last_worker = 0;
    for (uint16_t w : r.workers()) {
      ok = ok && w >= last_worker;  // ascending, one group per worker
      last_worker = static_cast<uint16_t>(w + 1);
      for (const MatchResult::Entry& e : r.entries(w)) {
        ok = ok && e.worker == w;
        auto ids = r.subscription_ids(e);
        Hit x{w, e.subscriber, e.qos, e.shared(), e.retain_as_published(), {ids.begin(), ids.end()}};
        ++delivered;
        if (!x.shared) {
          got_plain.push_back(std::move(x));
          continue;
        }
        ++shared_picks;
        // A pick: of a group that matches, made once, of a member, with its options.
        if (x.ids.size() != 1 || !groups.count(x.ids[0]) || !picked.insert(x.ids[0]).second) {
          ok = false;
          continue;
        }
        bool member = false;
        for (const Sub* s : groups[x.ids[0]]) {
          member = member || (s->worker == w && s->handle == e.subscriber && s->o.qos == x.qos &&
                              s->o.retain_as_published == x.rap);
        }
        ok = ok && member;
      }
    }
    std::sort(got_plain.begin(), got_plain.end(), by_key);
    ok = ok && got_plain == want && picked.size() == groups.size();
    if (!ok) {
      ++mismatches;
      if (mismatches <= 5) {
        MESSAGE("mismatch at op " << op << " topic '" << topic_text << "': want " << want.size() << " plain + "
                                  << groups.size() << " groups, got " << got_plain.size() << " plain + "
                                  << picked.size() << " picks");
      }
    }
  }
  CHECK(mismatches == 0);
  CHECK(model_errors == 0);
  // The run must have exercised what it claims to: plenty of deliveries and shared picks.
  CHECK(delivered > kOps);
  CHECK(shared_picks > kOps / 20);

  // Everything removed: the trie is pruned away and nothing is left retired.
  for (const Sub& s : subs) CHECK(ix.unsubscribe(s.full(), s.worker, s.handle));
  CHECK(ix.counters().subscriptions == 0);
  CHECK(ix.counters().nodes == 0);
  CHECK(ix.counters().bytes == 0);
  CHECK(ix.counters().trees == 0);
  qsbr.reclaim();
  CHECK(qsbr.pending() == 0);
  return max_trees;
}

#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
constexpr int kScale = 4;  // a -O0 sanitizer build runs the model ~30x slower
#else
constexpr int kScale = 1;
#endif

}  // namespace

TEST_CASE("differential: the trie and a brute-force model agree on 100,000 random topics") {
  // The broker's layout: sections this small stay inline.
  run(Mode{TopicIndex::kDefaultTuning, 100000 / kScale, 300, 40, false, 15});
}

TEST_CASE("differential: every section a tree of the smallest shape") {
  // flat_max 0: each section and group, from its first subscriber, is a B+-tree of
  // leaves of 4 and nodes of 4, created and destroyed as sections come and go.
  CHECK(run(Mode{{0, 4, 4}, 40000 / kScale, 300, 40, false, 15}) > 50);
}

TEST_CASE("differential: a few crowded filters, deep trees, inline <-> tree switches") {
  // ~800 subscriptions on 8 filters: sections of ~70 (trees of height 3-4 at this shape)
  // and shared groups of ~10, crossing flat_max (8) and flat_max / 2 both ways.
  CHECK(run(Mode{{8, 4, 4}, 12000 / kScale, 800, 100, true, 30}) >= 8);
}

// The persistent HAMT on its own, with leaves whose hashes the test chooses: equal hashes
// (collision nodes), hashes that agree on every 5-bit chunk but the last (the deepest
// level, shift 30), and random ones; checked against std::map after every operation,
// with the structure's own invariants walked each time.
#include "routing/hamt.h"

#include <doctest/doctest.h>

#include <bit>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace mqttd;

namespace {

struct alignas(8) Leaf {
  uint32_t h;
  std::string k;
  uint32_t hash() const { return h; }
  std::string_view key() const { return k; }
};
using T = hamt::Trie<Leaf>;

// Walks the trie: every leaf sits where its hash bits say, bitmaps agree with counts,
// collision nodes hold >= 2 leaves of one hash, no non-root node is empty, no node below
// the root holds a lone leaf (it would have been hoisted). Returns the leaves seen.
size_t check_node(const hamt::Node* n, unsigned shift, uint32_t prefix, bool root) {
  if (n->collision()) {
    CHECK(n->count >= 2);
    uint32_t h = T::as_leaf(n->slots()[0])->hash();
    for (uint32_t i = 0; i < n->count; ++i) {
      REQUIRE_FALSE(T::is_node(n->slots()[i]));
      CHECK(T::as_leaf(n->slots()[i])->hash() == h);
    }
    CHECK((shift >= 32 || (h & ((1u << shift) - 1)) == prefix));
    return n->count;
  }
  REQUIRE(shift <= 30);
  CHECK(static_cast<uint32_t>(std::popcount(n->bitmap)) == n->count);
  CHECK((root || n->count >= 1));
  if (!root && n->count == 1) CHECK(T::is_node(n->slots()[0]));
  size_t leaves = 0;
  uint32_t i = 0;
  for (unsigned b = 0; b < 32; ++b) {
    if (!(n->bitmap & (1u << b))) continue;
    uintptr_t s = n->slots()[i++];
    uint32_t p = prefix | (b << shift);
    if (T::is_node(s)) {
      leaves += check_node(T::as_node(s), shift + 5, p, false);
    } else {
      uint32_t mask = shift + 5 >= 32 ? ~0u : (1u << (shift + 5)) - 1;
      CHECK((T::as_leaf(s)->hash() & mask) == p);
      ++leaves;
    }
  }
  return leaves;
}

struct Model {
  Qsbr qsbr{1};  // nobody registered: everything retired is freed at the next reclaim
  const hamt::Node* root = nullptr;
  std::map<std::string, std::unique_ptr<Leaf>> leaves;
  int64_t bytes = 0;

  void insert(uint32_t h, const std::string& k) {
    auto l = std::make_unique<Leaf>(Leaf{h, k});
    hamt::WriteCtx c;
    root = T::insert(root, l.get(), c);
    done(c);
    leaves[k] = std::move(l);
  }
  void erase(const std::string& k) {
    hamt::WriteCtx c;
    root = T::erase(root, leaves.at(k).get(), c);
    done(c);
    leaves.erase(k);
  }
  // Replaces the leaf of `k` by an equal one at another address.
  void replace(const std::string& k) {
    auto l = std::make_unique<Leaf>(*leaves.at(k));
    hamt::WriteCtx c;
    root = T::replace(root, leaves.at(k).get(), l.get(), c);
    done(c);
    leaves[k] = std::move(l);
  }
  void done(hamt::WriteCtx& c) {
    bytes += c.bytes;
    qsbr.retire(c.retired);
    qsbr.reclaim();
  }
  void verify() {
    for (const auto& [k, l] : leaves) CHECK(T::find(root, l->h, k) == l.get());
    size_t seen = 0;
    T::for_each(root, [&](Leaf*) { ++seen; });
    CHECK(seen == leaves.size());
    if (root == nullptr) {
      CHECK(leaves.empty());
      CHECK(bytes == 0);
    } else {
      CHECK(check_node(root, 0, 0, true) == leaves.size());
    }
  }
  ~Model() {
    T::destroy(root, [](Leaf*) {});
  }
};

}  // namespace

TEST_CASE("hamt: collisions, deepest level, replace and hoisting agree with a map") {
  // Hash families: all equal; equal but for the top two bits (shift 30); a few values
  // sharing long prefixes; random.
  std::mt19937 rng(12345);
  const uint32_t base = 0x2A5A5A5Au;
  auto pick_hash = [&](int family) -> uint32_t {
    switch (family) {
      case 0: return base;
      case 1: return base ^ (static_cast<uint32_t>(rng() % 4) << 30);
      case 2: return base ^ (static_cast<uint32_t>(rng() % 8) << (5 * (rng() % 7)));
      default: return static_cast<uint32_t>(rng());
    }
  };
  for (int round = 0; round < 40; ++round) {
    Model m;
    const int family = round % 5 == 4 ? static_cast<int>(rng() % 4) : round % 4;
    for (int step = 0; step < 400; ++step) {
      bool grow = m.leaves.size() < 8 || rng() % 3 != 0;
      if (grow) {
        std::string k = "k" + std::to_string(rng() % 100000);
        if (m.leaves.count(k)) continue;
        m.insert(pick_hash(family == 4 ? static_cast<int>(rng() % 4) : family), k);
      } else {
        auto it = m.leaves.begin();
        std::advance(it, rng() % m.leaves.size());
        if (rng() % 3 == 0) {
          m.replace(it->first);
        } else {
          m.erase(it->first);
        }
      }
      // Absent keys: same hash as a present leaf, other key.
      if (!m.leaves.empty()) {
        const Leaf& any = *m.leaves.begin()->second;
        CHECK(T::find(m.root, any.h, "absent") == nullptr);
      }
      if (step % 16 == 0) m.verify();
    }
    m.verify();
    while (!m.leaves.empty()) {
      m.erase(m.leaves.begin()->first);
      if (m.leaves.size() % 8 == 0) m.verify();
    }
    CHECK(m.root == nullptr);
    CHECK(m.bytes == 0);
  }
}

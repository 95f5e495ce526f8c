// The persistent B+-tree of big sections on its own: random upserts and erases checked
// against std::map after every operation (content, rank selection, membership, the
// structure's invariants), at the smallest shape (deep trees from few records) and at
// the default one; every old version must still read as it was until its nodes are
// freed (persistence); bytes return to zero; appending fills leaves.
#include "routing/sub_tree.h"

#include <doctest/doctest.h>

#include <iterator>
#include <map>
#include <random>
#include <vector>

using namespace mqttd;
using subtree::SubRec;

namespace {

using Key = std::pair<uint16_t, uint64_t>;

SubRec rec(uint16_t worker, uint64_t handle, uint32_t id) {
  return SubRec{handle, id, worker, 1, 0};
}

std::vector<SubRec> content(const subtree::Node* t) {
  std::vector<SubRec> v;
  subtree::Editor::collect(t, v);
  return v;
}

bool equal(const std::vector<SubRec>& v, const std::map<Key, uint32_t>& m) {
  if (v.size() != m.size()) return false;
  size_t i = 0;
  for (const auto& [k, id] : m) {
    const SubRec& r = v[i++];
    if (r.worker != k.first || r.handle != k.second || r.sub_id != id) return false;
  }
  return true;
}

bool same(const std::vector<SubRec>& a, const std::vector<SubRec>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].same(b[i])) return false;
  }
  return true;
}

// Frees what an edit retired (no reader exists in these tests).
void free_retired(hamt::WriteCtx& ctx) {
  for (const Qsbr::Retiree& r : ctx.retired) r.fn(r.p);
  ctx.retired.clear();
}

void run_random(const subtree::Shape& shape, int ops, uint32_t key_space, uint64_t seed) {
  hamt::WriteCtx ctx;
  subtree::Editor ed(shape, ctx);
  std::map<Key, uint32_t> model;
  const subtree::Node* root = nullptr;
  std::mt19937_64 rng(seed);
  int failures = 0;
  uint32_t max_height = 0;
  for (int op = 0; op < ops; ++op) {
    const uint16_t w = static_cast<uint16_t>(rng() % 5);
    const uint64_t h = rng() % key_space;
    const bool erase = model.size() > key_space / 2 ? rng() % 100 < 60 : rng() % 100 < 35;
    const std::vector<SubRec> before = op % 16 == 0 ? content(root) : std::vector<SubRec>();
    const subtree::Node* old = root;
    bool existed = false;
    if (erase) {
      root = ed.erase(root, rec(w, h, 0), existed);
      CHECK(existed == (model.erase({w, h}) == 1));
      if (!existed) CHECK(root == old);
    } else {
      const uint32_t id = static_cast<uint32_t>(rng() % 3);
      auto it = model.find({w, h});
      const bool same = it != model.end() && it->second == id;
      root = ed.upsert(root, rec(w, h, id), existed);
      CHECK(existed == (it != model.end()));
      CHECK((root == old) == same);
      model[{w, h}] = id;
    }
    // The old version is untouched until its replaced nodes are freed.
    if (op % 16 == 0 && !same(content(old), before)) ++failures;
    free_retired(ctx);

    if (!subtree::Editor::check(root, shape).empty()) {
      if (++failures <= 3) MESSAGE("op " << op << ": " << subtree::Editor::check(root, shape));
    }
    if (!equal(content(root), model)) ++failures;
    if (root) {
      max_height = std::max<uint32_t>(max_height, root->height);
      CHECK(root->total == model.size());
      // Rank selection and membership, on a sample.
      const uint32_t i = static_cast<uint32_t>(rng() % root->total);
      auto it = model.begin();
      std::advance(it, i);
      const SubRec& r = subtree::select(root, i);
      if (r.worker != it->first.first || r.handle != it->first.second) ++failures;
      if (!subtree::contains(root, rec(w, h, 0)) != !model.count({w, h})) ++failures;
    } else {
      CHECK(model.empty());
    }
  }
  CHECK(failures == 0);
  CHECK(max_height >= 2);  // the run reached interior nodes above interior nodes
  // Erase everything: the tree is gone, and so are its bytes.
  while (!model.empty()) {
    bool existed = false;
    auto [w, h] = model.begin()->first;
    root = ed.erase(root, rec(w, h, 0), existed);
    CHECK(existed);
    model.erase(model.begin());
    free_retired(ctx);
    REQUIRE(subtree::Editor::check(root, shape).empty());
  }
  CHECK(root == nullptr);
  CHECK(ctx.bytes == 0);
}

}  // namespace

#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
constexpr int kOps = 5000;
#else
constexpr int kOps = 20000;
#endif

TEST_CASE("sub_tree: random upserts and erases at the smallest shape agree with std::map") {
  run_random(subtree::Shape{4, 4}, kOps, 200, 1);
}

TEST_CASE("sub_tree: random upserts and erases at a mid shape, larger key space") {
  run_random(subtree::Shape{8, 5}, kOps / 2, 600, 2);
}

TEST_CASE("sub_tree: bulk build, appends fill leaves, select walks in order") {
  const subtree::Shape shape{64, 32};
  hamt::WriteCtx ctx;
  subtree::Editor ed(shape, ctx);
  for (uint32_t n : {1u, 63u, 64u, 65u, 129u, 2049u, 70000u}) {
    std::vector<SubRec> recs;
    for (uint32_t i = 0; i < n; ++i) recs.push_back(rec(static_cast<uint16_t>(i / 1000), i, i));
    const subtree::Node* t = ed.build(recs);
    CHECK(subtree::Editor::check(t, shape) == "");
    CHECK(t->total == n);
    CHECK(content(t).size() == n);
    for (uint32_t i = 0; i < n; i += 1 + n / 50) CHECK(subtree::select(t, i).handle == i);
    subtree::Editor::destroy(t);
  }
  // Keys appended in order on 16 workers, as sessions arrive: leaves end up mostly full.
  const subtree::Node* t = nullptr;
  constexpr uint32_t kN = 50000;
  for (uint32_t i = 0; i < kN; ++i) {
    bool existed;
    t = ed.upsert(t, rec(static_cast<uint16_t>(i % 16), i, 0), existed);
    free_retired(ctx);
  }
  REQUIRE(subtree::Editor::check(t, shape) == "");
  uint32_t leaves = 0;
  subtree::for_each_leaf(t, [&](std::span<const SubRec>) { ++leaves; });
  CHECK(leaves * shape.leaf_max * 3 / 4 < kN);  // average fill over 75%
  subtree::Editor::destroy(t);
}

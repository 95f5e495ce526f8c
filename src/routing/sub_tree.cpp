// The persistent B+-tree of big subscription sections; the contract is in sub_tree.h.
#include "routing/sub_tree.h"

#include <algorithm>
#include <new>

namespace mqttd::subtree {

namespace {

void free_raw(void* p) { ::operator delete(p); }

// The slot whose child holds (or would hold) `key`: the last whose least key is <= key,
// else the first.
uint32_t route(const Node* n, const SubRec& key) {
  const Slot* s = n->slots();
  const Slot* it = std::upper_bound(s + 1, s + n->n, key, [](const SubRec& k, const Slot& x) {
    return key_less(k.worker, k.handle, x.min_worker, x.min_handle);
  });
  return static_cast<uint32_t>(it - s) - 1;
}

Slot slot_of(const Node* c) {
  Slot s{};
  s.child = c;
  s.count = c->total;
  if (c->height == 0) {
    s.min_handle = c->recs()[0].handle;
    s.min_worker = c->recs()[0].worker;
  } else {
    s.min_handle = c->slots()[0].min_handle;
    s.min_worker = c->slots()[0].min_worker;
  }
  return s;
}

}  // namespace

bool contains(const Node* n, const SubRec& key) {
  if (n == nullptr) return false;
  while (n->height != 0) n = n->slots()[route(n, key)].child;
  const SubRec* b = n->recs();
  const SubRec* e = b + n->n;
  const SubRec* it = std::lower_bound(b, e, key, rec_less);
  return it != e && it->same_key(key);
}

Node* Editor::alloc(uint32_t n, uint8_t height) {
  const size_t sz = sizeof(Node) + n * (height ? sizeof(Slot) : sizeof(SubRec));
  ctx_.bytes += static_cast<int64_t>(sz);
  Node* m = new (::operator new(sz)) Node;
  m->total = 0;
  m->n = static_cast<uint16_t>(n);
  m->height = height;
  m->unused = 0;
  return m;
}

const Node* Editor::make_leaf(std::span<const SubRec> recs) {
  Node* m = alloc(static_cast<uint32_t>(recs.size()), 0);
  std::copy(recs.begin(), recs.end(), m->recs());
  m->total = static_cast<uint32_t>(recs.size());
  return m;
}

const Node* Editor::make_inner(std::span<const Slot> slots, uint8_t height) {
  Node* m = alloc(static_cast<uint32_t>(slots.size()), height);
  std::copy(slots.begin(), slots.end(), m->slots());
  uint32_t total = 0;
  for (const Slot& s : slots) total += s.count;
  m->total = total;
  return m;
}

// Both parts stay within [min, max] (total is max + 1 here). Without a hint, halves.
// With one, as close to it as that allows: an insert splits right after the key it
// added when that key ends its worker's run in the node, and right before it when it
// starts one. Records mostly arrive in increasing handle order per worker (a worker
// hands handles out that way), each worker appending at the end of its own run: cut at
// the run's end, the part behind stays full and the next appends go to the new node,
// so leaves end up about three quarters full rather than half, and a leaf holds one
// worker's records rather than a mix.
uint32_t Editor::cut(uint32_t total, uint32_t min, uint32_t hint) {
  if (hint == 0) return total / 2;
  return std::clamp(hint, min, total - min);
}

Editor::Pair Editor::make_leaves(std::span<const SubRec> recs, uint32_t hint) {
  if (recs.size() <= shape_.leaf_max) return {make_leaf(recs), nullptr};
  const uint32_t c = cut(static_cast<uint32_t>(recs.size()), shape_.leaf_min(), hint);
  return {make_leaf(recs.first(c)), make_leaf(recs.subspan(c))};
}

Editor::Pair Editor::make_inners(std::span<const Slot> slots, uint8_t height, uint32_t hint) {
  if (slots.size() <= shape_.fanout) return {make_inner(slots, height), nullptr};
  const uint32_t c = cut(static_cast<uint32_t>(slots.size()), shape_.inner_min(), hint);
  return {make_inner(slots.first(c), height), make_inner(slots.subspan(c), height)};
}

void Editor::retire(const Node* n) { ctx_.retire(n, n->size(), free_raw); }

void Editor::discard(const Node* n) {
  ctx_.bytes -= static_cast<int64_t>(n->size());
  ::operator delete(const_cast<Node*>(n));
}

Editor::Pair Editor::upsert_at(const Node* n, const SubRec& r, bool& existed, bool& changed) {
  if (n->height == 0) {
    const SubRec* b = n->recs();
    const SubRec* e = b + n->n;
    const SubRec* it = std::lower_bound(b, e, r, rec_less);
    existed = it != e && it->same_key(r);
    changed = !(existed && it->same(r));
    if (!changed) return {n, nullptr};
    recs_.assign(b, it);
    recs_.push_back(r);
    recs_.insert(recs_.end(), existed ? it + 1 : it, e);
    // The split hint (see cut()): after the new record when it ends its worker's run
    // here, before it when it starts one.
    const size_t p = static_cast<size_t>(it - b);
    uint32_t hint = 0;
    if (p + 1 == recs_.size() || recs_[p + 1].worker != r.worker) {
      hint = static_cast<uint32_t>(p + 1);
    } else if (p == 0 || recs_[p - 1].worker != r.worker) {
      hint = static_cast<uint32_t>(p);
    }
    retire(n);
    return make_leaves(recs_, hint);
  }
  const uint32_t j = route(n, r);
  const Pair c = upsert_at(n->slots()[j].child, r, existed, changed);
  if (!changed) return {n, nullptr};
  // After the recursion: the child is done with the scratch vectors.
  slots_.assign(n->slots(), n->slots() + n->n);
  slots_[j] = slot_of(c.left);
  uint32_t hint = 0;  // as in a leaf, for the new child at j + 1
  if (c.right != nullptr) {
    slots_.insert(slots_.begin() + j + 1, slot_of(c.right));
    if (j + 2 == slots_.size() || slots_[j + 2].min_worker != r.worker) hint = j + 2;
  }
  retire(n);
  return make_inners(slots_, n->height, hint);
}

const Node* Editor::upsert(const Node* root, const SubRec& r, bool& existed) {
  existed = false;
  if (root == nullptr) return make_leaf({&r, 1});
  bool changed = false;
  const Pair p = upsert_at(root, r, existed, changed);
  if (!changed) return root;
  if (p.right == nullptr) return p.left;
  const Slot two[2] = {slot_of(p.left), slot_of(p.right)};
  return make_inner(two, static_cast<uint8_t>(p.left->height + 1));
}

void Editor::fix_underflow(uint32_t j, const Node* c, uint8_t child_height) {
  const uint32_t sj = j + 1 < slots_.size() ? j + 1 : j - 1;  // an interior node has >= 2 slots
  if (c == nullptr) {  // an emptied leaf: drop it; its sibling is untouched
    slots_.erase(slots_.begin() + j);
    return;
  }
  const Node* s = slots_[sj].child;
  const Node* left = j < sj ? c : s;
  const Node* right = j < sj ? s : c;
  const uint32_t lo = std::min(j, sj);
  // Merge when both fit in one node; else split the pair evenly (each part then exceeds
  // half the maximum, so both are at least the minimum).
  Pair p;
  if (child_height == 0) {
    recs_.assign(left->recs(), left->recs() + left->n);
    recs_.insert(recs_.end(), right->recs(), right->recs() + right->n);
    std::span<const SubRec> all(recs_);
    p = all.size() <= shape_.leaf_max
            ? Pair{make_leaf(all), nullptr}
            : Pair{make_leaf(all.first(all.size() / 2)), make_leaf(all.subspan(all.size() / 2))};
  } else {
    slots2_.assign(left->slots(), left->slots() + left->n);
    slots2_.insert(slots2_.end(), right->slots(), right->slots() + right->n);
    std::span<const Slot> all(slots2_);
    p = all.size() <= shape_.fanout ? Pair{make_inner(all, child_height), nullptr}
                                    : Pair{make_inner(all.first(all.size() / 2), child_height),
                                           make_inner(all.subspan(all.size() / 2), child_height)};
  }
  discard(c);
  retire(s);
  slots_[lo] = slot_of(p.left);
  if (p.right != nullptr) {
    slots_[lo + 1] = slot_of(p.right);
  } else {
    slots_.erase(slots_.begin() + lo + 1);
  }
}

const Node* Editor::erase_at(const Node* n, const SubRec& key, bool& existed) {
  if (n->height == 0) {
    const SubRec* b = n->recs();
    const SubRec* e = b + n->n;
    const SubRec* it = std::lower_bound(b, e, key, rec_less);
    existed = it != e && it->same_key(key);
    if (!existed) return n;
    retire(n);
    if (n->n == 1) return nullptr;
    recs_.assign(b, it);
    recs_.insert(recs_.end(), it + 1, e);
    return make_leaf(recs_);
  }
  const uint32_t j = route(n, key);
  const Node* old = n->slots()[j].child;
  const Node* c = erase_at(old, key, existed);
  if (!existed) return n;
  slots_.assign(n->slots(), n->slots() + n->n);
  const uint32_t min = old->height ? shape_.inner_min() : shape_.leaf_min();
  if (c != nullptr && c->n >= min) {
    slots_[j] = slot_of(c);
  } else {
    fix_underflow(j, c, old->height);
  }
  retire(n);
  return make_inner(slots_, n->height);  // may be underfull: our parent fixes that
}

const Node* Editor::erase(const Node* root, const SubRec& key, bool& existed) {
  existed = false;
  if (root == nullptr) return nullptr;
  const Node* r = erase_at(root, key, existed);
  if (!existed) return root;
  // A root with one child gives way to it (it was built by this edit: never published).
  while (r != nullptr && r->height != 0 && r->n == 1) {
    const Node* c = r->slots()[0].child;
    discard(r);
    r = c;
  }
  return r;
}

const Node* Editor::build(std::span<const SubRec> recs) {
  if (recs.empty()) return nullptr;
  // Each level cut into the fewest nodes that hold it, as evenly as possible: with two
  // or more, each holds at least half the maximum.
  std::vector<Slot> level;
  const size_t n = recs.size();
  size_t k = (n + shape_.leaf_max - 1) / shape_.leaf_max;
  for (size_t i = 0; i < k; ++i) {
    const size_t lo = i * n / k, hi = (i + 1) * n / k;
    level.push_back(slot_of(make_leaf(recs.subspan(lo, hi - lo))));
  }
  for (uint8_t height = 1; level.size() > 1; ++height) {
    std::vector<Slot> up;
    const size_t m = level.size();
    k = (m + shape_.fanout - 1) / shape_.fanout;
    for (size_t i = 0; i < k; ++i) {
      const size_t lo = i * m / k, hi = (i + 1) * m / k;
      up.push_back(slot_of(make_inner(std::span<const Slot>(level).subspan(lo, hi - lo), height)));
    }
    level = std::move(up);
  }
  return level[0].child;
}

void Editor::retire_all(const Node* n) {
  if (n == nullptr) return;
  if (n->height != 0) {
    for (uint32_t i = 0; i < n->n; ++i) retire_all(n->slots()[i].child);
  }
  retire(n);
}

void Editor::collect(const Node* root, std::vector<SubRec>& out) {
  if (root == nullptr) return;
  for_each_leaf(
      root, [&](std::span<const SubRec> recs) { out.insert(out.end(), recs.begin(), recs.end()); });
}

void Editor::destroy(const Node* n) {
  if (n == nullptr) return;
  if (n->height != 0) {
    for (uint32_t i = 0; i < n->n; ++i) destroy(n->slots()[i].child);
  }
  ::operator delete(const_cast<Node*>(n));
}

namespace {

struct Checker {
  const Shape& shape;
  std::string err;
  bool have_last = false;
  SubRec last{};
  int leaf_depth = -1;

  void fail(const std::string& what) {
    if (err.empty()) err = what;
  }
  void walk(const Node* n, int depth, bool root) {
    const uint32_t max = n->height ? shape.fanout : shape.leaf_max;
    const uint32_t min =
        root ? (n->height ? 2 : 1) : (n->height ? shape.inner_min() : shape.leaf_min());
    if (n->n < min || n->n > max) {
      fail("node of height " + std::to_string(n->height) + " holds " + std::to_string(n->n) +
           (root ? " (root)" : "") + ", outside [" + std::to_string(min) + ", " +
           std::to_string(max) + "]");
    }
    if (n->height == 0) {
      if (leaf_depth < 0) leaf_depth = depth;
      if (depth != leaf_depth) fail("leaves at different depths");
      if (n->total != n->n) fail("leaf total differs from its size");
      for (uint32_t i = 0; i < n->n; ++i) {
        const SubRec& r = n->recs()[i];
        if (have_last && !rec_less(last, r)) fail("keys out of order or repeated");
        last = r;
        have_last = true;
      }
      return;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < n->n; ++i) {
      const Slot& s = n->slots()[i];
      if (s.child->height + 1 != n->height) fail("child height is not one below its parent");
      if (s.count != s.child->total) fail("slot count differs from the child's total");
      const Slot real = slot_of(s.child);
      if (real.min_worker != s.min_worker || real.min_handle != s.min_handle)
        fail("slot key is not the child's least key");
      total += s.count;
      walk(s.child, depth + 1, false);
    }
    if (total != n->total) fail("interior total differs from the sum of its slots");
  }
};

}  // namespace

std::string Editor::check(const Node* root, const Shape& shape) {
  if (root == nullptr) return "";
  Checker c{shape, {}, false, {}, -1};
  c.walk(root, 0, true);
  return c.err;
}

}  // namespace mqttd::subtree

// Internal to src/routing: the persistent B+-tree that holds one big section of a
// TopicIndex subscription block, or the members of a big shared group. Records are
// sorted by (worker, handle), in leaves of at most Shape::leaf_max records under
// interior nodes of at most Shape::fanout children; each interior slot keeps its child's
// least key (to route a key) and record count (to pick the i-th record).
//
// Threads: for_each_leaf(), select() and contains() are for lock-free readers inside a
// Qsbr read-side section; Editor is for the one writer of the owning structure.
//
// Nodes are immutable once reachable, as in hamt.h. An edit copies the leaf it changes
// and the interior nodes above it (plus one sibling when it splits, merges or
// rebalances), so it copies O(leaf_max + height x fanout) bytes whatever the tree's size;
// everything else is shared with the previous version. The replaced nodes are collected
// in the WriteCtx, NOT retired: the caller hands them to Qsbr only after it has published
// the new root (see topic_index.h). Nodes the edit built and then replaced itself (a
// fresh leaf merged into its sibling) were never reachable and are freed at once.
//
// Invariants (Editor::check() walks them): every leaf is at the same depth; a node holds
// at most its maximum; a node other than the root holds at least its minimum (a quarter
// of the maximum, at least 1 record or 2 children); a root interior node has at least 2
// children; a slot's key and count are its child's least key and record count. So a
// tree of height h (leaves are 0) holds at least 2 x inner_min^(h-1) x leaf_min records:
// at the default shape a million records stand at most 5 high, and a reader's walk and
// a writer's path are bounded by that.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "routing/hamt.h"

namespace mqttd::subtree {

// One subscription as the index stores it: 16 bytes.
struct SubRec {
  uint64_t handle;
  uint32_t sub_id;
  uint16_t worker;
  uint8_t qos;
  uint8_t flags;  // MatchResult::kNoLocal | kRetainAsPublished, retain handling << 4

  bool same_key(const SubRec& o) const { return worker == o.worker && handle == o.handle; }
  bool same(const SubRec& o) const {
    return same_key(o) && sub_id == o.sub_id && qos == o.qos && flags == o.flags;
  }
};
static_assert(sizeof(SubRec) == 16);

inline bool key_less(uint16_t aw, uint64_t ah, uint16_t bw, uint64_t bh) {
  return aw != bw ? aw < bw : ah < bh;
}
inline bool rec_less(const SubRec& a, const SubRec& b) {
  return key_less(a.worker, a.handle, b.worker, b.handle);
}

// The tree's proportions: constant for one index.
struct Shape {
  uint32_t leaf_max = 64;  // records per leaf (4..65535): 1 KiB leaves
  uint32_t fanout = 32;    // children per interior node (4..65535)

  uint32_t leaf_min() const { return leaf_max / 4 > 1 ? leaf_max / 4 : 1; }
  uint32_t inner_min() const { return fanout / 4 > 2 ? fanout / 4 : 2; }
};

struct Node;

// An interior node's reference to a child.
struct Slot {
  const Node* child;
  uint64_t min_handle;  // the child's least key
  uint32_t count;       // records below the child
  uint16_t min_worker;
  uint16_t unused;
};
static_assert(sizeof(Slot) == 24);

// A node: this header, then `n` SubRecs (a leaf, height 0) or `n` Slots.
struct Node {
  uint32_t total;  // records below (a leaf: n)
  uint16_t n;
  uint8_t height;
  uint8_t unused;

  const SubRec* recs() const { return reinterpret_cast<const SubRec*>(this + 1); }
  SubRec* recs() { return reinterpret_cast<SubRec*>(this + 1); }
  const Slot* slots() const { return reinterpret_cast<const Slot*>(this + 1); }
  Slot* slots() { return reinterpret_cast<Slot*>(this + 1); }
  size_t size() const { return sizeof(Node) + n * (height ? sizeof(Slot) : sizeof(SubRec)); }
};
static_assert(sizeof(Node) == 8 && alignof(Node) <= 8);

// Reader: calls f(std::span<const SubRec>) for every leaf, in key order. Work:
// O(records / leaf_min + height); one call per leaf, each a contiguous array. Leaves lie
// wherever the allocator put them, so the next leaf is prefetched whole (its size is in
// its slot) while this one is handed out: the walk streams like an array scan instead
// of stalling on each leaf's first lines.
template <class F>
void for_each_leaf(const Node* n, F&& f) {
  if (n->height == 0) {
    f(std::span<const SubRec>(n->recs(), n->n));
    return;
  }
  const Slot* s = n->slots();
  if (n->height == 1) {
    for (uint32_t i = 0; i < n->n; ++i) {
      if (i + 1 < n->n) {
        const char* p = reinterpret_cast<const char*>(s[i + 1].child);
        const size_t bytes = sizeof(Node) + s[i + 1].count * sizeof(SubRec);
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off);
      }
      const Node* leaf = s[i].child;
      f(std::span<const SubRec>(leaf->recs(), leaf->n));
    }
    return;
  }
  for (uint32_t i = 0; i < n->n; ++i) {
    if (i + 1 < n->n) __builtin_prefetch(s[i + 1].child);
    for_each_leaf(s[i].child, f);
  }
}

// Reader: the record of rank `i` (0-based, in key order). REQUIRES: i < n->total.
// Work: O(height x fanout).
inline const SubRec& select(const Node* n, uint32_t i) {
  while (n->height != 0) {
    const Slot* s = n->slots();
    uint32_t j = 0;
    while (i >= s[j].count) i -= s[j++].count;
    n = s[j].child;
  }
  return n->recs()[i];
}

// Reader: whether a record with `key`'s (worker, handle) is present. O(height x log).
bool contains(const Node* root, const SubRec& key);

// Writer: builds new versions of trees. Every node it allocates or replaces is accounted
// in ctx.bytes; replaced nodes go to ctx.retired.
class Editor {
 public:
  Editor(const Shape& shape, hamt::WriteCtx& ctx) : shape_(shape), ctx_(ctx) {}

  // `root` with `r` inserted, or replacing the record of its key. Returns `root` itself
  // (and nothing retired) when that very record is there already. `existed`: its key was.
  const Node* upsert(const Node* root, const SubRec& r, bool& existed);
  // `root` without the record of `key`'s key (nullptr when it empties). Returns `root`
  // itself when the key is absent.
  const Node* erase(const Node* root, const SubRec& key, bool& existed);
  // A tree holding `recs`. REQUIRES: sorted by key, no key twice. O(recs).
  const Node* build(std::span<const SubRec> recs);
  // Retires every node of `root` (the caller replaced the whole tree).
  void retire_all(const Node* root);

  // Appends every record, in key order.
  static void collect(const Node* root, std::vector<SubRec>& out);
  // Frees every node at once. REQUIRES: no reader.
  static void destroy(const Node* root);
  // The invariants above, for tests: "" when they hold, else what is wrong.
  static std::string check(const Node* root, const Shape& shape);

 private:
  struct Pair {
    const Node* left;
    const Node* right;  // the right half of a split, else nullptr
  };

  Pair upsert_at(const Node* n, const SubRec& r, bool& existed, bool& changed);
  const Node* erase_at(const Node* n, const SubRec& key, bool& existed);
  // A node of `recs` / `slots`, or two halves when they exceed the maximum.
  // Where a node of `total` items splits; `hint` (0: none) is where the edit would like it.
  static uint32_t cut(uint32_t total, uint32_t min, uint32_t hint);
  Pair make_leaves(std::span<const SubRec> recs, uint32_t hint);
  Pair make_inners(std::span<const Slot> slots, uint8_t height, uint32_t hint);
  Node* alloc(uint32_t n, uint8_t height);
  const Node* make_leaf(std::span<const SubRec> recs);
  const Node* make_inner(std::span<const Slot> slots, uint8_t height);
  // Merges or rebalances the underfull child at slots_[j] (nullptr: an emptied leaf) with
  // its sibling, in slots_.
  void fix_underflow(uint32_t j, const Node* c, uint8_t child_height);
  void retire(const Node* n);
  void discard(const Node* n);  // built by this edit and never published

  const Shape& shape_;
  hamt::WriteCtx& ctx_;
  std::vector<SubRec> recs_;  // scratch: one leaf's records while it is rebuilt
  std::vector<Slot> slots_;   // scratch: one interior node's slots while it is rebuilt
  std::vector<Slot> slots2_;  // scratch: two siblings' slots being merged
};

}  // namespace mqttd::subtree

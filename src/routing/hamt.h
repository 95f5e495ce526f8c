// Internal to src/routing: the persistent hash array mapped trie (Bagwell 2001) that holds
// the children of one topic level, keyed by a seeded hash of the level string.
//
// Threads: find() and for_each() are for lock-free readers inside a Qsbr read-side
// section; insert(), erase(), replace() and destroy() for the one writer of the owning
// structure.
//
// Nodes are immutable once reachable. A writer builds the changed path as new nodes
// (path copying) and returns a new root, which the caller publishes with ONE release
// store. The replaced nodes are collected in the WriteCtx, NOT retired: the caller hands
// them to Qsbr::retire only after that store, when no new reader can reach them (a node
// retired before the store could be freed while a reader that passed its quiescent
// point after the retirement still walks the old root). A reader holding an old root
// keeps a consistent old version. A node holds up to 32 slots, bitmap-indexed by 5 hash
// bits per level (shift 0, 5, .., 30); a slot holds a leaf, or a child node tagged with
// bit 0. Leaves whose 32-bit hashes are equal share a collision node (bitmap 0, compared
// by key). Below the root no node holds a lone leaf (erase hoists it).
//
// A leaf type L provides `uint32_t hash() const` and `std::string_view key() const`, is at
// least 2-aligned, and is owned by the caller (the trie stores only the pointer).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "routing/qsbr.h"

namespace mqttd::hamt {

// A fast seeded hash of a topic level (64-bit multiply-xorshift, folded to 32 bits).
inline uint32_t hash_level(std::string_view s, uint64_t seed) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = seed ^ (n * kMul);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  for (size_t i = 0; i < n; ++i) w |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
  h ^= h >> 31;
  h *= 0x94D049BB133111EBull;
  h ^= h >> 29;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

struct Node {
  uint32_t bitmap;  // slot i present iff bit i set; 0 marks a collision node
  uint32_t count;   // slots that follow
  uintptr_t* slots() { return reinterpret_cast<uintptr_t*>(this + 1); }
  const uintptr_t* slots() const { return reinterpret_cast<const uintptr_t*>(this + 1); }
  bool collision() const { return bitmap == 0; }
  static size_t bytes(uint32_t count) { return sizeof(Node) + count * sizeof(uintptr_t); }
};

// What a writer needs while building a new version: byte accounting, and the list of
// everything the operation replaced, to hand to Qsbr after the publishing store.
struct WriteCtx {
  int64_t bytes = 0;                     // net change of bytes held
  std::vector<Qsbr::Retiree> retired;    // unlinked by this operation, not yet retired
  // A root that lives inside its owner's allocation (TopicIndex::Node embeds the root of
  // its children's HAMT): replaced like any other, but never retired on its own; its
  // owner is.
  const Node* embedded_root = nullptr;

  Node* alloc(uint32_t bitmap, uint32_t count) {
    bytes += static_cast<int64_t>(Node::bytes(count));
    Node* n = static_cast<Node*>(::operator new(Node::bytes(count)));
    n->bitmap = bitmap;
    n->count = count;
    return n;
  }
  void retire(const Node* n) {
    if (n == embedded_root) return;
    bytes -= static_cast<int64_t>(Node::bytes(n->count));
    retired.push_back({const_cast<Node*>(n), [](void* p) { ::operator delete(p); }});
  }
  // Frees a node this operation built and never published (a root copied into its owner).
  void discard(const Node* n) {
    bytes -= static_cast<int64_t>(Node::bytes(n->count));
    ::operator delete(const_cast<Node*>(n));
  }
  // Anything else the operation unlinked, accounted as `size` bytes.
  void retire(const void* p, size_t size, Qsbr::Deleter fn) {
    bytes -= static_cast<int64_t>(size);
    retired.push_back({const_cast<void*>(p), fn});
  }
};

template <class L>
struct Trie {
  static bool is_node(uintptr_t s) { return s & 1; }
  static const Node* as_node(uintptr_t s) { return reinterpret_cast<const Node*>(s & ~uintptr_t{1}); }
  static L* as_leaf(uintptr_t s) { return reinterpret_cast<L*>(s); }
  static uintptr_t tag(const Node* n) { return reinterpret_cast<uintptr_t>(n) | 1; }
  static uintptr_t tag(const L* l) { return reinterpret_cast<uintptr_t>(l); }
  static uint32_t bit(uint32_t h, unsigned shift) { return 1u << ((h >> shift) & 31); }
  static uint32_t pos(uint32_t bitmap, uint32_t b) {
    return static_cast<uint32_t>(std::popcount(bitmap & (b - 1)));
  }
  // The hash every leaf below slot `s` shares (for a leaf or a collision node).
  static uint32_t slot_hash(uintptr_t s) {
    return is_node(s) ? as_leaf(as_node(s)->slots()[0])->hash() : as_leaf(s)->hash();
  }

  // Reader. At most 8 node visits (7 hash levels and a collision node), no retries.
  static L* find(const Node* n, uint32_t h, std::string_view key) {
    for (unsigned shift = 0; n != nullptr; shift += 5) {
      if (n->collision()) {
        for (uint32_t i = 0; i < n->count; ++i) {
          L* l = as_leaf(n->slots()[i]);
          if (l->hash() == h && l->key() == key) return l;
        }
        return nullptr;
      }
      uint32_t b = bit(h, shift);
      if (!(n->bitmap & b)) return nullptr;
      uintptr_t s = n->slots()[pos(n->bitmap, b)];
      if (!is_node(s)) {
        L* l = as_leaf(s);
        return l->hash() == h && l->key() == key ? l : nullptr;
      }
      n = as_node(s);
    }
    return nullptr;
  }

  // Reader: calls f(L*) for every leaf, in no particular order.
  template <class F>
  static void for_each(const Node* n, F&& f) {
    if (n == nullptr) return;
    for (uint32_t i = 0; i < n->count; ++i) {
      uintptr_t s = n->slots()[i];
      if (is_node(s)) {
        for_each(as_node(s), f);
      } else {
        f(as_leaf(s));
      }
    }
  }

  // Writer: a new root holding `leaf` as well. REQUIRES: no leaf with its key is present.
  static const Node* insert(const Node* root, L* leaf, WriteCtx& c) {
    if (root == nullptr) {
      Node* n = c.alloc(bit(leaf->hash(), 0), 1);
      n->slots()[0] = tag(leaf);
      return n;
    }
    return insert_at(root, leaf, 0, c);
  }

  // Writer: a new root without `leaf` (nullptr when empty). Returns `root` itself when
  // the leaf is absent.
  static const Node* erase(const Node* root, const L* leaf, WriteCtx& c) {
    if (root == nullptr) return nullptr;
    uintptr_t r = erase_at(root, leaf, 0, c);
    if (r == 0) return nullptr;
    if (is_node(r)) return as_node(r);
    Node* n = c.alloc(bit(as_leaf(r)->hash(), 0), 1);  // a lone leaf needs a root node
    n->slots()[0] = r;
    return n;
  }

  // Writer: a new root in which `old_leaf` is replaced by `new_leaf` (same hash, same key).
  // REQUIRES: old_leaf is present.
  static const Node* replace(const Node* root, const L* old_leaf, L* new_leaf, WriteCtx& c) {
    return replace_at(root, old_leaf, new_leaf, 0, c);
  }

  // Frees every node (not through Qsbr: REQUIRES no reader) and calls f(L*) per leaf.
  template <class F>
  static void destroy(const Node* n, F&& f) {
    if (n == nullptr) return;
    destroy_below(n, f);
    ::operator delete(const_cast<Node*>(n));
  }
  // The same, except `n` itself (an embedded root).
  template <class F>
  static void destroy_below(const Node* n, F&& f) {
    if (n == nullptr) return;
    for (uint32_t i = 0; i < n->count; ++i) {
      uintptr_t s = n->slots()[i];
      if (is_node(s)) {
        destroy(as_node(s), f);
      } else {
        f(as_leaf(s));
      }
    }
  }

 private:
  // A node at `shift` holding two slots with different keys (leaves or collision nodes).
  static const Node* make_pair(uintptr_t a, uint32_t ha, uintptr_t b, uint32_t hb, unsigned shift,
                               WriteCtx& c) {
    if (ha == hb) {  // only leaves can be equal here: a collision node absorbs its hash
      Node* n = c.alloc(0, 2);
      n->slots()[0] = a;
      n->slots()[1] = b;
      return n;
    }
    uint32_t ba = bit(ha, shift), bb = bit(hb, shift);
    if (ba == bb) {
      Node* n = c.alloc(ba, 1);
      n->slots()[0] = tag(make_pair(a, ha, b, hb, shift + 5, c));
      return n;
    }
    Node* n = c.alloc(ba | bb, 2);
    n->slots()[ba < bb ? 0 : 1] = a;
    n->slots()[ba < bb ? 1 : 0] = b;
    return n;
  }

  // Copy of `n` with slot `p` replaced (`replace`), inserted, or removed.
  static Node* copy_replace(const Node* n, uint32_t p, uintptr_t v, WriteCtx& c) {
    Node* m = c.alloc(n->bitmap, n->count);
    std::memcpy(m->slots(), n->slots(), n->count * sizeof(uintptr_t));
    m->slots()[p] = v;
    return m;
  }
  static Node* copy_insert(const Node* n, uint32_t bitmap, uint32_t p, uintptr_t v, WriteCtx& c) {
    Node* m = c.alloc(bitmap, n->count + 1);
    std::memcpy(m->slots(), n->slots(), p * sizeof(uintptr_t));
    m->slots()[p] = v;
    std::memcpy(m->slots() + p + 1, n->slots() + p, (n->count - p) * sizeof(uintptr_t));
    return m;
  }
  static Node* copy_remove(const Node* n, uint32_t bitmap, uint32_t p, WriteCtx& c) {
    Node* m = c.alloc(bitmap, n->count - 1);
    std::memcpy(m->slots(), n->slots(), p * sizeof(uintptr_t));
    std::memcpy(m->slots() + p, n->slots() + p + 1, (n->count - p - 1) * sizeof(uintptr_t));
    return m;
  }

  static const Node* insert_at(const Node* n, L* leaf, unsigned shift, WriteCtx& c) {
    const uint32_t h = leaf->hash();
    const Node* out;
    if (n->collision()) {
      uint32_t hc = slot_hash(tag(n));
      if (hc != h) return make_pair(tag(n), hc, tag(leaf), h, shift, c);  // n reused below
      out = copy_insert(n, 0, n->count, tag(leaf), c);
    } else {
      uint32_t b = bit(h, shift);
      uint32_t p = pos(n->bitmap, b);
      if (!(n->bitmap & b)) {
        out = copy_insert(n, n->bitmap | b, p, tag(leaf), c);
      } else {
        uintptr_t s = n->slots()[p];
        const Node* sub = is_node(s) ? insert_at(as_node(s), leaf, shift + 5, c)
                                     : make_pair(s, as_leaf(s)->hash(), tag(leaf), h, shift + 5, c);
        out = copy_replace(n, p, tag(sub), c);
      }
    }
    c.retire(n);
    return out;
  }

  static const Node* replace_at(const Node* n, const L* old_leaf, L* new_leaf, unsigned shift,
                                WriteCtx& c) {
    uint32_t p;
    uintptr_t v;
    if (n->collision()) {
      p = 0;
      while (n->slots()[p] != tag(old_leaf)) ++p;
      v = tag(new_leaf);
    } else {
      uint32_t b = bit(old_leaf->hash(), shift);
      p = pos(n->bitmap, b);
      uintptr_t s = n->slots()[p];
      v = is_node(s) ? tag(replace_at(as_node(s), old_leaf, new_leaf, shift + 5, c)) : tag(new_leaf);
    }
    const Node* out = copy_replace(n, p, v, c);
    c.retire(n);
    return out;
  }

  // Returns the slot value that replaces `n`: 0 (empty), a leaf (collapsed), or a node.
  static uintptr_t erase_at(const Node* n, const L* leaf, unsigned shift, WriteCtx& c) {
    if (n->collision()) {
      uint32_t i = 0;
      while (i < n->count && as_leaf(n->slots()[i]) != leaf) ++i;
      if (i == n->count) return tag(n);
      uintptr_t out = n->count == 2 ? n->slots()[1 - i] : tag(copy_remove(n, 0, i, c));
      c.retire(n);
      return out;
    }
    uint32_t b = bit(leaf->hash(), shift);
    if (!(n->bitmap & b)) return tag(n);
    uint32_t p = pos(n->bitmap, b);
    uintptr_t s = n->slots()[p];
    uintptr_t r;
    if (is_node(s)) {
      r = erase_at(as_node(s), leaf, shift + 5, c);
      if (r == s) return tag(n);
    } else {
      if (as_leaf(s) != leaf) return tag(n);
      r = 0;
    }
    uintptr_t out;
    if (r != 0) {
      // A lone leaf left below: hoist it into our place when it is our only slot.
      out = (!is_node(r) && n->count == 1 && shift > 0) ? r : tag(copy_replace(n, p, r, c));
    } else if (n->count == 1) {
      out = 0;
    } else if (n->count == 2 && shift > 0 && !is_node(n->slots()[1 - p])) {
      out = n->slots()[1 - p];
    } else {
      out = tag(copy_remove(n, n->bitmap & ~b, p, c));
    }
    c.retire(n);
    return out;
  }
};

}  // namespace mqttd::hamt

// TopicIndex: every subscription of every session, as a trie of topic levels; matching a
// topic yields its subscribers grouped by owning worker (see MatchResult).
//
// Threads: match() from any thread registered with the Qsbr and online: lock-free and
// wait-free (no lock, no CAS, no retry; its work depends only on the topic and the
// version it reads, see match()). subscribe()/unsubscribe() from any thread; they
// serialise on an internal mutex (control plane). counters() anywhere. The destructor
// frees the whole trie; REQUIRES that no match() is running.
//
// ---- How readers and writers coexist ------------------------------------------------
// Structure. A Node is one topic level: its children (a persistent HAMT, hamt.h, keyed
// by the level string), its `+` child, and its SubBlock. The block holds two sections:
// the subscribers whose filter ends here, and those of <here>/# (a `#` level is not a
// node but this "multi" section of its parent); then the node's shared groups
// (`$share/<g>/<filter>`), each with its members and a round-robin cursor. A section,
// and a group's members, is a sequence of 16-byte records sorted by (worker, handle),
// unique per key, and so already bucketed by worker: a match appends each section as
// one sorted run and MatchResult needs no sort when only one run matched.
//
// Versions. The whole trie is persistent: Nodes, HAMT nodes, SubBlocks, SharedGroups
// and section trees are immutable once reachable (except a group's cursor, below). The
// one mutable pointer is `root_`. A write copies what it changes and the path above it:
// the section (or group) it edits, as below, the block holding it, each Node from there
// up to the root, and in each of those Nodes the HAMT path to the copied child;
// everything else is shared with the previous version. It then publishes the new root
// with ONE release store. This is path copying (Driscoll, Sarnak, Sleator and Tarjan,
// "Making data structures persistent", 1989) used as read-copy-update, with
// quiescent-state-based reclamation (qsbr.h).
//
// Big sections. One broadcast topic may have every client of the fleet, a million, on
// it; a section copied whole by each write would make building it O(N^2). So a section
// has two representations, chosen by size (Tuning):
//  * inline: up to flat_max (64) records in the block itself, one allocation with the
//    block; a write copies them all (at most 1 KiB), and a match reads them in place.
//  * a tree: above flat_max, a persistent B+-tree (sub_tree.h) whose root pointer
//    takes one cell of the block: leaves of up to 64 records in key order, interior
//    nodes of up to 32 children, each child's least key and record count in its slot.
//    A write copies one leaf and the interior nodes above it (plus one sibling when a
//    node splits, merges or rebalances): O(leaf_max + fanout x log_fanout N) bytes,
//    about 4 KiB at a million, never the records it does not touch. The block holding
//    the root is copied too, but it holds at most the other section inline, the root
//    cell, and the group pointers.
//  The tree goes back inline when it shrinks to flat_max / 2: the gap keeps a section
//  that hovers at the threshold from converting (O(flat_max)) on every write. Shared
//  groups use the same two representations for their members; the count per slot lets
//  a reader pick the member of rank `cursor % count` in O(height x fanout).
//  Invariants, checked by test_check(): an inline section holds <= flat_max records, a
//  tree > flat_max / 2; the count the block (or group) keeps is the tree's total; the
//  records of either are sorted and unique; the tree's own invariants (sub_tree.h,
//  which bound its height: 5 at a million) hold.
//  A match walks a tree's leaves left to right, handing each leaf's array to
//  MatchResult, prefetching the next leaf whole: the records come out in key order,
//  so the run is sorted and grouped by worker exactly as an inline one, and the walk
//  costs what a scan of one array does (routing_bench BM_MatchBroadcast against
//  BM_MatchArrayReference).
//
// What each atomic publishes. `root_`: written only by a writer holding `mu_`, with
// release, after every object reachable from the new root is fully built; loaded once
// per match with acquire, so everything the reader reaches from it is visible through
// plain loads. `SharedGroup::next`: bumped by readers with a relaxed fetch_add (one
// wait-free instruction, not a CAS loop); it only spreads deliveries and publishes
// nothing, and is carried over when a write copies the group.
//
// Why readers stay wait-free. A match loads `root_` once and from there follows only
// pointers of that version, all immutable: no lock, no retry, no CAS. Its work is the
// trie walk plus, per matching section, one pass over its records (a tree: over its
// leaves, at most records / 16 of them at the default shape) and per matching group one
// fetch_add and a descent of the group's tree. A write never waits for a reader either.
//
// Linearisation. A write takes effect at its root store, a match at its root load, so a
// match sees exactly one version, even when one filter operation changed several nodes
// (create a path, edit a block, prune) and the match visits several: every result is
// one a sequential history of the operations gives (stress_test.cpp checks exactly
// that).
//
// Reclamation. What a write replaced is unreachable from the new root: the old path of
// Nodes and HAMT nodes, the old block (and group), and the tree nodes the edit copied;
// tree nodes it built and then replaced itself (a fresh leaf merged into its sibling)
// were never reachable and are freed at once. The writer hands the rest to Qsbr in one
// batch AFTER the root store, never before (a reader that announced a
// quiescent state between an early retirement and the store could still load the old
// root and walk freed memory); Qsbr frees it once every online reader has passed a
// quiescent state, i.e. finished any match that could have loaded the old root.
// Readers hold no pointer beyond one match() call.
//
// Why a writer mutex and one plain store instead of CTrie's CAS. Subscribing is control
// plane. With writers serialised no update can be lost, so a release store publishes
// what a CAS would, and one store covers a write that touches many nodes, which CTrie
// needs its generation/GCAS machinery to make atomic. Readers do the same either way:
// never a lock, never a retry. The price is that writers do not scale with threads and
// a write copies O(depth x HAMT depth) small nodes and O(leaf + log N) of a big
// section; perf/micro/routing_bench.cpp measures both.
//
// Not bounded by this: a node with very many shared groups on one filter (each write to
// it copies the block's array of group pointers and finds its group by a linear scan).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "routing/match_result.h"
#include "routing/qsbr.h"
#include "routing/subscription.h"

namespace mqttd {

namespace hamt {
struct Node;
}

class TopicIndex {
 public:
  struct Counters {
    uint64_t subscriptions = 0;  // (filter, subscriber) pairs, shared ones included
    uint64_t nodes = 0;          // topic-level nodes (the root level not counted)
    uint64_t bytes = 0;          // heap bytes held by the structure (retired excluded)
    uint64_t trees = 0;          // sections and shared groups held as B+-trees
  };

  // How subscriber sections are laid out; constant for the index's life. The defaults
  // are the broker's; tests shrink them to reach deep trees with few subscribers.
  struct Tuning {
    uint32_t flat_max;  // a section or group of more records becomes a tree; it goes
                        // back inline at flat_max / 2 (0: every section is a tree)
    uint32_t leaf_max;  // records per tree leaf (clamped to 4..65535)
    uint32_t fanout;    // children per interior tree node (clamped to 4..65535)
  };
  static constexpr Tuning kDefaultTuning{64, 64, 32};

  explicit TopicIndex(Qsbr& qsbr) : TopicIndex(qsbr, kDefaultTuning) {}
  TopicIndex(Qsbr& qsbr, const Tuning& tuning);
  ~TopicIndex();
  TopicIndex(const TopicIndex&) = delete;
  TopicIndex& operator=(const TopicIndex&) = delete;

  // Adds or replaces the subscription of (worker, handle) to `filter` (plain or
  // `$share/<group>/<filter>`). Returns true when it already existed (and was replaced:
  // new options and identifier). `sub_id` 0 means no subscription identifier.
  // Work: O(levels x HAMT depth) small copies, plus O(flat_max) or, for a tree section,
  // O(leaf_max + fanout x height) for the section, whatever its size.
  // REQUIRES: `filter` is a valid filter (MQTT-4.7.1); an invalid one is ignored (false).
  bool subscribe(std::string_view filter, uint16_t worker, uint64_t handle,
                 const SubscriptionOptions& options, uint32_t sub_id);
  // Removes it. Returns true when it existed.
  bool unsubscribe(std::string_view filter, uint16_t worker, uint64_t handle);

  // Fills `out` with the subscribers of `topic` (unfinalized: call out.finalize()).
  // For each matching shared subscription one member is chosen here, round-robin.
  // REQUIRES: `topic` is a valid topic name (no wildcards), the thread is online.
  // Work: O(visited nodes x 8 HAMT steps + subscribers reported + shared groups x tree
  // height x fanout); a node is visited per topic level through its exact child and its
  // `+` child, so at most min(2^levels, nodes) of them.
  void match(std::string_view topic, MatchResult& out) const;

  Counters counters() const {
    // relaxed: statistics; they publish nothing.
    return {subscriptions_.load(std::memory_order_relaxed), nodes_.load(std::memory_order_relaxed),
            static_cast<uint64_t>(bytes_.load(std::memory_order_relaxed)),
            trees_.load(std::memory_order_relaxed)};
  }

  // Tests: walks the whole current version and checks the invariants of the essay
  // (sections sorted and duplicate-free, the representation each size calls for, the
  // trees' own invariants, the counters). Returns "" when they hold, else the first
  // violation. REQUIRES: no concurrent writer. Work: O(everything).
  std::string test_check() const;

  // Internal types, defined in topic_index.cpp.
  struct Node;
  struct SubBlock;
  struct SharedGroup;

 private:
  struct Writer;

  Qsbr& qsbr_;
  const uint64_t seed_;
  const Tuning tuning_;
  std::mutex mu_;  // serialises writers; readers never take it
  // The current version (nullptr when there is no subscription). release/acquire: see
  // the essay. Stored only under mu_.
  alignas(64) std::atomic<const Node*> root_{nullptr};
  // Written under mu_, read anywhere.
  alignas(64) std::atomic<uint64_t> subscriptions_{0};
  std::atomic<uint64_t> nodes_{0};
  std::atomic<int64_t> bytes_{0};
  std::atomic<uint64_t> trees_{0};
};

}  // namespace mqttd

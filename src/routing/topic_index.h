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
// by the level string), its `+` child, and its SubBlock. The block holds the subscribers
// whose filter ends here and those of <here>/# (a `#` level is not a node but this
// "multi" section of its parent), each section sorted by (worker, handle) and so already
// bucketed by worker; then the node's shared groups (`$share/<g>/<filter>`), each with
// its members and a round-robin cursor.
//
// Versions. The whole trie is persistent: Nodes, HAMT nodes, SubBlocks and SharedGroups
// are immutable once reachable (except a group's cursor, below). The one mutable
// pointer is `root_`. A write copies what it changes and the path above it: the block
// (and group) it edits, each Node from there up to the root, and in each of those
// Nodes the HAMT path to the copied child; everything else is shared with the previous
// version. It then publishes the new root with ONE release store. This is path copying
// (Driscoll, Sarnak, Sleator and Tarjan, "Making data structures persistent", 1989)
// used as read-copy-update, with quiescent-state-based reclamation (qsbr.h).
//
// What each atomic publishes. `root_`: written only by a writer holding `mu_`, with
// release, after every object reachable from the new root is fully built; loaded once
// per match with acquire, so everything the reader reaches from it is visible through
// plain loads. `SharedGroup::next`: bumped by readers with a relaxed fetch_add (one
// wait-free instruction, not a CAS loop); it only spreads deliveries and publishes
// nothing, and is carried over when a write copies the group.
//
// Linearisation. A write takes effect at its root store, a match at its root load, so a
// match sees exactly one version, even when one filter operation changed several nodes
// (create a path, edit a block, prune) and the match visits several: every result is
// one a sequential history of the operations gives (stress_test.cpp checks exactly
// that).
//
// Reclamation. What a write replaced is unreachable from the new root. The writer hands
// it to Qsbr in one batch AFTER the root store, never before (a reader that announced a
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
// a write copies O(depth x HAMT depth) small nodes; perf/micro/routing_bench.cpp
// measures both.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
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
  };

  explicit TopicIndex(Qsbr& qsbr);
  ~TopicIndex();
  TopicIndex(const TopicIndex&) = delete;
  TopicIndex& operator=(const TopicIndex&) = delete;

  // Adds or replaces the subscription of (worker, handle) to `filter` (plain or
  // `$share/<group>/<filter>`). Returns true when it already existed (and was replaced:
  // new options and identifier). `sub_id` 0 means no subscription identifier.
  // REQUIRES: `filter` is a valid filter (MQTT-4.7.1); an invalid one is ignored (false).
  bool subscribe(std::string_view filter, uint16_t worker, uint64_t handle,
                 const SubscriptionOptions& options, uint32_t sub_id);
  // Removes it. Returns true when it existed.
  bool unsubscribe(std::string_view filter, uint16_t worker, uint64_t handle);

  // Fills `out` with the subscribers of `topic` (unfinalized: call out.finalize()).
  // For each matching shared subscription one member is chosen here, round-robin.
  // REQUIRES: `topic` is a valid topic name (no wildcards), the thread is online.
  // Work: O(visited nodes x 8 HAMT steps + subscribers reported); a node is visited per
  // topic level through its exact child and its `+` child, so at most
  // min(2^levels, nodes) of them.
  void match(std::string_view topic, MatchResult& out) const;

  Counters counters() const {
    // relaxed: statistics; they publish nothing.
    return {subscriptions_.load(std::memory_order_relaxed), nodes_.load(std::memory_order_relaxed),
            static_cast<uint64_t>(bytes_.load(std::memory_order_relaxed))};
  }

  // Internal types, defined in topic_index.cpp.
  struct Node;
  struct SubBlock;
  struct SharedGroup;

 private:
  struct Writer;

  Qsbr& qsbr_;
  const uint64_t seed_;
  std::mutex mu_;  // serialises writers; readers never take it
  // The current version (nullptr when there is no subscription). release/acquire: see
  // the essay. Stored only under mu_.
  alignas(64) std::atomic<const Node*> root_{nullptr};
  // Written under mu_, read anywhere.
  alignas(64) std::atomic<uint64_t> subscriptions_{0};
  std::atomic<uint64_t> nodes_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace mqttd

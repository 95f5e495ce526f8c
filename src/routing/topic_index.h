// TopicIndex: every subscription of every session, as a trie of topic levels; matching a
// topic yields its subscribers grouped by owning worker (see MatchResult).
//
// Threads: match() from any thread registered with the Qsbr and online (lock-free and
// wait-free: bounded work, no retries, no locks). subscribe()/unsubscribe() from any
// thread; they serialise on an internal mutex (control plane). counters() anywhere.
// The destructor frees the whole trie; REQUIRES that no match() is running.
//
// ---- How readers and writers coexist ------------------------------------------------
// Structure. A Node is one topic level. Its children live in a persistent HAMT (hamt.h)
// keyed by the level string; the `+` child has its own pointer; a `#` level is not a node
// but the "multi" section of its parent's subscriber block. The SubBlock holds a node's
// subscribers: the ones whose filter ends here and the ones of <here>/#, each section
// sorted by (worker, handle), so a section is already bucketed by worker; then the
// node's shared groups (`$share/<g>/<filter>`), each with its members and a round-robin
// cursor.
//
// Publication. A node has three atomics: `children` (HAMT root), `plus`, `subs`. Only a
// writer holding `mu_` stores them; HAMT nodes, SubBlocks and SharedGroups are immutable
// once stored (except a group's round-robin cursor, which readers bump). A writer builds
// any new object completely, then publishes it with ONE release store; readers load
// with acquire, so they see a fully built object or the previous version, never a mix.
// A new Node is published empty, so partially created paths are harmless.
//
// Reclamation. What a store replaced (old HAMT path, old block, old group, an unlinked
// node) is unreachable for new readers right after the store, and goes to
// Qsbr::retire; it is freed once every online reader has passed a quiescent state.
// Readers hold no pointer beyond one match() call.
//
// Why writers take a mutex instead of CTrie-style CAS: subscribe is control plane, a
// writer touches several atomics for one operation (create path, swap block, prune),
// and serialising them keeps each operation atomic for readers at each single store
// without CTrie's generation/RDCSS machinery. Readers never take it, never retry.
//
// Linearisation: a subscription becomes visible at the release store of its new block;
// a reader observes each node's block at its acquire load. One match may therefore see
// two nodes at different moments (like any lock-free index without snapshots); for a
// single filter, a match observes it present or absent, never half-changed.
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
    uint64_t nodes = 0;          // topic-level nodes
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
  // Work: O(visited nodes x 8 HAMT steps + subscribers reported).
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
  Node* const root_;
  std::mutex mu_;  // serialises writers; readers never take it
  // Written under mu_, read anywhere.
  alignas(64) std::atomic<uint64_t> subscriptions_{0};
  std::atomic<uint64_t> nodes_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace mqttd

// RetainedStore: the last retained message of every topic, as a trie of topic levels
// (children in the same persistent HAMT as the subscription index), walked with a
// filter when a client subscribes.
//
// Threads: match() from any thread registered with the Qsbr and online (lock-free: no
// lock, no retry). set()/clear()/expire() from any thread, serialised on
// an internal mutex. counters() anywhere. The destructor drops every message; REQUIRES
// that no match() is running.
//
// Invariants. Unlike the subscription index, nodes here are long-lived and mutable in two
// atomics, because set() on an existing topic is data plane (every retained PUBLISH) and
// must cost one store, not a path copy: a node's `children` (a persistent HAMT root,
// hamt.h) and `message` are stored only by a writer holding mu_, with release, after the
// object stored is complete; readers load them with acquire. A match therefore sees
// every topic's message as it was at some moment during the match (per topic, never a
// torn value), not one snapshot of the whole store; retained delivery is racy against
// concurrent publishes in MQTT anyway. What a write unlinks (an old HAMT path, a replaced
// message, a pruned node) is handed to Qsbr after the store that unlinked it, never
// before. The store owns one reference to each message it holds; a replaced message's
// reference is dropped only when no reader can still be taking one of its own
// (MessageRef::share in match()).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "common/message.h"
#include "routing/qsbr.h"

namespace mqttd {

class RetainedStore {
 public:
  struct Counters {
    uint64_t messages = 0;  // topics with a retained message (expired, not yet swept, included)
    uint64_t nodes = 0;     // topic-level nodes (the root not counted)
    uint64_t bytes = 0;     // nodes, HAMT nodes, the messages' footprint, expiry entries
  };

  explicit RetainedStore(Qsbr& qsbr);
  ~RetainedStore();
  RetainedStore(const RetainedStore&) = delete;
  RetainedStore& operator=(const RetainedStore&) = delete;

  // Makes `m` the retained message of `topic`, replacing any previous one; a message
  // with an empty payload clears the topic instead (MQTT-3.3.1-6/7).
  // REQUIRES: `topic` is a valid topic name, `m` non-null, m->topic() == topic.
  void set(std::string_view topic, MessageRef m);
  // Removes the retained message of `topic`, if any.
  void clear(std::string_view topic);
  // Removes the retained messages whose expiry (CLOCK_MONOTONIC ms) is <= now_ms, at
  // most `max` of them per call (a bounded pause for other writers); returns how many.
  // One relaxed load and no lock when nothing is due: meant to be called by one worker
  // once per loop turn or timer tick, so expired messages do not hold memory until
  // their topic is next published. (match() never returns an expired one either way.)
  size_t expire(uint64_t now_ms, size_t max = 1024);

  // Appends to `out` every retained message whose topic matches `filter` (`+`, `#` and
  // the `$` rule applied), skipping those whose expiry (CLOCK_MONOTONIC ms) has passed.
  // A `$share/<group>/` prefix is ignored. No order is promised.
  // REQUIRES: the thread is online in the Qsbr. Work: O(nodes under the filter).
  void match(std::string_view filter, std::vector<MessageRef>& out) const;
  // The same, with the clock given (tests).
  void match(std::string_view filter, std::vector<MessageRef>& out, uint64_t now_ms) const;

  Counters counters() const {
    // relaxed: statistics; they publish nothing.
    return {messages_.load(std::memory_order_relaxed), nodes_.load(std::memory_order_relaxed),
            static_cast<uint64_t>(bytes_.load(std::memory_order_relaxed))};
  }

  struct Node;  // defined in retained_store.cpp

 private:
  struct Writer;

  Qsbr& qsbr_;
  const uint64_t seed_;
  Node* const root_;
  std::mutex mu_;  // serialises writers; readers never take it
  // Under mu_: (expiry, message) for exactly the held messages that have an expiry.
  std::set<std::pair<uint64_t, const Message*>> expiring_;
  // The first expiry in expiring_ (UINT64_MAX: none). relaxed: a hint that lets expire()
  // skip the lock; the decision is made again under mu_.
  std::atomic<uint64_t> next_expiry_ms_{UINT64_MAX};
  alignas(64) std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> nodes_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace mqttd

// RetainedStore: the last retained message of every topic, as a trie of topic levels
// (children in the same persistent HAMT as the subscription index), walked with a
// filter when a client subscribes.
//
// Threads: match() from any thread registered with the Qsbr and online (lock-free, no
// retries); set()/clear() from any thread, serialised on an internal mutex. counters()
// anywhere. The destructor drops every message; REQUIRES that no match() is running.
//
// Invariants (see topic_index.h for the general argument): a node's `children` (HAMT
// root) and `message` are stored only by a writer holding mu_, with release, after the
// object stored is complete; readers load them with acquire. The store owns one
// reference to each message it holds; a replaced message is retired through Qsbr and its
// reference dropped only when no reader can still be taking one of its own
// (MessageRef::share in match()).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "common/message.h"
#include "routing/qsbr.h"

namespace mqttd {

class RetainedStore {
 public:
  struct Counters {
    uint64_t messages = 0;  // topics with a retained message (expired ones included)
    uint64_t nodes = 0;
    uint64_t bytes = 0;     // nodes plus the messages' footprint
  };

  explicit RetainedStore(Qsbr& qsbr);
  ~RetainedStore();
  RetainedStore(const RetainedStore&) = delete;
  RetainedStore& operator=(const RetainedStore&) = delete;

  // Makes `m` the retained message of `topic`, replacing any previous one.
  // REQUIRES: `topic` is a valid topic name and `m` non-null.
  void set(std::string_view topic, MessageRef m);
  // Removes the retained message of `topic`, if any.
  void clear(std::string_view topic);

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
  alignas(64) std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> nodes_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace mqttd

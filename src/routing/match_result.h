// MatchResult: the subscribers one PUBLISH reaches, grouped by the worker that owns them
// so the caller makes one hand-off per worker. Filled by TopicIndex::match(), then
// finalize()d: no-local applied, a subscriber's overlapping subscriptions merged into one
// entry (maximum QoS, every subscription identifier), one member already chosen per
// shared subscription.
//
// Owned by one thread (each worker keeps one and reuses it: after warm-up a match
// allocates nothing). Spans returned stay valid until the next match() into it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "routing/subscription.h"

namespace mqttd {

class MatchResult {
 public:
  enum Flags : uint8_t {
    kNoLocal = 1,
    kRetainAsPublished = 2,
    kShared = 4,  // chosen for a shared subscription: never merged, never no-local'd
  };

  struct Entry {
    uint64_t subscriber = 0;  // the session handle on `worker`
    uint8_t qos = 0;          // the maximum QoS of the merged subscriptions
    uint8_t flags = 0;
    uint16_t worker = 0;
    // One identifier inline (id_count <= 1), or where ids_ holds them (id_count > 1).
    uint32_t id = 0;
    uint32_t id_count = 0;

    bool retain_as_published() const { return flags & kRetainAsPublished; }
    bool shared() const { return flags & kShared; }
  };

  MatchResult() = default;

  // Groups, merges and filters the raw matches. `publisher`, when given, is the session
  // that sent the message: its no-local subscriptions are dropped (MQTT-3.8.3-3).
  // REQUIRES: called once after each TopicIndex::match().
  void finalize(std::optional<SubscriberKey> publisher);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // The workers that have entries, ascending.
  std::span<const uint16_t> workers() const { return workers_; }
  // The entries owned by `worker` (empty when it has none), by subscriber handle.
  std::span<const Entry> entries(uint16_t worker) const;
  // Every subscription identifier of `e` (empty when none); `e` from this result.
  std::span<const uint32_t> subscription_ids(const Entry& e) const {
    if (e.id_count == 0) return {};
    if (e.id_count == 1) return {&e.id, 1};
    return {ids_.data() + e.id, e.id_count};
  }

  // For TopicIndex::match(): starts a new result.
  void reset() {
    entries_.clear();
    ids_.clear();
    workers_.clear();
    ranges_.clear();
    runs_ = 0;
  }
  // For TopicIndex::match(): appends one sorted, duplicate-free run of subscriptions (one
  // node's subscribers, ordered by worker then handle).
  void begin_run() { ++runs_; }
  // For TopicIndex::match(): room for `n` more add()s (a big section), growing
  // geometrically so that several big sections in one match still copy O(total).
  void reserve_more(size_t n) {
    const size_t need = entries_.size() + n;
    if (need > entries_.capacity()) entries_.reserve(std::max(need, 2 * entries_.capacity()));
  }
  void add(uint16_t worker, uint64_t handle, uint8_t qos, uint8_t flags, uint32_t sub_id) {
    entries_.push_back(Entry{handle, qos, flags, worker, sub_id, sub_id != 0 ? 1u : 0u});
  }

 private:
  struct Range {
    uint32_t begin, end;
  };
  void merge_overlaps();

  std::vector<Entry> entries_;
  std::vector<uint32_t> ids_;
  std::vector<uint16_t> workers_;
  std::vector<Range> ranges_;  // parallel to workers_
  std::vector<uint32_t> id_scratch_;
  uint32_t runs_ = 0;          // runs added; 1 means already grouped and unique

  // TopicIndex::match()'s working space, kept here so a reused result allocates nothing.
  friend class TopicIndex;
  struct Level {
    std::string_view text;
    uint32_t hash;
  };
  struct Frame {
    const void* node;
    uint32_t depth;
  };
  std::vector<Level> levels_;
  std::vector<Frame> stack_;
};

}  // namespace mqttd

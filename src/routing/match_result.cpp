#include "routing/match_result.h"

#include <algorithm>

namespace mqttd {

void MatchResult::finalize(std::optional<SubscriberKey> publisher) {
  if (publisher) {
    // MQTT-3.8.3-3 applies per subscription, before overlapping ones are merged. A shared
    // subscription with no-local is a protocol error (MQTT-3.8.3-4), so never here.
    std::erase_if(entries_, [&](const Entry& e) {
      return (e.flags & (kNoLocal | kShared)) == kNoLocal && e.worker == publisher->worker &&
             e.subscriber == publisher->handle;
    });
  }
  if (runs_ > 1) merge_overlaps();
  size_t n = entries_.size();
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && entries_[j].worker == entries_[i].worker) ++j;
    workers_.push_back(entries_[i].worker);
    ranges_.push_back(Range{static_cast<uint32_t>(i), static_cast<uint32_t>(j)});
    i = j;
  }
}

// Several runs: sort by (worker, subscriber, shared) and fold each subscriber's
// non-shared entries into one (MQTT-3.3.4-2 / -3.3.4-3). Shared picks stay separate: the
// spec allows a client a second copy through a shared subscription (4.8.2).
void MatchResult::merge_overlaps() {
  std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    if (a.worker != b.worker) return a.worker < b.worker;
    if (a.subscriber != b.subscriber) return a.subscriber < b.subscriber;
    return (a.flags & kShared) < (b.flags & kShared);
  });
  size_t out = 0;
  const size_t n = entries_.size();
  for (size_t i = 0; i < n;) {
    Entry e = entries_[i];
    size_t j = i + 1;
    if (!e.shared()) {
      while (j < n && !entries_[j].shared() && entries_[j].worker == e.worker &&
             entries_[j].subscriber == e.subscriber) {
        ++j;
      }
    }
    if (j - i > 1) {
      id_scratch_.clear();
      uint8_t rap = 0;
      for (size_t k = i; k < j; ++k) {
        const Entry& x = entries_[k];
        e.qos = std::max(e.qos, x.qos);
        rap |= x.flags & kRetainAsPublished;  // retain-as-published if any asks for it
        if (x.id_count == 1) id_scratch_.push_back(x.id);
      }
      std::sort(id_scratch_.begin(), id_scratch_.end());
      id_scratch_.erase(std::unique(id_scratch_.begin(), id_scratch_.end()), id_scratch_.end());
      e.flags = static_cast<uint8_t>((e.flags & ~kRetainAsPublished) | rap);
      e.id_count = static_cast<uint32_t>(id_scratch_.size());
      if (e.id_count == 1) {
        e.id = id_scratch_[0];
      } else if (e.id_count > 1) {
        e.id = static_cast<uint32_t>(ids_.size());
        ids_.insert(ids_.end(), id_scratch_.begin(), id_scratch_.end());
      } else {
        e.id = 0;
      }
    }
    entries_[out++] = e;
    i = j;
  }
  entries_.resize(out);
}

std::span<const MatchResult::Entry> MatchResult::entries(uint16_t worker) const {
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i] == worker) {
      return {entries_.data() + ranges_[i].begin, ranges_[i].end - ranges_[i].begin};
    }
  }
  return {};
}

}  // namespace mqttd

#include "stats.h"

namespace mqttd::bench {

StreamTracker::Verdict StreamTracker::record(uint64_t stream, uint64_t seq) {
  Stream& s = streams_[stream];
  if (seq >= s.next) {
    const uint64_t shift = seq - s.next + 1;
    s.window = shift >= 64 ? 1 : (s.window << shift) | 1;
    s.next = seq + 1;
    ++s.received;
    return Verdict::in_order;
  }
  const uint64_t back = s.next - 1 - seq;
  if (back < 64) {
    const uint64_t bit = uint64_t{1} << back;
    if (s.window & bit) return Verdict::duplicate;
    s.window |= bit;
  }
  // Older than the window: counted as a late arrival, a duplicate would go unnoticed.
  ++s.received;
  return Verdict::reordered;
}

uint64_t StreamTracker::gaps() const {
  uint64_t lost = 0;
  for (const auto& [publisher, s] : streams_) lost += s.next - s.received;
  return lost;
}

}  // namespace mqttd::bench

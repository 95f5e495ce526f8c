#include "net/inbox.h"

// GCC 12 reports a false -Wstringop-overflow deep inside moodycamel's enqueue_bulk once
// it is inlined here (the queue's block index it flags is always allocated).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

namespace mqttd {

Inbox::Inbox(int producers) : queue_(1024, static_cast<size_t>(producers) + 1, 8) {
  tokens_.reserve(static_cast<size_t>(producers));
  for (int i = 0; i < producers; ++i) {
    tokens_.push_back(std::make_unique<moodycamel::ProducerToken>(queue_));
  }
}

bool Inbox::mark_wake() { return !wake_pending_.exchange(true, std::memory_order_acq_rel); }

bool Inbox::post_bulk(int from, const InboxItem* items, size_t n) {
  // Tokens are per producer worker: only worker `from` ever uses tokens_[from].
  queue_.enqueue_bulk(*tokens_[static_cast<size_t>(from)], items, n);
  return mark_wake();
}

bool Inbox::post_foreign(const InboxItem& item) {
  queue_.enqueue(item);
  return mark_wake();
}

size_t Inbox::drain(InboxItem* out, size_t max) {
  // An exchange, not a store: reading the producers' `true` makes their items visible.
  wake_pending_.exchange(false, std::memory_order_acq_rel);
  return queue_.try_dequeue_bulk(out, max);
}

}  // namespace mqttd

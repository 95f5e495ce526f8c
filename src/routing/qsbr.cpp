#include "routing/qsbr.h"

#include <stdexcept>

namespace mqttd {

Qsbr::Qsbr(uint32_t max_threads)
    : max_threads_(max_threads), slots_(std::make_unique<Slot[]>(max_threads)) {}

Qsbr::~Qsbr() {
  std::lock_guard lock(mu_);
  for (const Retired& r : retired_) r.fn(r.p);
  retired_.clear();
}

Qsbr::ThreadId Qsbr::register_thread() {
  for (uint32_t i = 0; i < max_threads_; ++i) {
    bool expected = false;
    // acq_rel: claims the slot; nothing else is published through `used`.
    if (slots_[i].used.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
      ThreadId id{i};
      online(id);
      return id;
    }
  }
  throw std::length_error("Qsbr: more threads registered than the max_threads it was built for");
}

void Qsbr::unregister_thread(ThreadId id) {
  offline(id);
  // release: the slot is reusable only after we are offline.
  slots_[static_cast<uint32_t>(id)].used.store(false, std::memory_order_release);
}

void Qsbr::online(ThreadId id) {
  Slot& s = slots_[static_cast<uint32_t>(id)];
  // acquire: as in quiescent().
  s.epoch.store(global_.load(std::memory_order_acquire), std::memory_order_relaxed);
  // seq_cst fence, paired with the one in reclaim_locked(): either the writer's scan sees
  // our slot (and frees nothing we could reach), or our later reads see its unlink.
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

void Qsbr::retire(std::span<const Retiree> batch) {
  if (batch.empty()) return;
  std::lock_guard lock(mu_);
  // acq_rel: the unlink that made the batch unreachable precedes this increment; a reader
  // that loads the new value (acquire) sees the unlink. Under mu_, so tags are in list order.
  uint64_t e = global_.fetch_add(1, std::memory_order_acq_rel);
  for (const Retiree& r : batch) retired_.push_back(Retired{r.p, r.fn, e});
  pending_.store(retired_.size(), std::memory_order_relaxed);
}

void Qsbr::reclaim() {
  std::lock_guard lock(mu_);
  reclaim_locked();
}

void Qsbr::try_reclaim() {
  std::unique_lock lock(mu_, std::try_to_lock);
  if (lock.owns_lock()) reclaim_locked();
}

void Qsbr::reclaim_locked() {
  if (retired_.empty()) return;
  // seq_cst: pairs with online(); see there.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint64_t min_seen = UINT64_MAX;
  for (uint32_t i = 0; i < max_threads_; ++i) {
    // acquire: pairs with the reader's release store; its earlier reads happen-before
    // the frees below.
    uint64_t e = slots_[i].epoch.load(std::memory_order_acquire);
    if (e != 0 && e < min_seen) min_seen = e;
  }
  while (!retired_.empty() && retired_.front().epoch < min_seen) {
    Retired r = retired_.front();
    retired_.pop_front();
    r.fn(r.p);
  }
  pending_.store(retired_.size(), std::memory_order_relaxed);
}

}  // namespace mqttd

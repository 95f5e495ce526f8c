// Inbox: how workers talk to each other. Each worker owns one Inbox that any thread may
// post to; only the owner drains it. Items are 32-byte envelopes whose meaning belongs
// to the layer that posts them (deliveries, session hand-overs, takeovers), except the
// few the worker itself handles (stop, tasks).
//
// Thread-safe for producers (moodycamel ConcurrentQueue: lock-free, one producer token
// per sending worker); single consumer (the owning worker).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

// <linux/fs.h> (via liburing) defines BLOCK_SIZE, a member name in concurrentqueue.
#pragma push_macro("BLOCK_SIZE")
#undef BLOCK_SIZE
#include <concurrentqueue/concurrentqueue.h>
#pragma pop_macro("BLOCK_SIZE")

namespace mqttd {

class Worker;

enum class InboxKind : uint8_t {
  kStop = 1,   // worker: begin shutdown
  kTask,       // worker: call fn(worker, arg) on the owner thread (control plane)
  kDeliver,    // session layer: deliver `ptr` (a Message, one reference) to session `target`
  kSession,    // session layer: a session moving to this worker (`ptr` owns the state)
  kTakeover,   // session layer: close `target`'s connection and hand its session over
  kSessionGone,  // session layer: a session with `target` ended on another worker
  kUser,       // session layer: anything else (`u8`/`sub_id` say what)
};

struct InboxItem {
  InboxKind kind;
  uint8_t qos = 0;
  uint8_t flags = 0;
  uint8_t u8 = 0;
  uint32_t sub_id = 0;   // subscription identifier (deliveries), or kind-specific
  uint64_t target = 0;   // session handle on the receiving worker, or kind-specific
  const void* ptr = nullptr;
  union {
    void (*fn)(Worker&, void*) = nullptr;  // kTask
    const void* extra;                     // kind-specific (e.g. several subscription ids)
  };
};
static_assert(sizeof(InboxItem) == 32);

class alignas(64) Inbox {
 public:
  explicit Inbox(int producers);

  // Producer side ----------------------------------------------------------------------
  // Enqueues a batch from worker `from` (which uses its own token). Returns true when
  // the caller must wake the owner (no wake-up was pending).
  bool post_bulk(int from, const InboxItem* items, size_t n);
  // Enqueues from a thread that is not a worker (signal handling, HTTP). Same result.
  bool post_foreign(const InboxItem& item);

  // Consumer side (owner only) -----------------------------------------------------------
  // Clears the wake-up flag, then takes up to `max` items. Call until it returns 0.
  size_t drain(InboxItem* out, size_t max);
  size_t approx_size() const { return queue_.size_approx(); }

 private:
  bool mark_wake();

  moodycamel::ConcurrentQueue<InboxItem> queue_;
  std::vector<std::unique_ptr<moodycamel::ProducerToken>> tokens_;  // one per worker
  // acq_rel on both sides: a producer's items happen-before the consumer's drain that
  // follows the flag exchange which observed (or cleared after) the producer's set.
  alignas(64) std::atomic<bool> wake_pending_{false};
};

}  // namespace mqttd

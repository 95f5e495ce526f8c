// Qsbr: quiescent-state-based reclamation for the lock-free routing structures. Readers
// (workers matching topics) pay nothing on the read path; each announces a quiescent
// state once per event-loop turn, and goes offline around blocking waits. Writers retire
// memory they have unlinked; it is freed once every online reader has passed a
// quiescent state since the unlink.
//
// Threads: register_thread/unregister_thread from any thread; quiescent/offline/online
// only by the thread that owns the id; retire/reclaim from any thread (internally
// serialised by a mutex: they are control-plane). The destructor frees everything still
// retired; it REQUIRES that no reader is still inside a read-side section.
//
// How it works (Fraser / McKenney-style epochs):
//  * `global_` is a counter that only increases. Each registered thread has a slot whose
//    `epoch` is 0 while offline, otherwise the value of `global_` it last observed at a
//    quiescent point (or when going online).
//  * retire(p) runs after p was unlinked (no new reader can reach it) and tags p with
//    e = global_.fetch_add(1) (a batch: every object of one write operation, one tag). A reader whose slot shows an epoch > e loaded global_
//    after that increment, at a moment it held no references (a quiescent point), so any
//    reference it holds now was obtained after the unlink and cannot be p.
//  * p is freed when every online slot shows an epoch > e; offline slots hold nothing.
//  * going online races with a writer's scan; a seq_cst fence on both sides makes either
//    the writer see the reader's slot, or the reader see the unlink (see online()).
// Deleters must be self-contained (free one object, drop one reference): they may run
// after the structure that retired the object is gone.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>

namespace mqttd {

class Qsbr {
 public:
  enum class ThreadId : uint32_t {};
  using Deleter = void (*)(void*);
  struct Retiree {
    void* p;
    Deleter fn;
  };

  explicit Qsbr(uint32_t max_threads);
  ~Qsbr();
  Qsbr(const Qsbr&) = delete;
  Qsbr& operator=(const Qsbr&) = delete;

  // Takes a free slot; the thread starts online. Throws std::length_error when all
  // `max_threads` slots are taken (a start-up error).
  ThreadId register_thread();
  // Goes offline and frees the slot. REQUIRES: called by the thread that owns `id`.
  void unregister_thread(ThreadId id);

  // The calling thread holds no reference into any routing structure. Cheap: one load of
  // the shared epoch and, when it moved, one store to our own cache line (plus an
  // occasional attempt to free what became safe).
  void quiescent(ThreadId id) {
    Slot& s = slots_[static_cast<uint32_t>(id)];
    // acquire: pairs with retire()'s fetch_add; having seen the new epoch, our later
    // reads see the unlink that preceded it.
    uint64_t g = global_.load(std::memory_order_acquire);
    if (s.epoch.load(std::memory_order_relaxed) == g) return;
    // release: every read we made before this point happens-before a writer that sees
    // this value and frees memory.
    s.epoch.store(g, std::memory_order_release);
    // relaxed: a hint only; a missed attempt is retried by the next writer or turn.
    if (pending_.load(std::memory_order_relaxed) != 0) try_reclaim();
  }
  // Before a blocking wait: the thread holds no references and may be ignored.
  void offline(ThreadId id) {
    // release: our reads before going offline happen-before a writer that sees 0.
    slots_[static_cast<uint32_t>(id)].epoch.store(0, std::memory_order_release);
  }
  // After a blocking wait, before touching a routing structure again.
  void online(ThreadId id);

  // Hands `p` to be freed by `fn` once no reader can hold it.
  // REQUIRES: p is already unreachable for new readers.
  void retire(void* p, Deleter fn) {
    const Retiree r{p, fn};
    retire(std::span<const Retiree>(&r, 1));
  }
  // The same for every object of `batch` (one lock, one epoch for all of them).
  // REQUIRES: each is already unreachable for new readers.
  void retire(std::span<const Retiree> batch);
  // Frees what has become safe. Called by writers after retiring; safe anywhere.
  void reclaim();

  // Objects retired and not yet freed (tests, metrics).
  size_t pending() const { return pending_.load(std::memory_order_relaxed); }

 private:
  // One cache line per thread: the owner writes it every turn, writers only read it.
  struct alignas(64) Slot {
    std::atomic<uint64_t> epoch{0};  // 0: offline or unused
    std::atomic<bool> used{false};
  };
  static_assert(sizeof(Slot) == 64, "a reader's slot must own its cache line");

  struct Retired {
    void* p;
    Deleter fn;
    uint64_t epoch;
  };

  void try_reclaim();
  void reclaim_locked();

  const uint32_t max_threads_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<uint64_t> global_{1};
  alignas(64) std::atomic<size_t> pending_{0};
  std::mutex mu_;                // guards retired_
  std::deque<Retired> retired_;  // in increasing epoch order
};

}  // namespace mqttd

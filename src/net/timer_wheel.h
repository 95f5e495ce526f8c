// TimerWheel: a hashed timer wheel, one per worker (keep-alive, connect timeout, will
// delay, session expiry, flush deadlines). Owned by one worker; not thread-safe.
//
// Timers are intrusive nodes embedded in their owners; scheduling and cancelling are O(1).
// Time is counted in ticks (kTickMs). A timer due in more than kSlots ticks sits in its
// slot until the wheel comes round to its due tick; advance() visits one slot per tick,
// so the work per tick is bounded by the timers hashed to that slot.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/clock.h"

namespace mqttd {

// 32 bytes: one is embedded in every connection and every session, so it is kept small
// (the due tick is stored modulo 2^32, see TimerWheel::kMaxAhead).
struct Timer {
  Timer* next = nullptr;
  Timer* prev = nullptr;  // non-null exactly when scheduled
  void* owner = nullptr;  // the object the timer belongs to
  uint32_t due = 0;       // tick at which it fires, modulo 2^32
  uint8_t kind = 0;       // tells the owner's dispatcher what the owner is
  bool armed() const { return prev != nullptr; }
};
static_assert(sizeof(Timer) == 32);

class TimerWheel {
 public:
  static constexpr uint32_t kSlots = 1024;  // power of two: ~102 s of 100 ms ticks per lap
  static constexpr uint32_t kTickMs = 100;

  explicit TimerWheel(uint64_t now_tick);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // A timer fires at most this many ticks (~3.4 years) ahead; a later due tick fires at
  // this horizon instead, and its owner, which keeps its own full deadline, re-arms it.
  static constexpr uint64_t kMaxAhead = uint64_t{1} << 30;

  // Arms `t` to fire at tick `due` (a due tick in the past fires on the next advance).
  // Re-arming an armed timer moves it.
  void schedule(Timer& t, uint64_t due);
  void cancel(Timer& t);

  // Fires, in no particular order, every timer due at or before `now`. Each timer is
  // unlinked before `fire(Timer&, void* ctx)` runs, so the callback may re-arm it or
  // free its owner. Timers armed by a callback for a tick <= now fire in a later call.
  void advance(uint64_t now, void (*fire)(Timer&, void*), void* ctx);

  uint64_t now() const { return now_; }
  size_t size() const { return size_; }

 private:
  void link(Timer& t);

  Timer slots_[kSlots];  // sentinel heads of circular lists
  uint64_t now_;
  size_t size_ = 0;
};

// The tick a CLOCK_MONOTONIC millisecond (common/clock.h) falls in.
inline uint64_t ms_to_tick(uint64_t ms) { return ms / TimerWheel::kTickMs; }

}  // namespace mqttd

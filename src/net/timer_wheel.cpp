#include "net/timer_wheel.h"

namespace mqttd {

TimerWheel::TimerWheel(uint64_t now_tick) : now_(now_tick) {
  for (Timer& s : slots_) s.next = s.prev = &s;
}

void TimerWheel::link(Timer& t) {
  Timer& head = slots_[t.due & (kSlots - 1)];
  t.next = head.next;
  t.prev = &head;
  head.next->prev = &t;
  head.next = &t;
}

void TimerWheel::schedule(Timer& t, uint64_t due) {
  if (t.armed()) cancel(t);
  // Never hash into the slot being (or just) processed for a past tick: it would wait
  // a full lap. Past-due timers go to the next tick.
  if (due <= now_) due = now_ + 1;
  if (due > now_ + kMaxAhead) due = now_ + kMaxAhead;
  t.due = static_cast<uint32_t>(due);  // the low bits pick the slot, as for `now` below
  link(t);
  ++size_;
}

void TimerWheel::cancel(Timer& t) {
  if (!t.armed()) return;
  t.prev->next = t.next;
  t.next->prev = t.prev;
  t.next = t.prev = nullptr;
  --size_;
}

void TimerWheel::advance(uint64_t now, void (*fire)(Timer&, void*), void* ctx) {
  if (now <= now_) return;
  // After a long stall, one pass over every slot covers all ticks in between.
  uint64_t first = now - now_ > kSlots ? now - kSlots + 1 : now_ + 1;
  now_ = now;
  for (uint64_t tick = first; tick <= now; ++tick) {
    Timer& head = slots_[tick & (kSlots - 1)];
    // Detach the due timers first so callbacks re-arming into this slot are not revisited.
    Timer due_list;
    due_list.next = due_list.prev = &due_list;
    for (Timer* t = head.next; t != &head;) {
      Timer* next = t->next;
      // Due at or before `now`: compared modulo 2^32, exact because no timer is more
      // than kMaxAhead < 2^31 ticks from `now`.
      if (static_cast<int32_t>(t->due - static_cast<uint32_t>(now)) <= 0) {
        t->prev->next = t->next;
        t->next->prev = t->prev;
        t->next = due_list.next;
        t->prev = &due_list;
        due_list.next->prev = t;
        due_list.next = t;
      }
      t = next;
    }
    while (due_list.next != &due_list) {
      Timer* t = due_list.next;
      due_list.next = t->next;
      t->next->prev = &due_list;
      t->next = t->prev = nullptr;
      --size_;
      fire(*t, ctx);
    }
  }
}

}  // namespace mqttd

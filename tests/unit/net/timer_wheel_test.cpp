#include "net/timer_wheel.h"

#include <doctest/doctest.h>

#include <vector>

namespace mqttd {
namespace {

struct Fired {
  std::vector<Timer*> timers;
  static void fire(Timer& t, void* ctx) { static_cast<Fired*>(ctx)->timers.push_back(&t); }
};

TEST_CASE("timers fire at their due tick, not before") {
  TimerWheel w(100);
  Timer a, b;
  w.schedule(a, 105);
  w.schedule(b, 110);
  CHECK(w.size() == 2);
  Fired f;
  w.advance(104, Fired::fire, &f);
  CHECK(f.timers.empty());
  w.advance(105, Fired::fire, &f);
  REQUIRE(f.timers.size() == 1);
  CHECK(f.timers[0] == &a);
  CHECK_FALSE(a.armed());
  CHECK(b.armed());
  w.advance(200, Fired::fire, &f);
  CHECK(f.timers.size() == 2);
  CHECK(w.size() == 0);
}

TEST_CASE("a timer due more than one lap ahead waits for its lap") {
  TimerWheel w(0);
  Timer t;
  w.schedule(t, TimerWheel::kSlots + 5);
  Fired f;
  w.advance(5, Fired::fire, &f);  // same slot, first lap
  CHECK(f.timers.empty());
  w.advance(TimerWheel::kSlots + 4, Fired::fire, &f);
  CHECK(f.timers.empty());
  w.advance(TimerWheel::kSlots + 5, Fired::fire, &f);
  CHECK(f.timers.size() == 1);
}

TEST_CASE("cancel and re-schedule") {
  TimerWheel w(0);
  Timer t;
  w.schedule(t, 3);
  w.cancel(t);
  CHECK_FALSE(t.armed());
  w.cancel(t);  // idempotent
  Fired f;
  w.advance(10, Fired::fire, &f);
  CHECK(f.timers.empty());
  w.schedule(t, 12);
  w.schedule(t, 20);  // moves it
  CHECK(w.size() == 1);
  w.advance(15, Fired::fire, &f);
  CHECK(f.timers.empty());
  w.advance(20, Fired::fire, &f);
  CHECK(f.timers.size() == 1);
}

TEST_CASE("a past due tick fires on the next advance") {
  TimerWheel w(50);
  Timer t;
  w.schedule(t, 10);
  Fired f;
  w.advance(51, Fired::fire, &f);
  CHECK(f.timers.size() == 1);
}

TEST_CASE("a long stall fires everything due in one pass") {
  TimerWheel w(0);
  std::vector<Timer> ts(5000);
  for (size_t i = 0; i < ts.size(); ++i) w.schedule(ts[i], 1 + i * 3);
  Fired f;
  w.advance(100000, Fired::fire, &f);
  CHECK(f.timers.size() == ts.size());
  CHECK(w.size() == 0);
}

struct Rearm {
  TimerWheel* w;
  int fired = 0;
  static void fire(Timer& t, void* ctx) {
    auto* self = static_cast<Rearm*>(ctx);
    ++self->fired;
    if (self->fired < 3) self->w->schedule(t, self->w->now());  // due now: next advance
  }
};

TEST_CASE("a callback may re-arm its timer; it fires in a later advance") {
  TimerWheel w(0);
  Timer t;
  w.schedule(t, 1);
  Rearm r{&w};
  w.advance(1, Rearm::fire, &r);
  CHECK(r.fired == 1);
  CHECK(t.armed());
  w.advance(2, Rearm::fire, &r);
  CHECK(r.fired == 2);
  w.advance(3, Rearm::fire, &r);
  CHECK(r.fired == 3);
  CHECK_FALSE(t.armed());
}

TEST_CASE("a callback may cancel another timer due in the same tick") {
  TimerWheel w(0);
  Timer a, b;
  w.schedule(a, 4);
  w.schedule(b, 4);
  // a and b share a slot; cancel whichever is the other one.
  struct Pair {
    TimerWheel* w;
    Timer* a;
    Timer* b;
    int fired = 0;
    static void fire(Timer& t, void* ctx) {
      auto* p = static_cast<Pair*>(ctx);
      ++p->fired;
      p->w->cancel(&t == p->a ? *p->b : *p->a);
    }
  } pair{&w, &a, &b};
  w.advance(4, Pair::fire, &pair);
  CHECK(pair.fired == 1);
  CHECK(w.size() == 0);
  CHECK_FALSE(a.armed());
  CHECK_FALSE(b.armed());
}

TEST_CASE("due ticks are compared modulo 2^32: a wheel running past 2^32 ticks keeps order") {
  const uint64_t start = (uint64_t{1} << 32) - 5;
  TimerWheel w(start);
  Timer a, b;
  w.schedule(a, start + 3);   // before the wrap of the stored low 32 bits
  w.schedule(b, start + 10);  // after it
  Fired f;
  w.advance(start + 2, Fired::fire, &f);
  CHECK(f.timers.empty());
  w.advance(start + 3, Fired::fire, &f);
  REQUIRE(f.timers.size() == 1);
  CHECK(f.timers[0] == &a);
  w.advance(start + 9, Fired::fire, &f);
  CHECK(f.timers.size() == 1);
  w.advance(start + 10, Fired::fire, &f);
  REQUIRE(f.timers.size() == 2);
  CHECK(f.timers[1] == &b);
}

TEST_CASE("a due tick beyond kMaxAhead fires at the horizon, for its owner to re-arm") {
  TimerWheel w(7);
  Timer t;
  w.schedule(t, 7 + TimerWheel::kMaxAhead * 4);
  Fired f;
  w.advance(7 + TimerWheel::kMaxAhead - 1, Fired::fire, &f);
  CHECK(f.timers.empty());
  w.advance(7 + TimerWheel::kMaxAhead, Fired::fire, &f);
  CHECK(f.timers.size() == 1);
}

}  // namespace
}  // namespace mqttd

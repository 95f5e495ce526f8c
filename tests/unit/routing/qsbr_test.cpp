#include "routing/qsbr.h"

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using mqttd::Qsbr;

namespace {
int freed = 0;
void count_free(void* p) {
  ++freed;
  delete static_cast<int*>(p);
}
}  // namespace

TEST_CASE("nothing is freed until every online thread has passed a quiescent state") {
  freed = 0;
  Qsbr q(4);
  Qsbr::ThreadId a = q.register_thread();
  Qsbr::ThreadId b = q.register_thread();
  q.retire(new int(1), count_free);
  q.reclaim();
  CHECK(freed == 0);
  q.quiescent(a);
  q.reclaim();
  CHECK(freed == 0);  // b has not announced yet
  q.quiescent(b);
  q.reclaim();
  CHECK(freed == 1);
  CHECK(q.pending() == 0);

  // An offline thread does not hold reclamation back; going online again does.
  q.offline(b);
  q.retire(new int(2), count_free);
  q.quiescent(a);  // quiescent() itself may reclaim
  q.reclaim();
  CHECK(freed == 2);
  q.online(b);
  q.retire(new int(3), count_free);
  q.quiescent(a);
  q.reclaim();
  CHECK(freed == 2);
  q.quiescent(b);
  CHECK(freed == 3);  // b was the last: its quiescent() freed it

  q.unregister_thread(a);
  q.unregister_thread(b);
  q.retire(new int(4), count_free);
  q.reclaim();
  CHECK(freed == 4);
}

TEST_CASE("the destructor frees what is still retired; slots are reused") {
  freed = 0;
  {
    Qsbr q(1);
    Qsbr::ThreadId a = q.register_thread();
    CHECK_THROWS_AS(q.register_thread(), std::length_error);
    q.retire(new int(1), count_free);
    q.retire(new int(2), count_free);
    q.reclaim();
    CHECK(freed == 0);
    q.unregister_thread(a);
    Qsbr::ThreadId b = q.register_thread();
    CHECK(static_cast<uint32_t>(b) == static_cast<uint32_t>(a));
    // b registered after the retirements: it cannot hold them. Still tagged as pending
    // until b passes a quiescent state, which is allowed to be conservative.
  }
  CHECK(freed == 2);
}

TEST_CASE("readers see retired objects intact until they go quiescent") {
  struct Box {
    std::atomic<int> v{42};
  };
  Qsbr q(4);
  std::atomic<Box*> shared{new Box};
  std::atomic<bool> stop{false};
  auto free_box = [](void* p) {
    static_cast<Box*>(p)->v.store(-1, std::memory_order_relaxed);  // poison before freeing
    delete static_cast<Box*>(p);
  };
  std::atomic<long> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      Qsbr::ThreadId id = q.register_thread();
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 100; ++i) {
          Box* b = shared.load(std::memory_order_acquire);
          if (b->v.load(std::memory_order_relaxed) != 42) bad.fetch_add(1);
        }
        q.quiescent(id);
      }
      q.unregister_thread(id);
    });
  }
#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
  constexpr int kSwaps = 2000;
#else
  constexpr int kSwaps = 20000;
#endif
  for (int i = 0; i < kSwaps; ++i) {
    Box* old = shared.exchange(new Box, std::memory_order_acq_rel);
    q.retire(old, free_box);
    q.reclaim();
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(bad.load() == 0);
  delete shared.load();
}

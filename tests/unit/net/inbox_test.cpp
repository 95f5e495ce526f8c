// The cross-worker inbox under concurrency: several producers post batches while the
// owner drains. Run under ThreadSanitizer (scripts/test.sh --sanitize thread).
#include "net/inbox.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mqttd {
namespace {

#if defined(MQTTD_SANITIZE_THREAD) || defined(MQTTD_SANITIZE_ADDRESS)
constexpr uint64_t kPerProducer = 20'000;
#else
constexpr uint64_t kPerProducer = 200'000;
#endif

TEST_CASE("the first post after a drain asks for a wake-up, later ones do not") {
  Inbox box(2);
  InboxItem it{};
  it.kind = InboxKind::kUser;
  CHECK(box.post_bulk(0, &it, 1));
  CHECK_FALSE(box.post_bulk(1, &it, 1));
  CHECK_FALSE(box.post_foreign(it));
  InboxItem out[8];
  CHECK(box.drain(out, 8) == 3);
  CHECK(box.drain(out, 8) == 0);
  CHECK(box.post_bulk(1, &it, 1));
}

TEST_CASE("every item of every producer arrives once, in order per producer, with no lost wake-up") {
  constexpr int kProducers = 3;
  Inbox box(kProducers);
  std::atomic<int> wakeups{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&box, &wakeups, p] {
      std::vector<InboxItem> batch;
      for (uint64_t i = 0; i < kPerProducer;) {
        batch.clear();
        size_t n = 1 + i % 37;
        for (size_t k = 0; k < n && i < kPerProducer; ++k, ++i) {
          InboxItem it{};
          it.kind = InboxKind::kUser;
          it.u8 = static_cast<uint8_t>(p);
          it.target = i;
          batch.push_back(it);
        }
        if (box.post_bulk(p, batch.data(), batch.size())) wakeups.fetch_add(1, std::memory_order_release);
      }
    });
  }
  // The consumer sleeps until woken, as a worker blocked in io_uring_enter would: a
  // wake-up that is never sent leaves items behind, which the final check catches.
  std::vector<uint64_t> next(kProducers, 0);
  uint64_t received = 0;
  int seen_wakeups = 0;
  InboxItem buf[256];
  bool ok = true;
  std::thread consumer([&] {
    while (!done.load(std::memory_order_acquire) || seen_wakeups < wakeups.load(std::memory_order_acquire)) {
      if (seen_wakeups == wakeups.load(std::memory_order_acquire)) {
        std::this_thread::yield();
        continue;
      }
      ++seen_wakeups;
      size_t n;
      while ((n = box.drain(buf, 256)) > 0) {
        for (size_t i = 0; i < n; ++i) {
          int p = buf[i].u8;
          if (buf[i].target != next[static_cast<size_t>(p)]) ok = false;
          next[static_cast<size_t>(p)] = buf[i].target + 1;
          ++received;
        }
      }
    }
  });
  for (auto& t : producers) t.join();
  done.store(true, std::memory_order_release);
  consumer.join();
  CHECK(ok);
  CHECK(received == kPerProducer * kProducers);
  for (uint64_t n : next) CHECK(n == kPerProducer);
}

}  // namespace
}  // namespace mqttd

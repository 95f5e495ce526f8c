// Counters of one ring thread, and the per-publisher stream tracker subscribers use to
// detect loss, duplication and reordering.
// RingStats: written only by its ring thread (relaxed load + store, no read-modify-write),
// read by the main thread for the progress line and the summary.
// StreamTracker: owned by one subscriber, on its ring thread.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <unordered_map>

#include "histogram.h"

namespace mqttd::bench {

// CLOCK_MONOTONIC in nanoseconds: the tool's one clock (send stamps, latency, pacing).
inline uint64_t mono_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// A single-writer counter: the owner adds without a locked instruction, readers load.
class Counter {
 public:
  void add(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct alignas(64) RingStats {
  Counter connecting;  // attempts in flight (gauge)
  Counter connected;   // CONNACK accepted and still open (gauge)
  Counter ready;       // clients that finished set-up: publishers at CONNACK, subscribers at SUBACK
  Counter connects;    // successful connections over the run
  Counter connect_errors;   // socket/connect failures, refused CONNACKs, failed SUBACKs
  Counter disconnects;      // open connections the broker ended
  Counter protocol_errors;  // malformed or unexpected packets from the broker
  Counter pub_sent;         // PUBLISH packets queued for sending
  Counter pub_acked;        // QoS 1 PUBACK / QoS 2 PUBCOMP received
  Counter pubs_done;        // publishers that reached --count
  Counter expected_in;      // deliveries the publishes so far should cause (pubsub mode)
  Counter msgs_in;          // PUBLISH packets received
  Counter unique_in;        // ... not counting duplicates
  Counter duplicates;
  Counter reordered;
  Counter foreign_in;  // received payloads without our header (other traffic)
  Counter bytes_in;
  Counter bytes_out;
  Counter pings;
  AtomicHistogram latency;  // ns from the publisher's timestamp to the subscriber's receipt
};
static_assert(alignof(RingStats) == 64);

// The header every benchmark payload starts with (native byte order: one host).
struct PayloadHeader {
  uint16_t magic;
  uint16_t run_tag;  // low bits of the publishing process's id: tells runs apart
  uint32_t publisher;
  uint64_t seq;
  uint64_t sent_ns;  // CLOCK_MONOTONIC, shared by all processes on the host
};
static_assert(sizeof(PayloadHeader) == 24);
inline constexpr uint16_t kPayloadMagic = 0x424D;  // "MB"

// Sequence tracking of the messages one subscriber receives from each publisher.
class StreamTracker {
 public:
  enum class Verdict : uint8_t { in_order, reordered, duplicate };

  // `stream` identifies the publisher: run tag << 32 | publisher id.
  Verdict record(uint64_t stream, uint64_t seq);

  // Messages lost so far if every publisher's sequence started at 0: the gaps below the
  // highest sequence seen (the tail after it is invisible here).
  uint64_t gaps() const;
  size_t streams() const { return streams_.size(); }

 private:
  struct Stream {
    uint64_t next = 0;      // highest sequence seen + 1
    uint64_t received = 0;  // distinct sequences seen
    uint64_t window = 0;    // bit i: sequence next-1-i was seen
  };
  std::unordered_map<uint64_t, Stream> streams_;
};

}  // namespace mqttd::bench

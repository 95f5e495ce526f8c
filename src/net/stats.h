// Per-worker counters. Each is written only by its worker and read by anyone (metrics,
// $SYS): single-writer relaxed atomics, so an increment is a plain load+store with no
// lock prefix, and a reader sees some recent value. Cache-line aligned per worker.
#pragma once

#include <atomic>
#include <cstdint>

namespace mqttd {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void sub(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct alignas(64) WorkerStats {
  Counter connections;        // gauge: connections this worker holds (all states)
  Counter accepted;           // accepted on our listeners or handed to us
  Counter handed_off;         // accepted here while at the cap, passed to another worker
  Counter refused;            // refused because every worker was full
  Counter refused_table_full; // dropped by the kernel: our descriptor table was full
  Counter closed;
  Counter bytes_in;
  Counter bytes_out;
  Counter packets_in;
  Counter packets_out;
  Counter dropped_qos0;       // QoS 0 packets dropped: the connection's queue was full
  Counter protocol_errors;
  Counter keepalive_timeouts;
  Counter connect_timeouts;
  Counter wakeups_sent;       // MSG_RING wake-ups sent to other workers
  Counter inbox_items;        // items drained from our inbox
  Counter recv_held;          // receive completions held back: an inbox we post to was full
  Counter loop_turns;
};

}  // namespace mqttd

// RingWorker: one thread, one io_uring, a share of the clients. It opens their sockets
// as direct descriptors (IORING_OP_SOCKET into the ring's registered file table, then
// optional bind to a source address and connect, linked), keeps one multishot recv per
// connection on a provided-buffer ring (idle connections hold no receive buffer), at most
// one send per connection, paces connects and publishes, and sends keep-alive pings.
// Each worker is owned by its thread; the main thread reads only stats() (atomics) and,
// after join, clients().
//
// Completion tags: user_data = op (8 bits) | slot (24 bits) | generation (32 bits). A
// client's generation is bumped when its slot is closed, so completions of a previous
// connection in the same slot (the multishot recv's final CQE, a failed send) are dropped.
#pragma once

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "cli.h"
#include "client.h"
#include "stats.h"

namespace mqttd::bench {

enum class Phase : int {
  connect,  // clients connect and subscribe; publishers wait
  run,      // publishers publish (conn: connections are held)
  drain,    // publishing has ended; subscribers receive stragglers
  stop,     // every client sends DISCONNECT and the rings exit
};

// Set by the main thread, read by every ring.
struct RunControl {
  // release: run_start_ns is written before the phase becomes run.
  std::atomic<Phase> phase{Phase::connect};
  uint64_t run_start_ns = 0;
  // Subscribers matching each publisher (pubsub), constant once the rings start.
  std::vector<uint32_t> fanout;
};

class RingWorker {
 public:
  RingWorker(const BenchConfig& cfg, RunControl& control, uint32_t ring_index, uint32_t rings);
  ~RingWorker();
  RingWorker(const RingWorker&) = delete;
  RingWorker& operator=(const RingWorker&) = delete;

  // Thread body: sets up the ring and runs until the phase is stop and output is flushed.
  // On a set-up failure sets error() and returns.
  void run();

  const RingStats& stats() const { return stats_; }
  // Empty, or the reason the ring could not start (read after the thread ends or when
  // failed() is true).
  const std::string& error() const { return error_; }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // The first socket error seen, as text (for the summary), once the thread has ended.
  const std::string& first_socket_error() const { return first_socket_error_; }
  // REQUIRES: the thread has ended.
  const std::vector<Client>& clients() const { return clients_; }

 private:
  enum class Op : uint8_t { setup = 1, connect, recv, send, close };

  bool init();
  void loop();
  void handle(const io_uring_cqe* cqe);
  void tick(uint64_t now);
  void flush();
  void start_connect(uint32_t slot);
  void on_connected(uint32_t slot, int res);
  void on_recv(uint32_t slot, const io_uring_cqe* cqe);
  void on_send(uint32_t slot, int res);
  void arm_recv(uint32_t slot);
  void submit_send(uint32_t slot);
  void close_slot(uint32_t slot, bool retry);
  void pump(uint32_t slot);
  void schedule_flush(uint32_t slot);
  void note_error(const char* what, int res);
  uint64_t due(const Client& c, uint64_t now) const;
  io_uring_sqe* get_sqe();
  static uint64_t tag(Op op, uint32_t slot, uint32_t generation);

  const BenchConfig& cfg_;
  RunControl& control_;
  const uint32_t index_;
  const uint32_t rings_;
  io_uring ring_{};
  bool ring_ready_ = false;
  bool bind_op_ = false;        // the kernel has IORING_OP_BIND
  bool setsockopt_op_ = false;  // ... and socket commands (TCP_NODELAY on direct sockets)
  io_uring_buf_ring* buf_ring_ = nullptr;
  uint8_t* buf_mem_ = nullptr;
  uint32_t buf_count_ = 0;
  uint32_t buf_size_ = 0;
  uint32_t bufs_returned_ = 0;  // buffers added back since the last advance
  std::vector<Client> clients_;
  std::vector<sockaddr_in> sources_;  // per slot when binding (empty: no bind)
  std::vector<uint32_t> flush_list_;
  std::vector<uint32_t> publishers_;
  std::deque<uint32_t> retry_;  // closed slots, oldest first (deadline_ns ascending)
  uint32_t next_new_ = 0;       // next slot that has never connected
  uint32_t handshakes_ = 0;     // slots connecting or awaiting CONNACK
  double connect_tokens_ = 0;
  uint64_t last_tick_ns_ = 0;
  uint64_t last_second_ns_ = 0;
  uint64_t tick_ns_ = 0;
  Phase phase_ = Phase::connect;
  uint64_t stop_since_ns_ = 0;
  int one_ = 1;  // TCP_NODELAY option value; lives as long as the ring
  RingStats stats_;
  ClientEnv env_;
  std::string error_;
  std::string first_socket_error_;
  std::atomic<bool> failed_{false};
};


}  // namespace mqttd::bench

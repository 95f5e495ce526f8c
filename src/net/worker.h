// Worker: one thread, one io_uring, its listening sockets, its connections (worker.cpp;
// moving connections between workers: worker_move.cpp; cross-worker posting and
// back-pressure: worker_flow.cpp). Everything
// here runs on the worker's own thread; other threads reach a worker only through its
// inbox (WorkerShared::inbox) and MSG_RING wake-ups.
//
// The loop, once per turn:
//   1. drain the inbox (deliveries, hand-overs, control tasks) into the handler;
//   2. let the handler finish the turn (quiescent state, batched posts);
//   3. flush: one sendmsg per connection with queued output and no send in flight;
//      one bulk enqueue + at most one wake-up per target worker;
//   4. submit and wait for completions (up to the next timer tick);
//   5. handle the batch of completions (accept, recv, send, hand-off, ...), then advance
//      the provided-buffer ring and the CQ once;
//   6. advance the timer wheel.
#pragma once

#include <liburing.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "http/http_server.h"
#include "mqttd/reason_code.h"
#include "net/buffer_ring.h"
#include "net/connection.h"
#include "net/handler.h"
#include "net/inbox.h"
#include "net/stats.h"
#include "net/tag.h"
#include "net/timer_wheel.h"

namespace mqttd {

class Engine;
struct WorkerShared;

// The bytes that travel with a moved connection (the stream from its CONNECT on); owned
// by whichever worker holds it (worker_move.cpp).
struct MoveState {
  int target = -1;
  std::vector<uint8_t> bytes;
};

struct SendOp {
  static constexpr int kMaxIov = 64;
  msghdr msg;
  iovec iov[kMaxIov];
};

class Worker {
 public:
  Worker(int id, Engine& engine);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // On the worker's thread: ring, file table, buffers, listeners. Returns "" or one
  // sentence naming the cause and the fix.
  std::string setup();
  void set_handler(std::unique_ptr<ConnectionHandler> handler) { handler_ = std::move(handler); }
  ConnectionHandler* handler() const { return handler_.get(); }
  // Runs until shutdown completes.
  void run();

  // --- for the handler (worker thread only) -----------------------------------------
  int id() const { return id_; }
  int worker_count() const;
  // This worker's copy of the configuration: constant but for the keys SIGHUP may
  // change live, which apply_live_config() updates on this thread between turns.
  const Config& config() const { return config_; }
  void apply_live_config(const Config& next);
  Engine& engine() { return engine_; }
  TimerWheel& timers() { return timers_; }
  WorkerStats& stats();
  uint64_t now_ms() const { return now_ms_; }  // at the start of this batch
  uint32_t cap() const { return cap_; }
  bool stopping() const { return stopping_; }

  // The CONNECT of `c` was accepted: it becomes kOpen and keep-alive starts (0: none).
  void accept_connect(Connection& c, uint16_t keep_alive);
  // `c.out` has new bytes; they are sent at the end of the turn.
  void send(Connection& c);
  // Whether `bytes` more fit under max_queued_bytes.
  bool can_queue(const Connection& c, size_t bytes) const {
    return c.out.bytes() + bytes <= max_queued_bytes_;
  }
  // Ends `c` for MQTT now (handler->on_close runs) and drops what is queued.
  void close(Connection& c, CloseCause cause);
  // Ends `c` for MQTT now, but sends what is queued first (bounded by a deadline).
  void close_after_flush(Connection& c, CloseCause cause);
  // MQTT 5: queues DISCONNECT with `reason`, then close_after_flush. 3.x: close.
  void disconnect(Connection& c, ReasonCode reason, CloseCause cause);
  // Moves `c` to worker `target` together with `bytes`, the stream as received so far
  // from the start of the packet being handled (normally its CONNECT). The target
  // continues the connection as if it had accepted it and received those bytes. `c`
  // leaves this worker without on_close. Used to bring a resuming client to the worker
  // that holds its session. Call from on_packet only.
  void move_connection(Connection& c, int target, std::vector<uint8_t> bytes);
  // Posts an item to worker `target`'s inbox; sent in bulk at the end of the turn.
  void post(int target, const InboxItem& item);
  // The live connection in `slot` with generation `gen`, or null.
  Connection* connection(uint32_t slot, uint32_t gen) const;
  // The same for a Connection::ref().
  Connection* connection(uint64_t ref) const {
    return connection(static_cast<uint32_t>(ref >> 32), static_cast<uint32_t>(ref));
  }
  // Calls fn for every connection that is not closing.
  template <typename Fn>
  void for_each_connection(Fn&& fn) {
    for (Connection* c : conns_) {
      if (c && !c->closing() && c->state != ConnState::kMoving) fn(*c);
    }
  }

 private:
  struct Listener {
    int fd = -1;
    bool armed = false;
  };

  io_uring_sqe* get_sqe();
  void cancel(Tag target);  // asynchronous cancel of our request tagged `target`
  void arm_accept(uint32_t index);
  void arm_recv(Connection& c);
  void submit_send(Connection& c);
  void start_connection(uint32_t slot, ConnState state);
  void handoff(uint32_t slot, int target);
  void finish_move(Connection& c);
  void on_move_out(Connection& c, int res);
  void on_move_in(int slot, void* state);
  void settle_moves();
  void release_slot(Connection& c);

  void handle_cqe(const io_uring_cqe* cqe);
  void on_accept(uint32_t index, const io_uring_cqe* cqe);
  void dispatch_recv(uint32_t slot, uint32_t gen, int res, uint32_t flags);
  void recycle_stale(uint32_t flags);
  void on_recv(Connection& c, int res, uint32_t flags);
  void on_send(Connection& c, int res);
  void on_handoff_out(uint32_t slot, int res);
  void consume(Connection& c, const uint8_t* data, size_t len);
  void refuse_connect(Connection& c, const Frame& frame);
  void stream_error(Connection& c, ReasonCode reason);
  void on_connection_timer(Connection& c);
  static void fire_timer(Timer& t, void* self);

  void end_for_mqtt(Connection& c, CloseCause cause);
  void teardown(Connection& c);
  void maybe_free(Connection& c);

  void drain_inbox();
  void flush_sends();
  bool flush_posts();  // true when items were posted to this worker itself
  bool congested() const { return !congested_.empty(); }
  void mark_congested(int target);
  void throttle(Connection& c);
  void hold(Connection& c, const io_uring_cqe* cqe);
  void update_congestion();
  void replay_held();
  void rearm_recvs();
  void begin_stop();
  bool finished() const;
  // block: wait for a completion (up to the next timer tick, or 1 ms when `soon`).
  void wait(bool block, bool soon);

  const int id_;
  Engine& engine_;
  WorkerShared& shared_;
  Config config_;
  std::unique_ptr<ConnectionHandler> handler_;

  io_uring ring_{};
  bool ring_ok_ = false;
  uint32_t table_size_ = 0;  // registered file slots: cap_ + reserve
  uint32_t cap_ = 0;         // connections before handing off
  uint64_t max_queued_bytes_ = 0;
  BufferRing buffers_;
  std::vector<Listener> listeners_;
  std::unique_ptr<HttpServer> http_;  // worker 0 only, when [http] is enabled

  std::vector<Connection*> conns_;  // by slot
  std::vector<uint32_t> gens_;      // by slot; bumped when a slot's connection is freed
  uint32_t live_ = 0;               // connections in conns_
  uint32_t in_transit_ = 0;         // slots being handed to another worker

  std::vector<uint64_t> dirty_;        // (slot, gen) of connections with output to send
  std::vector<uint64_t> rearm_;        // (slot, gen) of connections whose recv must re-arm
  std::vector<SendOp*> send_pool_;
  std::vector<std::vector<InboxItem>> outbox_;  // by target worker
  std::vector<int> outbox_targets_;
  std::vector<uint32_t> unlooked_;  // by target: items posted since its inbox size was read
  std::vector<InboxItem> drain_buf_;
  bool inbox_left_ = false;  // the last drain stopped at its budget

  // Back-pressure (docs/ARCHITECTURE.md): a connection whose packets post to a worker
  // whose inbox is over the high watermark is throttled; its receive completions are
  // held here unprocessed, in arrival order, with their buffers, until every congested
  // inbox is below the low watermark. Other connections are not held. Bounded by the
  // buffer ring: a held completion holds a buffer or ends a recv.
  struct HeldRecv {
    uint32_t slot;
    uint32_t gen;
    int32_t res;
    uint32_t flags;
  };
  std::deque<HeldRecv> held_;
  std::vector<int> congested_;      // targets over the high watermark
  std::vector<uint64_t> throttled_;  // (slot, gen) of throttled connections
  Connection* consuming_ = nullptr;  // whose bytes are being handled (posts throttle it)

  // Connections moved here whose moved bytes are consumed after `reaps` more batches of
  // completions (see on_move_in); owns the MoveStates.
  struct MovedIn {
    uint64_t ref;
    MoveState* state;
    int reaps;
  };
  std::vector<MovedIn> moved_in_;

  TimerWheel timers_;
  uint64_t now_ms_ = 0;
  bool stopping_ = false;
  uint64_t stop_deadline_ms_ = 0;
  uint64_t last_table_full_log_ms_ = 0;
};

}  // namespace mqttd

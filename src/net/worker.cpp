#include "net/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "mqttd/decode.h"
#include "mqttd/encode.h"
#include "net/engine.h"
#include "net/listener.h"

namespace mqttd {
namespace {

constexpr uint32_t kReserveSlots = 32;       // refusals and hand-offs beyond the cap
constexpr uint32_t kSqEntries = 2048;
constexpr uint32_t kCqEntries = 16384;
constexpr uint64_t kFlushDeadlineMs = 5000;  // close_after_flush gives up after this
constexpr uint64_t kStopDeadlineMs = 4000;   // shutdown forces the rest closed after this
constexpr size_t kSendPoolMax = 256;
}  // namespace

const char* close_cause_name(CloseCause cause) {
  switch (cause) {
    case CloseCause::kPeerClosed: return "peer closed";
    case CloseCause::kNetworkError: return "network error";
    case CloseCause::kProtocolError: return "protocol error";
    case CloseCause::kKeepAliveTimeout: return "keep-alive timeout";
    case CloseCause::kConnectTimeout: return "connect timeout";
    case CloseCause::kClientDisconnect: return "client disconnect";
    case CloseCause::kServerShutdown: return "server shutdown";
    case CloseCause::kTakenOver: return "session taken over";
    case CloseCause::kRefused: return "refused";
    case CloseCause::kOverloaded: return "overloaded";
  }
  return "?";
}

Worker::Worker(int id, Engine& engine)
    : id_(id), engine_(engine), shared_(engine.shared(id)), config_(engine.config()), timers_(ms_to_tick(monotonic_ms())) {}

Worker::~Worker() {
  for (MovedIn& mv : moved_in_) delete mv.state;
  for (Connection* c : conns_) delete c;
  for (SendOp* op : send_pool_) delete op;
  for (Listener& l : listeners_) {
    if (l.fd >= 0) ::close(l.fd);
  }
  if (ring_ok_) {
    buffers_.release();  // needs the ring, so before it goes
    io_uring_queue_exit(&ring_);
  }
}

int Worker::worker_count() const { return engine_.workers(); }
void Worker::apply_live_config(const Config& next) {
  apply_live_keys(config_, next);
  max_queued_bytes_ = config_.max_queued_bytes;
}
WorkerStats& Worker::stats() { return shared_.stats; }

std::string Worker::setup() {
  const Config& cfg = config();
  // SINGLE_ISSUER: only this thread submits. DEFER_TASKRUN: completion work runs when
  // this thread waits, not as interrupts in the middle of its work (needs SINGLE_ISSUER).
  // SUBMIT_ALL: one bad SQE does not stop the rest of the batch. CQSIZE: multishot
  // requests produce many completions per submission.
  const unsigned base = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
  const unsigned attempts[] = {
      base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      base | IORING_SETUP_COOP_TASKRUN,  // pre-6.1 kernels: no task-work interrupts
      base,
  };
  int r = -EINVAL;
  for (unsigned flags : attempts) {
    io_uring_params p{};
    p.flags = flags;
    p.cq_entries = kCqEntries;
    r = io_uring_queue_init_params(kSqEntries, &ring_, &p);
    if (r != -EINVAL) break;
  }
  if (r < 0) {
    return std::string("worker ") + std::to_string(id_) + ": io_uring_setup failed: " +
           std::strerror(-r) + " (raise RLIMIT_MEMLOCK or check kernel.io_uring_disabled)";
  }
  ring_ok_ = true;
  io_uring_register_ring_fd(&ring_);  // saves an fd lookup per io_uring_enter; optional

  cap_ = engine_.cap_per_worker();
  table_size_ = cap_ + kReserveSlots;
  r = io_uring_register_files_sparse(&ring_, table_size_);
  if (r < 0) {
    return "worker " + std::to_string(id_) + ": cannot register " + std::to_string(table_size_) +
           " direct descriptors: " + std::strerror(-r) +
           " (each ring's table is limited by RLIMIT_NOFILE; lower max_connections_per_worker or raise "
           "the limit, e.g. systemd LimitNOFILE)";
  }
  conns_.assign(table_size_, nullptr);
  gens_.assign(table_size_, 1);
  max_queued_bytes_ = cfg.max_queued_bytes;

  r = buffers_.init(&ring_, 0, cfg.recv_buffers, cfg.recv_buffer_size);
  if (r < 0) {
    return "worker " + std::to_string(id_) + ": cannot set up the receive buffer ring: " +
           std::strerror(-r);
  }

  for (const ListenerConfig& lc : cfg.listeners) {
    std::string error;
    int fd = open_listener(lc, error);
    if (fd < 0) return error;
    listeners_.push_back(Listener{fd, false});
  }
  for (uint32_t i = 0; i < listeners_.size(); ++i) arm_accept(i);
  if (id_ == 0 && cfg.http.enabled && engine_.http_responder()) {
    std::string error;
    int fd = open_listener(ListenerConfig{cfg.http.bind, cfg.http.port}, error);
    if (fd < 0) return "[http] " + error;
    http_ = std::make_unique<HttpServer>(&ring_, fd, static_cast<uint8_t>(Op::kHttp),
                                         engine_.http_responder());
    http_->start();
  }
  outbox_.resize(static_cast<size_t>(worker_count()));
  unlooked_.assign(static_cast<size_t>(worker_count()), 0);
  drain_buf_.resize(256);
  shared_.ring_fd = ring_.ring_fd;
  int submitted = io_uring_submit(&ring_);
  if (submitted < 0) {
    return "worker " + std::to_string(id_) + ": io_uring_submit failed: " + std::strerror(-submitted);
  }
  shared_.accepting.store(true, std::memory_order_relaxed);
  return "";
}

io_uring_sqe* Worker::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Worker::arm_accept(uint32_t index) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept_direct(sqe, listeners_[index].fd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, Tag{Op::kAccept, index, 0}.pack());
  listeners_[index].armed = true;
}

void Worker::arm_recv(Connection& c) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, static_cast<int>(c.slot), nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = buffers_.group();
  io_uring_sqe_set_data64(sqe, Tag{Op::kRecv, c.slot, c.gen}.pack());
  c.flags |= Connection::kRecvArmed;
}

void Worker::start_connection(uint32_t slot, ConnState state) {
  if (slot >= conns_.size() || conns_[slot] != nullptr) {
    LOG_ERROR("accepted into slot %u that is out of range or in use; dropping it", slot);
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_close_direct(sqe, slot);
    io_uring_sqe_set_data64(sqe, Tag{Op::kClose, slot, 0}.pack());
    return;
  }
  auto* c = new Connection(slot, gens_[slot], config().max_packet_size);
  c->state = state;
  c->last_rx_tick = static_cast<uint32_t>(ms_to_tick(now_ms_));
  c->timer.kind = kConnectionTimer;
  conns_[slot] = c;
  ++live_;
  shared_.load.store(live_, std::memory_order_relaxed);
  stats().connections.add();
  stats().accepted.add();
  arm_recv(*c);
  timers_.schedule(c->timer, ms_to_tick(now_ms_) + uint64_t{config().connect_timeout} * 10);
  LOG_DEBUG("connection %u: started%s", slot, state == ConnState::kRefusing ? " (to refuse)" : "");
}

Connection* Worker::connection(uint32_t slot, uint32_t gen) const {
  if (slot >= conns_.size()) return nullptr;
  Connection* c = conns_[slot];
  return c && c->gen == gen ? c : nullptr;
}

// --- completions ---------------------------------------------------------------------

void Worker::handle_cqe(const io_uring_cqe* cqe) {
  Tag t = Tag::unpack(cqe->user_data);
  switch (t.op) {
    case Op::kAccept:
      on_accept(t.slot, cqe);
      break;
    case Op::kRecv: {
      Connection* c = connection(t.slot, t.gen);
      if (!c) {
        recycle_stale(cqe->flags);
      } else if (!stopping_ && (c->held > 0 || c->has(Connection::kThrottled))) {
        hold(*c, cqe);
      } else {
        on_recv(*c, cqe->res, cqe->flags);
      }
      break;
    }
    case Op::kSend:
      if (Connection* c = connection(t.slot, t.gen)) on_send(*c, cqe->res);
      break;
    case Op::kHandoffIn:
      if (cqe->res >= 0) start_connection(static_cast<uint32_t>(cqe->res), ConnState::kAwaitConnect);
      break;
    case Op::kHandoffOut:
      on_handoff_out(t.slot, cqe->res);
      break;
    case Op::kMoveIn:
      on_move_in(cqe->res, Tag::unpack_ptr(cqe->user_data));
      break;
    case Op::kMoveOut:
      if (Connection* c = connection(t.slot, t.gen)) on_move_out(*c, cqe->res);
      break;
    case Op::kHttp:
      if (http_) http_->on_cqe(cqe, now_ms_);
      break;
    case Op::kWake:
    case Op::kCancel:
    case Op::kClose:
      break;  // nothing to do: the inbox is drained every turn; teardown results are moot
  }
}

void Worker::on_accept(uint32_t index, const io_uring_cqe* cqe) {
  Listener& l = listeners_[index];
  if (!(cqe->flags & IORING_CQE_F_MORE)) {
    l.armed = false;
    // -ENFILE ends the multishot with the table full: re-armed when a slot frees.
    if (!stopping_ && l.fd >= 0 && cqe->res != -ENFILE) arm_accept(index);
  }
  int res = cqe->res;
  if (res < 0) {
    if (res == -ENFILE) {
      stats().refused_table_full.add();
      if (now_ms_ - last_table_full_log_ms_ > 10000) {
        last_table_full_log_ms_ = now_ms_;
        LOG_WARN("descriptor table full (%u slots): new connections are dropped by the kernel",
                 table_size_);
      }
    } else if (res != -ECANCELED) {
      LOG_WARN("accept failed: %s", std::strerror(-res));
    }
    return;
  }
  auto slot = static_cast<uint32_t>(res);
  if (stopping_) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_close_direct(sqe, slot);
    io_uring_sqe_set_data64(sqe, Tag{Op::kClose, slot, 0}.pack());
    return;
  }
  if (live_ >= cap_) {
    int target = engine_.least_loaded(id_);
    if (target >= 0) {
      handoff(slot, target);
      return;
    }
    start_connection(slot, ConnState::kRefusing);
    return;
  }
  start_connection(slot, ConnState::kAwaitConnect);
}

void Worker::dispatch_recv(uint32_t slot, uint32_t gen, int res, uint32_t flags) {
  if (Connection* c = connection(slot, gen)) {
    on_recv(*c, res, flags);
  } else {
    recycle_stale(flags);
  }
}

// A receive completion for a connection that is gone: only its buffer matters.
void Worker::recycle_stale(uint32_t flags) {
  if (flags & IORING_CQE_F_BUFFER) {
    buffers_.recycle(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT));
  }
}

void Worker::on_recv(Connection& c, int res, uint32_t flags) {
  if (res > 0) {
    auto bid = static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    // kRecvArmed is still set, so nothing in consume() can free `c`.
    if (c.state == ConnState::kMoving) {
      auto* m = static_cast<MoveState*>(c.session);
      m->bytes.insert(m->bytes.end(), buffers_.data(bid), buffers_.data(bid) + res);
    } else if (!c.closing()) {
      consume(c, buffers_.data(bid), static_cast<size_t>(res));
    }
    buffers_.recycle(bid);
  }
  if (flags & IORING_CQE_F_MORE) return;
  c.flags &= static_cast<uint8_t>(~Connection::kRecvArmed);
  if (c.state == ConnState::kMoving) {
    finish_move(c);
  } else if (c.closing()) {
    maybe_free(c);
  } else if (res > 0 || res == -ENOBUFS) {
    // The kernel ended the multishot (buffers ran out): re-arm once buffers are back.
    rearm_.push_back(c.ref());
  } else if (res == 0) {
    close(c, CloseCause::kPeerClosed);
  } else {
    LOG_DEBUG("connection %u: receive failed: %s", c.slot, std::strerror(-res));
    close(c, CloseCause::kNetworkError);
  }
}

void Worker::consume(Connection& c, const uint8_t* data, size_t len) {
  Connection* const outer = consuming_;  // posts made meanwhile throttle `c` (see post())
  consuming_ = &c;
  stats().bytes_in.add(len);
  c.last_rx_tick = static_cast<uint32_t>(ms_to_tick(now_ms_));
  std::span<const uint8_t> in(data, len);
  Frame frame;
  while (!c.closing()) {
    ParseResult r = c.reader.next(in, frame);
    if (r.status == ParseStatus::need_more) break;
    if (r.status == ParseStatus::error) {
      stream_error(c, r.reason);
      break;
    }
    stats().packets_in.add();
    if (c.state == ConnState::kRefusing) {
      refuse_connect(c, frame);
      break;
    }
    handler_->on_packet(c, frame);
    if (c.state == ConnState::kMoving) {
      // The rest of this buffer belongs to the worker the connection moves to.
      auto* m = static_cast<MoveState*>(c.session);
      m->bytes.insert(m->bytes.end(), in.begin(), in.end());
      if (!c.has(Connection::kRecvArmed)) finish_move(c);
      break;
    }
  }
  consuming_ = outer;
}

void Worker::refuse_connect(Connection& c, const Frame& frame) {
  if (frame.header.type != PacketType::connect) {
    close(c, CloseCause::kProtocolError);
    return;
  }
  Connect connect;
  decode_connect(frame, connect);  // only the version matters here
  ConnAck ack;
  ack.reason = connect.version == ProtocolVersion::v5 ? ReasonCode::quota_exceeded
                                                       : ReasonCode::server_unavailable;
  uint8_t buf[16];
  size_t n = encode(ack, connect.version, buf);
  c.out.push_copy({buf, n});
  stats().packets_out.add();
  stats().refused.add();
  send(c);
  close_after_flush(c, CloseCause::kRefused);
}

void Worker::stream_error(Connection& c, ReasonCode reason) {
  stats().protocol_errors.add();
  LOG_DEBUG("connection %u: stream error: %s", c.slot, reason_name(reason));
  if (c.state == ConnState::kOpen) {
    disconnect(c, reason, CloseCause::kProtocolError);
  } else {
    close(c, CloseCause::kProtocolError);
  }
}

void Worker::on_send(Connection& c, int res) {
  c.flags &= static_cast<uint8_t>(~Connection::kSendInFlight);
  if (send_pool_.size() < kSendPoolMax) {
    send_pool_.push_back(c.send_op);
  } else {
    delete c.send_op;
  }
  c.send_op = nullptr;
  if (c.has(Connection::kTornDown)) {
    c.out.clear();
    maybe_free(c);
    return;
  }
  if (c.state == ConnState::kMoving) {
    if (!c.has(Connection::kRecvArmed)) finish_move(c);
    return;
  }
  if (res < 0) {
    LOG_DEBUG("connection %u: send failed: %s", c.slot, std::strerror(-res));
    close(c, CloseCause::kNetworkError);
    return;
  }
  stats().bytes_out.add(static_cast<uint64_t>(res));
  c.out.consume(static_cast<size_t>(res));
  if (!c.out.empty()) {
    send(c);
  } else if (c.has(Connection::kCloseAfterFlush)) {
    teardown(c);
  }
}

void Worker::submit_send(Connection& c) {
  SendOp* op;
  if (send_pool_.empty()) {
    op = new SendOp;
  } else {
    op = send_pool_.back();
    send_pool_.pop_back();
  }
  int n = c.out.gather(op->iov, SendOp::kMaxIov);
  std::memset(&op->msg, 0, sizeof op->msg);
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = static_cast<size_t>(n);
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_sendmsg(sqe, static_cast<int>(c.slot), &op->msg, MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, Tag{Op::kSend, c.slot, c.gen}.pack());
  c.send_op = op;
  c.flags |= Connection::kSendInFlight;
}

// --- connection control (handler API) ----------------------------------------------------

void Worker::accept_connect(Connection& c, uint16_t keep_alive) {
  c.state = ConnState::kOpen;
  c.keep_alive = keep_alive;
  if (keep_alive > 0) {
    // MQTT-3.1.2-22: close after one and a half keep-alive periods without a packet.
    timers_.schedule(c.timer, c.last_rx_tick + uint64_t{keep_alive} * 15);
  } else {
    timers_.cancel(c.timer);
  }
}

void Worker::send(Connection& c) {
  if (c.has(Connection::kDirty)) return;
  c.flags |= Connection::kDirty;
  dirty_.push_back(c.ref());
}

void Worker::end_for_mqtt(Connection& c, CloseCause cause) {
  if (c.closing()) return;
  ConnState was = c.state;
  if (was == ConnState::kMoving) {
    // Not handed to the target yet (a sent move always completes): just drop it.
    delete static_cast<MoveState*>(c.session);
    c.session = nullptr;
  }
  c.state = ConnState::kClosing;
  timers_.cancel(c.timer);
  stats().closed.add();
  LOG_DEBUG("connection %u: closing (%s)", c.slot, close_cause_name(cause));
  if (was == ConnState::kAwaitConnect || was == ConnState::kOpen) handler_->on_close(c, cause);
}

void Worker::close(Connection& c, CloseCause cause) {
  if (c.has(Connection::kMoveSent)) return;  // leaving anyway
  end_for_mqtt(c, cause);
  teardown(c);
}

void Worker::close_after_flush(Connection& c, CloseCause cause) {
  if (c.has(Connection::kMoveSent)) return;
  end_for_mqtt(c, cause);
  if (c.has(Connection::kTornDown)) return;
  c.flags |= Connection::kCloseAfterFlush;
  if (!c.has(Connection::kSendInFlight) && c.out.empty()) {
    teardown(c);
    return;
  }
  send(c);
  timers_.schedule(c.timer, ms_to_tick(now_ms_ + kFlushDeadlineMs));
}

void Worker::disconnect(Connection& c, ReasonCode reason, CloseCause cause) {
  if (c.state == ConnState::kOpen && c.version == static_cast<uint8_t>(ProtocolVersion::v5)) {
    Disconnect d;
    d.reason = reason;
    uint8_t buf[8];
    size_t n = encode(d, ProtocolVersion::v5, buf);
    c.out.push_copy({buf, n});
    stats().packets_out.add();
    close_after_flush(c, cause);
  } else if (cause == CloseCause::kProtocolError) {
    close(c, cause);  // MQTT 3.1.1 4.8: just close
  } else {
    close_after_flush(c, cause);
  }
}

void Worker::teardown(Connection& c) {
  if (c.has(Connection::kTornDown)) return;
  c.flags |= Connection::kTornDown;
  timers_.cancel(c.timer);
  // No IORING_OP_SHUTDOWN: the kernel runs it on an io-wq thread, and it was seen to hit
  // the next connection accepted into the same slot (the slot is closed and reused
  // before the shutdown ran). Cancelling our two requests and then closing the slot
  // (maybe_free) ends the socket just as well: the last reference going sends FIN after
  // what is already in the socket's send buffer.
  if (c.has(Connection::kRecvArmed)) cancel(Tag{Op::kRecv, c.slot, c.gen});
  if (c.has(Connection::kSendInFlight)) {
    cancel(Tag{Op::kSend, c.slot, c.gen});  // a peer that does not read holds it forever
  } else {
    c.out.clear();
  }
  maybe_free(c);
}

void Worker::cancel(Tag target) {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel64(sqe, target.pack(), 0);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, Tag{Op::kCancel, target.slot, target.gen}.pack());
}

void Worker::maybe_free(Connection& c) {
  if (!c.has(Connection::kTornDown) || c.has(Connection::kRecvArmed) ||
      c.has(Connection::kSendInFlight)) {
    return;
  }
  release_slot(c);
}

void Worker::release_slot(Connection& c) {
  uint32_t slot = c.slot;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_close_direct(sqe, slot);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, Tag{Op::kClose, slot, c.gen}.pack());
  conns_[slot] = nullptr;
  ++gens_[slot];
  --live_;
  shared_.load.store(live_, std::memory_order_relaxed);
  stats().connections.sub();
  delete &c;
  // A listener paused by a full table resumes now that a slot is free.
  for (uint32_t i = 0; i < listeners_.size(); ++i) {
    if (!listeners_[i].armed && listeners_[i].fd >= 0 && !stopping_) arm_accept(i);
  }
}

void Worker::on_connection_timer(Connection& c) {
  switch (c.state) {
    case ConnState::kAwaitConnect:
    case ConnState::kRefusing:
      stats().connect_timeouts.add();
      close(c, CloseCause::kConnectTimeout);
      break;
    case ConnState::kOpen: {
      uint64_t limit = uint64_t{c.keep_alive} * 15;  // 1.5 x keep-alive, in 100 ms ticks
      uint64_t due = c.last_rx_tick + limit;
      if (c.keep_alive == 0) break;
      if (timers_.now() < due) {
        timers_.schedule(c.timer, due);  // traffic arrived since: wait for the rest
      } else {
        stats().keepalive_timeouts.add();
        disconnect(c, ReasonCode::keep_alive_timeout, CloseCause::kKeepAliveTimeout);
      }
      break;
    }
    case ConnState::kClosing:
      teardown(c);  // the flush deadline passed
      break;
    case ConnState::kMoving:
      break;
  }
}

void Worker::fire_timer(Timer& t, void* self) {
  auto* w = static_cast<Worker*>(self);
  if (t.kind == kConnectionTimer) {
    w->on_connection_timer(*static_cast<Connection*>(t.owner));
  } else {
    w->handler_->on_timer(t);
  }
}

// --- the loop ------------------------------------------------------------------------------

void Worker::flush_sends() {
  for (uint64_t ref : dirty_) {
    Connection* c = connection(ref);
    if (!c) continue;
    c->flags &= static_cast<uint8_t>(~Connection::kDirty);
    if (!c->has(Connection::kSendInFlight) && !c->has(Connection::kTornDown) && !c->out.empty()) {
      submit_send(*c);
    }
  }
  dirty_.clear();
}

void Worker::rearm_recvs() {
  for (uint64_t ref : rearm_) {
    Connection* c = connection(ref);
    if (c && !c->closing() && c->state != ConnState::kMoving && !c->has(Connection::kRecvArmed)) {
      arm_recv(*c);
    }
  }
  rearm_.clear();
}

void Worker::begin_stop() {
  if (stopping_) return;
  stopping_ = true;
  shared_.accepting.store(false, std::memory_order_relaxed);
  stop_deadline_ms_ = now_ms_ + kStopDeadlineMs;
  for (uint32_t i = 0; i < listeners_.size(); ++i) {
    Listener& l = listeners_[i];
    if (l.armed) cancel(Tag{Op::kAccept, i, 0});
    if (l.fd >= 0) {
      ::close(l.fd);
      l.fd = -1;
    }
  }
  if (http_) http_->stop_accepting();
  handler_->on_stop();
  for (Connection* c : conns_) {
    if (!c || c->closing() || c->has(Connection::kMoveSent)) continue;
    if (c->state == ConnState::kOpen) {
      disconnect(*c, ReasonCode::server_shutting_down, CloseCause::kServerShutdown);
    } else {
      close(*c, CloseCause::kServerShutdown);
    }
  }
  LOG_DEBUG("stopping: %u connections closing", live_);
}

bool Worker::finished() const { return stopping_ && live_ == 0 && in_transit_ == 0; }

void Worker::wait(bool block, bool soon) {
  __kernel_timespec ts{};
  __kernel_timespec* timeout = nullptr;
  if (!block) {
    timeout = &ts;  // zero: only reap what is ready
  } else if (soon) {
    ts.tv_nsec = 1000000;
    timeout = &ts;
  } else if (timers_.size() > 0 || stopping_ || (http_ && !http_->idle())) {
    uint64_t next_ms = (timers_.now() + 1) * TimerWheel::kTickMs;
    uint64_t wait_ms = next_ms > now_ms_ ? next_ms - now_ms_ : 1;
    ts.tv_sec = static_cast<long long>(wait_ms / 1000);
    ts.tv_nsec = static_cast<long long>((wait_ms % 1000) * 1000000);
    timeout = &ts;
  }
  handler_->before_wait();
  io_uring_cqe* cqe = nullptr;
  int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, timeout, nullptr);
  handler_->after_wait();
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
    LOG_ERROR("io_uring wait failed: %s", std::strerror(-r));
  }
}

void Worker::run() {
  while (true) {
    now_ms_ = monotonic_ms();
    drain_inbox();
    update_congestion();
    replay_held();
    if (stopping_ && now_ms_ >= stop_deadline_ms_) {
      for (Connection* c : conns_) {
        if (c) close(*c, CloseCause::kServerShutdown);
      }
    }
    handler_->on_turn_end();
    rearm_recvs();
    flush_sends();
    bool self_posted = flush_posts();
    if (finished()) break;
    // Held receives wait for another worker, which does not wake us when it catches up:
    // look again after a millisecond.
    wait(!self_posted && !inbox_left_ && moved_in_.empty() && (held_.empty() || congested()),
         !held_.empty() || congested());

    now_ms_ = monotonic_ms();
    unsigned head;
    unsigned n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      handle_cqe(cqe);
      ++n;
    }
    io_uring_cq_advance(&ring_, n);
    buffers_.commit();
    if (!moved_in_.empty()) settle_moves();
    timers_.advance(ms_to_tick(now_ms_), fire_timer, this);
    if (http_) http_->expire(now_ms_);
    stats().loop_turns.add();
  }
  io_uring_submit(&ring_);  // the last closes
}

}  // namespace mqttd

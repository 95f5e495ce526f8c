#include "ring_loop.h"

#include <netinet/tcp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "net/uring_compat.h"

namespace mqttd::bench {
namespace {

constexpr int kBufferGroup = 0;
constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kConnectTimeoutNs = 10 * kSecond;  // TCP connect + CONNACK (+ SUBACK)
constexpr uint64_t kRetryDelayNs = 1 * kSecond;
constexpr uint64_t kStopGraceNs = 2 * kSecond;  // DISCONNECTs get this long to leave

}  // namespace


uint64_t RingWorker::tag(Op op, uint32_t slot, uint32_t generation) {
  return static_cast<uint64_t>(op) << 56 | static_cast<uint64_t>(slot & 0xFFFFFF) << 32 |
         generation;
}

RingWorker::RingWorker(const BenchConfig& cfg, RunControl& control, uint32_t ring_index,
                       uint32_t rings)
    : cfg_(cfg),
      control_(control),
      index_(ring_index),
      rings_(rings),
      env_{cfg,
           stats_,
           control.fanout,
           cfg.mqtt_version == 5 ? ProtocolVersion::v5 : ProtocolVersion::v4,
           0,
           {}} {
  // Client g belongs to ring g % rings. In pubsub mode subscribers come first, so that
  // they are subscribed before any publisher starts.
  const uint32_t total = cfg.total_clients();
  for (uint32_t g = ring_index; g < total; g += rings) {
    Role role = Role::idle;
    uint32_t role_index = g;
    switch (cfg.mode) {
      case Mode::kConn:
        break;
      case Mode::kPub:
        role = Role::publisher;
        break;
      case Mode::kSub:
        role = Role::subscriber;
        break;
      case Mode::kPubSub:
        if (g < cfg.subscribers) {
          role = Role::subscriber;
        } else {
          role = Role::publisher;
          role_index = g - cfg.subscribers;
        }
        break;
    }
    if (role == Role::publisher) publishers_.push_back(static_cast<uint32_t>(clients_.size()));
    clients_.emplace_back(g, role, role_index);
  }
  if (!cfg.sources.empty()) {
    sources_.resize(clients_.size());
    for (size_t s = 0; s < clients_.size(); ++s) {
      sockaddr_in& a = sources_[s];
      a.sin_family = AF_INET;
      a.sin_port = 0;
      a.sin_addr = cfg.sources[clients_[s].global_index() % cfg.sources.size()];
    }
  }
  // Publishers at a fixed rate are paced by a 1 ms tick; everything else needs 10 ms.
  tick_ns_ = (!publishers_.empty() && cfg.rate > 0) ? kSecond / 1000 : kSecond / 100;
}

RingWorker::~RingWorker() {
  if (ring_ready_) {
    if (buf_ring_) uring::free_buf_ring(&ring_, buf_ring_, buf_count_, kBufferGroup);
    io_uring_queue_exit(&ring_);
  }
  delete[] buf_mem_;
}

bool RingWorker::init() {
  io_uring_params p{};
  p.cq_entries = 16384;
  // CQSIZE: a burst of recv/send completions from thousands of connections must not
  // overflow the CQ. SINGLE_ISSUER + DEFER_TASKRUN: only this thread submits, and
  // completions are produced when it waits, never by interrupting its work.
  p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int ret = io_uring_queue_init_params(2048, &ring_, &p);
  if (ret == -EINVAL) {
    p = io_uring_params{};
    p.cq_entries = 16384;
    p.flags = IORING_SETUP_CQSIZE;  // kernels before 6.1
    ret = io_uring_queue_init_params(2048, &ring_, &p);
  }
  if (ret < 0) {
    error_ = std::string("io_uring_queue_init failed: ") + std::strerror(-ret) +
             " (io_uring disabled by sysctl kernel.io_uring_disabled or a seccomp profile?)";
    return false;
  }
  ring_ready_ = true;
  io_uring_register_ring_fd(&ring_);  // skip the fd lookup on every enter; optional

  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
    bind_op_ = io_uring_opcode_supported(probe, uring::kOpBind);
    setsockopt_op_ = io_uring_opcode_supported(probe, IORING_OP_URING_CMD) && bind_op_;
    const bool socket_op = io_uring_opcode_supported(probe, IORING_OP_SOCKET);
    io_uring_free_probe(probe);
    if (!socket_op) {
      error_ = "the kernel lacks IORING_OP_SOCKET (needs Linux 5.19 or newer)";
      return false;
    }
  }

  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  const uint64_t slots = clients_.size() + 1;
  if (slots > nofile.rlim_cur) {
    error_ = "ring " + std::to_string(index_) + " needs " + std::to_string(slots) +
             " direct descriptors but RLIMIT_NOFILE is " + std::to_string(nofile.rlim_cur) +
             "; use more --threads";
    return false;
  }
  ret = io_uring_register_files_sparse(&ring_, static_cast<unsigned>(slots));
  if (ret < 0) {
    error_ = std::string("registering the file table failed: ") + std::strerror(-ret);
    return false;
  }

  buf_count_ = cfg_.recv_buffers ? cfg_.recv_buffers : (cfg_.mode == Mode::kConn ? 256 : 1024);
  buf_size_ =
      cfg_.recv_buffer_size ? cfg_.recv_buffer_size : (cfg_.mode == Mode::kConn ? 2048 : 16384);
  buf_ring_ = uring::setup_buf_ring(&ring_, buf_count_, kBufferGroup, &ret);
  if (!buf_ring_) {
    error_ = std::string("registering the provided-buffer ring failed: ") + std::strerror(-ret);
    return false;
  }
  buf_mem_ = new uint8_t[static_cast<size_t>(buf_count_) * buf_size_];
  const int mask = io_uring_buf_ring_mask(buf_count_);
  for (uint32_t i = 0; i < buf_count_; ++i)
    io_uring_buf_ring_add(buf_ring_, buf_mem_ + static_cast<size_t>(i) * buf_size_, buf_size_,
                          static_cast<unsigned short>(i), mask, static_cast<int>(i));
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buf_count_));
  return true;
}

void RingWorker::run() {
  if (!init()) {
    failed_.store(true, std::memory_order_release);
    return;
  }
  loop();
}

io_uring_sqe* RingWorker::get_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void RingWorker::note_error(const char* what, int res) {
  if (first_socket_error_.empty())
    first_socket_error_ = std::string(what) + ": " + std::strerror(res < 0 ? -res : res);
}

void RingWorker::loop() {
  io_uring_cqe* cqe = nullptr;
  while (true) {
    const uint64_t now = mono_now_ns();
    env_.now_ns = now;
    const Phase phase = control_.phase.load(std::memory_order_acquire);
    if (phase != phase_) {
      phase_ = phase;
      if (phase == Phase::stop) {
        stop_since_ns_ = now;
        for (uint32_t s = 0; s < clients_.size(); ++s) {
          Client& c = clients_[s];
          if (c.state == ClientState::ready || c.state == ClientState::subscribing) {
            c.queue_disconnect(env_.version);
            schedule_flush(s);
          }
        }
      }
    }
    if (now - last_tick_ns_ >= tick_ns_) tick(now);
    flush();
    if (phase_ == Phase::stop) {
      bool sending = false;
      for (const Client& c : clients_) sending |= c.send_in_flight;
      if (!sending || now - stop_since_ns_ > kStopGraceNs) break;
    }
    const uint64_t wait = tick_ns_ - std::min(tick_ns_, mono_now_ns() - last_tick_ns_);
    __kernel_timespec ts{0, static_cast<long long>(wait)};
    const int ret = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY) {
      error_ = std::string("io_uring_submit_and_wait failed: ") + std::strerror(-ret);
      failed_.store(true, std::memory_order_release);
      return;
    }
    unsigned head;
    unsigned seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      handle(cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    if (bufs_returned_) {
      io_uring_buf_ring_advance(buf_ring_, static_cast<int>(bufs_returned_));
      bufs_returned_ = 0;
    }
  }
}

void RingWorker::handle(const io_uring_cqe* cqe) {
  const Op op = static_cast<Op>(cqe->user_data >> 56);
  const uint32_t slot = static_cast<uint32_t>(cqe->user_data >> 32) & 0xFFFFFF;
  const uint32_t generation = static_cast<uint32_t>(cqe->user_data);
  if (op == Op::recv && (cqe->flags & IORING_CQE_F_BUFFER)) {
    // Whatever happens to the connection, the buffer goes back to the ring.
    const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    if (slot < clients_.size() && generation == clients_[slot].generation && cqe->res > 0) {
      env_.now_ns = mono_now_ns();
      Client& c = clients_[slot];
      stats_.bytes_in.add(static_cast<uint64_t>(cqe->res));
      const ClientState before = c.state;
      const auto status = c.on_bytes(
          env_, {buf_mem_ + static_cast<size_t>(bid) * buf_size_, static_cast<size_t>(cqe->res)});
      if (before == ClientState::awaiting_connack && c.state != before) --handshakes_;
      if (status == ClientStatus::close) {
        close_slot(slot, phase_ != Phase::stop);
      } else {
        pump(slot);
        if (!c.out.empty()) schedule_flush(slot);
      }
    }
    io_uring_buf_ring_add(buf_ring_, buf_mem_ + static_cast<size_t>(bid) * buf_size_, buf_size_,
                          static_cast<unsigned short>(bid), io_uring_buf_ring_mask(buf_count_),
                          static_cast<int>(bufs_returned_));
    ++bufs_returned_;
    if (slot < clients_.size() && generation == clients_[slot].generation &&
        !(cqe->flags & IORING_CQE_F_MORE) && clients_[slot].state != ClientState::closing &&
        clients_[slot].state != ClientState::closed) {
      clients_[slot].recv_armed = false;
      arm_recv(slot);
    }
    return;
  }
  if (slot >= clients_.size() || generation != clients_[slot].generation) return;  // stale
  Client& c = clients_[slot];
  switch (op) {
    case Op::setup:
      // Only failures are posted (CQE_SKIP_SUCCESS); the linked connect reports it.
      note_error("socket set-up", cqe->res);
      break;
    case Op::connect:
      on_connected(slot, cqe->res);
      break;
    case Op::recv:
      // No buffer: end of stream (0), an error, or -ENOBUFS (buffers exhausted).
      c.recv_armed = false;
      if (c.state == ClientState::closing || c.state == ClientState::closed) break;
      if (cqe->res == -ENOBUFS) {
        arm_recv(slot);
      } else if (phase_ != Phase::stop) {  // at stop the broker closing is expected
        if (c.state == ClientState::ready)
          stats_.disconnects.add();
        else
          stats_.connect_errors.add();
        if (cqe->res < 0) note_error("recv", cqe->res);
        close_slot(slot, true);
      } else {
        close_slot(slot, false);
      }
      break;
    case Op::send:
      on_send(slot, cqe->res);
      break;
    case Op::close:
      c.state = ClientState::closed;
      if (phase_ != Phase::stop && c.deadline_ns) retry_.push_back(slot);
      break;
  }
}

void RingWorker::start_connect(uint32_t slot) {
  Client& c = clients_[slot];
  c.state = ClientState::connecting;
  c.deadline_ns = env_.now_ns + kConnectTimeoutNs;
  ++handshakes_;
  stats_.connecting.add();
  const uint64_t setup = tag(Op::setup, slot, c.generation);
  const bool bind = !sources_.empty();
  if (bind && !bind_op_) {
    // Kernels before 6.11: bind a normal socket, move it into the table, close the fd.
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? -errno : 0;
    if (!err && cfg_.nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one_, sizeof one_);
    if (!err &&
        ::bind(fd, reinterpret_cast<const sockaddr*>(&sources_[slot]), sizeof(sockaddr_in)) < 0)
      err = -errno;
    if (!err) {
      const int r = io_uring_register_files_update(&ring_, slot, &fd, 1);
      if (r < 0) err = r;
    }
    if (fd >= 0) ::close(fd);
    if (err) {
      note_error("socket/bind", err);
      on_connected(slot, err);
      return;
    }
  } else {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_socket_direct(sqe, AF_INET, SOCK_STREAM, 0, slot, 0);
    sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    sqe->user_data = setup;
    if (cfg_.nodelay && setsockopt_op_) {
      sqe = get_sqe();
      uring::prep_setsockopt(sqe, static_cast<int>(slot), IPPROTO_TCP, TCP_NODELAY, &one_,
                            sizeof one_);
      sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      sqe->user_data = setup;
    }
    if (bind) {
      sqe = get_sqe();
      uring::prep_bind(sqe, static_cast<int>(slot),
                      reinterpret_cast<const sockaddr*>(&sources_[slot]), sizeof(sockaddr_in));
      sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      sqe->user_data = setup;
    }
  }
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_connect(sqe, static_cast<int>(slot),
                        reinterpret_cast<const sockaddr*>(&cfg_.server), sizeof cfg_.server);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = tag(Op::connect, slot, c.generation);
}

void RingWorker::on_connected(uint32_t slot, int res) {
  Client& c = clients_[slot];
  stats_.connecting.sub();
  if (res < 0) {
    if (res != -ECANCELED) note_error("connect", res);
    stats_.connect_errors.add();
    close_slot(slot, phase_ != Phase::stop);
    return;
  }
  c.start_session(env_);
  c.last_tx_ns = env_.now_ns;
  arm_recv(slot);
  schedule_flush(slot);
}

void RingWorker::arm_recv(uint32_t slot) {
  Client& c = clients_[slot];
  if (c.recv_armed) return;
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, static_cast<int>(slot), nullptr, 0, 0);
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  sqe->user_data = tag(Op::recv, slot, c.generation);
  c.recv_armed = true;
}

void RingWorker::schedule_flush(uint32_t slot) {
  Client& c = clients_[slot];
  if (c.in_flush_list) return;
  c.in_flush_list = true;
  flush_list_.push_back(slot);
}

void RingWorker::flush() {
  for (size_t i = 0; i < flush_list_.size(); ++i) {
    const uint32_t slot = flush_list_[i];
    Client& c = clients_[slot];
    c.in_flush_list = false;
    if (c.send_in_flight || c.out.empty()) continue;
    if (c.state == ClientState::closed || c.state == ClientState::closing ||
        c.state == ClientState::connecting) {
      c.out.clear();
      continue;
    }
    c.sending.swap(c.out);
    c.out.clear();
    c.sending_offset = 0;
    submit_send(slot);
  }
  flush_list_.clear();
}

void RingWorker::submit_send(uint32_t slot) {
  Client& c = clients_[slot];
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_send(sqe, static_cast<int>(slot), c.sending.data() + c.sending_offset,
                     c.sending.size() - c.sending_offset, MSG_NOSIGNAL);
  sqe->flags |= IOSQE_FIXED_FILE;
  sqe->user_data = tag(Op::send, slot, c.generation);
  c.send_in_flight = true;
  c.last_tx_ns = env_.now_ns;
}

void RingWorker::on_send(uint32_t slot, int res) {
  Client& c = clients_[slot];
  c.send_in_flight = false;
  if (res <= 0) {
    if (phase_ != Phase::stop) {
      if (c.state == ClientState::ready)
        stats_.disconnects.add();
      else
        stats_.connect_errors.add();
      note_error("send", res == 0 ? EPIPE : res);
    }
    close_slot(slot, phase_ != Phase::stop);
    return;
  }
  stats_.bytes_out.add(static_cast<uint64_t>(res));
  c.sending_offset += static_cast<uint32_t>(res);
  if (c.sending_offset < c.sending.size()) {
    submit_send(slot);
    return;
  }
  c.sending.clear();
  if (c.sending.capacity() > 256 * 1024) c.sending.shrink_to_fit();
  pump(slot);
  if (!c.out.empty()) schedule_flush(slot);
}

void RingWorker::close_slot(uint32_t slot, bool retry) {
  Client& c = clients_[slot];
  if (c.state == ClientState::closing || c.state == ClientState::closed) return;
  if (c.state == ClientState::connecting || c.state == ClientState::awaiting_connack) --handshakes_;
  if (c.state == ClientState::ready || c.state == ClientState::subscribing) stats_.connected.sub();
  if (c.state == ClientState::ready) stats_.ready.sub();
  c.state = ClientState::closing;
  c.reset_connection();
  ++c.generation;  // completions still in flight for this connection are now stale
  c.deadline_ns = retry ? env_.now_ns + kRetryDelayNs : 0;
  // Shut the socket down first: the multishot recv holds a reference to it, so closing
  // the table slot alone would not end the connection.
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_shutdown(sqe, static_cast<int>(slot), SHUT_RDWR);
  // HARDLINK: the close runs even when the shutdown fails (no socket was ever created).
  sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
  sqe->user_data = tag(Op::setup, slot, c.generation - 1);
  sqe = get_sqe();
  io_uring_prep_close_direct(sqe, slot);
  sqe->user_data = tag(Op::close, slot, c.generation);
}

uint64_t RingWorker::due(const Client& c, uint64_t now) const {
  if (cfg_.rate <= 0) return UINT64_MAX;
  // Publishers are spread over one period so that they do not all fire in the same tick.
  const double offset =
      static_cast<double>(c.role_index()) / std::max<uint32_t>(1, cfg_.publishers) / cfg_.rate;
  const double elapsed = static_cast<double>(now - control_.run_start_ns) / 1e9 - offset;
  if (elapsed < 0) return 0;
  return static_cast<uint64_t>(elapsed * cfg_.rate) + 1;
}

void RingWorker::pump(uint32_t slot) {
  Client& c = clients_[slot];
  if (c.role() != Role::publisher || c.state != ClientState::ready) return;
  if (phase_ == Phase::run) {
    if (c.fill(env_, due(c, env_.now_ns))) schedule_flush(slot);
  }
  if (!c.done_counted && c.finished(cfg_)) {
    c.done_counted = true;
    stats_.pubs_done.add();
  }
}

void RingWorker::tick(uint64_t now) {
  const double elapsed_s = last_tick_ns_ ? static_cast<double>(now - last_tick_ns_) / 1e9 : 0;
  last_tick_ns_ = now;
  if (phase_ == Phase::stop) return;

  // Connects: new clients, then retries whose delay has passed, within the rate and window.
  const double rate = cfg_.connect_rate / rings_;
  if (rate > 0)
    connect_tokens_ = std::min(connect_tokens_ + elapsed_s * rate, std::max(1.0, rate / 10));
  auto may_connect = [&] {
    return handshakes_ < cfg_.connect_window && (rate <= 0 || connect_tokens_ >= 1);
  };
  while (may_connect() && next_new_ < clients_.size()) {
    start_connect(next_new_++);
    connect_tokens_ -= 1;
  }
  while (may_connect() && !retry_.empty() && clients_[retry_.front()].deadline_ns <= now) {
    const uint32_t slot = retry_.front();
    retry_.pop_front();
    if (clients_[slot].state == ClientState::closed) {
      start_connect(slot);
      connect_tokens_ -= 1;
    }
  }

  if (phase_ == Phase::run)
    for (uint32_t slot : publishers_) pump(slot);

  if (now - last_second_ns_ < kSecond) return;
  last_second_ns_ = now;
  const uint64_t keepalive_ns = static_cast<uint64_t>(cfg_.keepalive) * kSecond / 2;
  for (uint32_t slot = 0; slot < clients_.size(); ++slot) {
    Client& c = clients_[slot];
    switch (c.state) {
      case ClientState::connecting:
      case ClientState::awaiting_connack:
      case ClientState::subscribing:
        if (now > c.deadline_ns) {
          stats_.connect_errors.add();
          note_error("handshake", ETIMEDOUT);
          close_slot(slot, true);
        }
        break;
      case ClientState::ready:
        if (keepalive_ns && now - c.last_tx_ns >= keepalive_ns && !c.send_in_flight) {
          c.queue_ping();
          stats_.pings.add();
          c.last_tx_ns = now;
          schedule_flush(slot);
        }
        break;
      default:
        break;
    }
  }
}

}  // namespace mqttd::bench

// Cross-worker posting and its back-pressure (docs/ARCHITECTURE.md, "Cross-worker inbox"
// and "Back-pressure between workers"): items posted in a turn go in one bulk enqueue and
// one wake-up per target; a connection whose packets post to a worker whose inbox is full
// is throttled, its receive completions held until that inbox drains. Part of Worker:
// runs on its thread.
#include <algorithm>

#include "common/log.h"
#include "net/engine.h"
#include "net/worker.h"

namespace mqttd {
namespace {

// Back-pressure watermarks for another worker's inbox, in items (32 bytes each, plus the
// messages they reference): held receives resume below kInboxLowWater.
constexpr size_t kInboxHighWater = 65536;
constexpr size_t kInboxLowWater = 16384;
// Held receive completions replayed per loop turn, so a replay cannot post without limit
// before the next congestion check.
constexpr size_t kReplayPerTurn = 256;
// Inbox items handled per loop turn at most (see drain_inbox).
constexpr size_t kInboxDrainPerTurn = 16384;
// A sender looks at a target's inbox size (which walks every producer of its queue) only
// after posting this many items to it since it last looked: senders that post little
// cost nothing, and N senders can overshoot the high watermark by N x this at most.
constexpr uint32_t kLookEvery = 1024;

}  // namespace

void Worker::post(int target, const InboxItem& item) {
  auto& box = outbox_[static_cast<size_t>(target)];
  if (box.empty()) outbox_targets_.push_back(target);
  box.push_back(item);
  // One turn can carry a whole buffer ring of publishes, each fanned out to many
  // subscribers: hold the rest of this batch's receives once a target has this much
  // coming in one turn, not only when its inbox is found full at the end of the turn.
  if (target == id_) return;
  if (box.size() == kInboxHighWater / 4) mark_congested(target);
  if (consuming_ && !consuming_->has(Connection::kThrottled) && congested() &&
      std::find(congested_.begin(), congested_.end(), target) != congested_.end()) {
    throttle(*consuming_);
  }
}

// `c` publishes into a congested worker: its next receive completions wait.
void Worker::throttle(Connection& c) {
  c.flags |= Connection::kThrottled;
  throttled_.push_back(c.ref());
}

void Worker::hold(Connection& c, const io_uring_cqe* cqe) {
  held_.push_back(HeldRecv{c.slot, c.gen, cqe->res, cqe->flags});
  ++c.held;
  // Bytes arrived: the client is alive even if we do not read them yet (keep-alive).
  if (cqe->res > 0) c.last_rx_tick = static_cast<uint32_t>(ms_to_tick(now_ms_));
  stats().recv_held.add();
}

void Worker::mark_congested(int target) {
  if (std::find(congested_.begin(), congested_.end(), target) != congested_.end()) return;
  if (congested_.empty()) LOG_DEBUG("worker %d cannot keep up: holding receives", target);
  congested_.push_back(target);
}

bool Worker::flush_posts() {
  bool to_self = false;
  for (int target : outbox_targets_) {
    auto& box = outbox_[static_cast<size_t>(target)];
    WorkerShared& to = engine_.shared(target);
    bool wake = to.inbox.post_bulk(id_, box.data(), box.size());
    uint32_t& unlooked = unlooked_[static_cast<size_t>(target)];
    unlooked += static_cast<uint32_t>(box.size());
    if (target != id_ && unlooked >= kLookEvery) {
      unlooked = 0;
      if (to.inbox.approx_size() > kInboxHighWater) mark_congested(target);
    }
    if (wake && target != id_) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_msg_ring(sqe, to.ring_fd, 0, Tag{Op::kWake, 0, 0}.pack(), 0);
      sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(sqe, Tag{Op::kWake, 0, 0}.pack());
      stats().wakeups_sent.add();
    }
    to_self |= target == id_;
    box.clear();
  }
  outbox_targets_.clear();
  return to_self;
}

void Worker::drain_inbox() {
  // Bounded per turn, so that a worker flooded by others still gets to its own sockets
  // (a new client's CONNECT, a PINGREQ); what is left is drained next turn, without
  // blocking in between. The senders' back-pressure bounds what can be left.
  size_t budget = kInboxDrainPerTurn;
  size_t n = 0;
  inbox_left_ = false;
  while (budget > 0 &&
         (n = shared_.inbox.drain(drain_buf_.data(), std::min(drain_buf_.size(), budget))) > 0) {
    budget -= n;
    inbox_left_ = budget == 0;
    stats().inbox_items.add(n);
    for (size_t i = 0; i < n; ++i) {
      const InboxItem& item = drain_buf_[i];
      switch (item.kind) {
        case InboxKind::kStop:
          begin_stop();
          break;
        case InboxKind::kTask:
          item.fn(*this, const_cast<void*>(item.ptr));
          break;
        default:
          handler_->on_inbox(item);
          break;
      }
    }
  }
}

// Drops the targets whose inbox went below the low watermark; once none is left, the
// throttled connections with nothing held read again at once.
void Worker::update_congestion() {
  if (congested_.empty()) return;
  std::erase_if(congested_, [this](int target) {
    return engine_.shared(target).inbox.approx_size() < kInboxLowWater;
  });
  if (!congested_.empty()) return;
  std::erase_if(throttled_, [this](uint64_t ref) {
    Connection* c = connection(ref);
    if (!c) return true;
    if (c->held > 0) return false;  // replay_held lets it go
    c->flags &= static_cast<uint8_t>(~Connection::kThrottled);
    return true;
  });
}

// Handles up to kReplayPerTurn held receive completions, oldest first, while no target is
// congested (all of them when stopping). A connection is no longer throttled once
// nothing of it is held.
void Worker::replay_held() {
  const size_t max = kReplayPerTurn;
  for (size_t n = 0; !held_.empty() && (stopping_ || (n < max && !congested())); ++n) {
    HeldRecv h = held_.front();
    held_.pop_front();
    if (Connection* c = connection(h.slot, h.gen); c && --c->held == 0) {
      c->flags &= static_cast<uint8_t>(~Connection::kThrottled);
    }
    dispatch_recv(h.slot, h.gen, h.res, h.flags);
  }
  if (held_.empty() && !congested()) throttled_.clear();
}

}  // namespace mqttd

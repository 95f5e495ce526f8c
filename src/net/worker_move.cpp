// Moving connections between workers, the descriptor travelling by IORING_OP_MSG_RING:
// hand-off of a fresh connection from a worker at its cap to the least-loaded one, and
// the move of a connection whose CONNECT resumes a session held by another worker
// (docs/ARCHITECTURE.md, "Where a session lives"). Part of Worker: runs on its thread.
#include <cstring>
#include <memory>

#include "common/log.h"
#include "net/engine.h"
#include "net/uring_compat.h"
#include "net/worker.h"

namespace mqttd {

void Worker::handoff(uint32_t slot, int target) {
  io_uring_sqe* sqe = get_sqe();
  uring::prep_msg_ring_fd(sqe, engine_.shared(target).ring_fd, static_cast<int>(slot),
                          static_cast<int>(IORING_FILE_INDEX_ALLOC), Tag{Op::kHandoffIn, 0, 0}.pack(), 0);
  io_uring_sqe_set_data64(sqe, Tag{Op::kHandoffOut, slot, 0}.pack());
  ++in_transit_;
}

void Worker::on_handoff_out(uint32_t slot, int res) {
  --in_transit_;
  if (res >= 0) {
    // The target installed its own reference; ours goes.
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_close_direct(sqe, slot);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, Tag{Op::kClose, slot, 0}.pack());
    stats().handed_off.add();
    return;
  }
  // The target filled up meanwhile: keep it if we have room now, else refuse it here.
  start_connection(slot, live_ < cap_ ? ConnState::kAwaitConnect : ConnState::kRefusing);
}

void Worker::move_connection(Connection& c, int target, std::vector<uint8_t> bytes) {
  auto* m = new MoveState{target, std::move(bytes)};
  c.state = ConnState::kMoving;
  c.session = m;
  c.reader.reset();
  timers_.cancel(c.timer);
  if (c.has(Connection::kRecvArmed)) {
    // Bytes the kernel still delivers before the cancel lands are added to the move;
    // finish_move() runs on the final receive completion.
    cancel(Tag{Op::kRecv, c.slot, c.gen});
  }
  // consume() calls finish_move() once it has added the rest of the current buffer.
}

void Worker::finish_move(Connection& c) {
  auto* m = static_cast<MoveState*>(c.session);
  if (c.has(Connection::kSendInFlight)) return;  // on_send finishes it
  io_uring_sqe* sqe = get_sqe();
  uring::prep_msg_ring_fd(sqe, engine_.shared(m->target).ring_fd, static_cast<int>(c.slot),
                          static_cast<int>(IORING_FILE_INDEX_ALLOC), Tag::pack_ptr(Op::kMoveIn, m), 0);
  uring::handed_to_ring(m);  // after our last access: the target owns it once delivered
  io_uring_sqe_set_data64(sqe, Tag{Op::kMoveOut, c.slot, c.gen}.pack());
  c.flags |= Connection::kMoveSent;
  ++in_transit_;
}

void Worker::on_move_out(Connection& c, int res) {
  --in_transit_;
  auto* m = static_cast<MoveState*>(c.session);
  c.flags &= static_cast<uint8_t>(~Connection::kMoveSent);
  if (res >= 0) {
    // The target owns the descriptor and the MoveState now.
    c.session = nullptr;
    c.flags |= Connection::kTornDown;
    c.out.clear();
    release_slot(c);
    return;
  }
  // The target could not take it (full, or stopping): refuse the client here.
  LOG_WARN("moving connection %u to worker %d failed: %s; refusing it", c.slot, m->target,
           std::strerror(-res));
  std::vector<uint8_t> bytes = std::move(m->bytes);
  delete m;
  c.session = nullptr;
  c.state = ConnState::kRefusing;
  consume(c, bytes.data(), bytes.size());
  if (!c.closing()) close(c, CloseCause::kRefused);
}

void Worker::on_move_in(int slot, void* state) {
  auto* m = static_cast<MoveState*>(state);
  uring::received_from_ring(m);
  if (slot < 0) {  // cannot happen: the sender sees the failure and keeps the MoveState
    return;
  }
  start_connection(static_cast<uint32_t>(slot), ConnState::kAwaitConnect);
  stats().accepted.sub();  // not a new client: moved here
  Connection* c = conns_[static_cast<uint32_t>(slot)];
  if (!m || !c) {
    delete m;
    return;
  }
  // Not consumed yet: bytes that reached our other connections before this move was sent
  // (a DISCONNECT on the connection this client is replacing) may still be in the
  // kernel's deferred work, which runs after MSG_RING's; two more reaps let them land
  // first. Bytes of the moved connection itself wait behind its moved bytes (held).
  c->flags |= Connection::kThrottled;
  moved_in_.push_back(MovedIn{c->ref(), m, 2});
}

// Consumes the moved bytes of connections moved here two reaps ago (see on_move_in).
void Worker::settle_moves() {
  for (size_t i = 0; i < moved_in_.size();) {
    MovedIn& mv = moved_in_[i];
    if (--mv.reaps > 0 && !stopping_) {
      ++i;
      continue;
    }
    std::unique_ptr<MoveState> m(mv.state);
    Connection* c = connection(mv.ref);
    moved_in_.erase(moved_in_.begin() + static_cast<std::ptrdiff_t>(i));
    if (!c) continue;
    if (c->held == 0) c->flags &= static_cast<uint8_t>(~Connection::kThrottled);
    consume(*c, m->bytes.data(), m->bytes.size());
  }
}

}  // namespace mqttd

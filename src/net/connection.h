// Connection: one client connection, owned by the worker whose ring accepted it (its
// slot in that ring's registered file table is also its index in the worker's
// connection table). Touched only by its worker.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mqttd/frame_reader.h"
#include "net/out_queue.h"
#include "net/timer_wheel.h"

namespace mqttd {

struct SendOp;

enum class ConnState : uint8_t {
  kAwaitConnect,  // accepted; the first packet must be CONNECT (connect_timeout runs)
  kOpen,          // CONNECT accepted (keep-alive runs)
  kRefusing,      // every worker is full: answer the CONNECT with a refusal, then close
  kClosing,       // closed for the upper layer; the transport is flushing / tearing down
  kMoving,        // being moved to another worker (Worker::move_connection)
};

// Why a connection ended; the session layer decides about the will from it.
enum class CloseCause : uint8_t {
  kPeerClosed,        // EOF without DISCONNECT
  kNetworkError,      // reset, broken pipe, ...
  kProtocolError,     // malformed packet or protocol violation (ours to report)
  kKeepAliveTimeout,
  kConnectTimeout,
  kClientDisconnect,  // the client sent DISCONNECT
  kServerShutdown,
  kTakenOver,         // another connection took the session over
  kRefused,           // CONNECT refused (bad credentials, quota, ...)
  kOverloaded,        // the client does not read: its queue overflowed
};
const char* close_cause_name(CloseCause cause);

struct Connection {
  static constexpr uint8_t kRecvArmed = 1 << 0;
  static constexpr uint8_t kSendInFlight = 1 << 1;
  static constexpr uint8_t kCloseAfterFlush = 1 << 2;
  static constexpr uint8_t kDirty = 1 << 3;
  static constexpr uint8_t kTornDown = 1 << 4;
  static constexpr uint8_t kMoveSent = 1 << 5;
  static constexpr uint8_t kThrottled = 1 << 6;  // its receives wait (back-pressure)  // the descriptor is on its way to another ring

  Connection(uint32_t slot_, uint32_t gen_, uint32_t max_packet_size)
      : slot(slot_), gen(gen_), reader(max_packet_size) {
    timer.owner = this;
  }

  uint32_t slot;
  uint32_t gen;
  ConnState state = ConnState::kAwaitConnect;
  uint8_t flags = 0;
  uint8_t version = 4;      // ProtocolVersion, known after CONNECT
  uint8_t listener = 0;
  uint16_t keep_alive = 0;  // seconds granted, 0: none
  uint16_t held = 0;        // receive completions of ours the worker holds (back-pressure)
  uint32_t last_rx_tick = 0;
  uint32_t max_packet_out = 0;  // the client's Maximum Packet Size (v5), 0: no limit
  Timer timer;              // connect timeout, keep-alive, flush deadline
  FrameReader reader;
  OutQueue out;
  SendOp* send_op = nullptr;
  void* session = nullptr;  // the session layer's state (it owns it); kMoving: a MoveState

  bool has(uint8_t f) const { return (flags & f) != 0; }
  // (slot, generation): names this connection safely across turns (Worker::connection).
  uint64_t ref() const { return (static_cast<uint64_t>(slot) << 32) | gen; }
  bool closing() const { return state == ConnState::kClosing; }
};
// One mimalloc size class: a million idle connections cost 128 MB here.
static_assert(sizeof(Connection) <= 128, "Connection grew past 128 bytes");

}  // namespace mqttd

// ConnectionHandler: what a worker calls into the MQTT layer above it (the session
// layer implements it). One handler per worker, created and called on that worker's
// thread only. The worker owns transport concerns (accept, receive, framing, send,
// connect timeout, keep-alive, refusal at the cap, shutdown); the handler owns MQTT
// semantics from CONNECT on.
#pragma once

#include "mqttd/frame_reader.h"
#include "net/connection.h"
#include "net/inbox.h"
#include "net/timer_wheel.h"

namespace mqttd {

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;

  // One complete packet of `c`. The frame's bytes are valid only during the call. The
  // handler answers through Worker (send, close, accept_connect, ...).
  virtual void on_packet(Connection& c, const Frame& frame) = 0;

  // `c` is closed for MQTT from now on (its transport may still flush): release or
  // detach its session. Called exactly once per connection that was ever handed to
  // on_packet, whatever the cause.
  virtual void on_close(Connection& c, CloseCause cause) = 0;

  // An item from another worker (kinds the worker does not handle itself).
  virtual void on_inbox(const InboxItem& item) = 0;

  // A timer the handler armed on the worker's wheel (kind >= kFirstHandlerTimer).
  virtual void on_timer(Timer& t) = 0;

  // After each batch of completions and inbox items, before sends are flushed.
  virtual void on_turn_end() {}

  // Around the worker's blocking wait (quiescent-state reclamation goes offline there).
  virtual void before_wait() {}
  virtual void after_wait() {}

  // Shutdown has begun; connections are about to be told and closed.
  virtual void on_stop() {}
};

// Timer kinds: the worker's own below kFirstHandlerTimer.
inline constexpr uint8_t kConnectionTimer = 1;
inline constexpr uint8_t kFirstHandlerTimer = 16;

}  // namespace mqttd

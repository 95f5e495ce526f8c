// SessionHandler: MQTT behaviour from CONNECT on, for the connections and sessions of one
// worker. One per worker, created on that worker's thread and called only there (it is
// the worker's ConnectionHandler). Cross-worker effects go through the worker's inbox:
// deliveries to sessions on other workers, kicks of sessions taken over elsewhere; a
// resuming client's connection is moved to the worker that holds its session.
//
// The implementation is split by concern: connect.cpp (CONNECT, takeover, will, expiry,
// DISCONNECT, AUTH), publish.cpp (inbound PUBLISH and acknowledgements, routing),
// delivery.cpp (outbound PUBLISH, windows, queues, aliases), subscribe.cpp (SUBSCRIBE,
// UNSUBSCRIBE, retained on subscribe), sys_topics.cpp ($SYS).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mqttd/codec.h"
#include "net/handler.h"
#include "net/worker.h"
#include "routing/match_result.h"
#include "session/broker.h"
#include "session/session.h"
#include "session/sys_topics.h"

namespace mqttd {

// `$SYS` and `$SYS/...`: the broker's own topics, which clients may read but not publish.
inline bool is_sys_topic(std::string_view topic) {
  return topic.starts_with("$SYS") && (topic.size() == 4 || topic[4] == '/');
}

// Inbox items the session layer posts (InboxKind::kUser, told apart by InboxItem::u8).
enum class SessionMsg : uint8_t {
  kKick = 1,  // target: a session to end because a clean-start connection took its id
};

class SessionHandler final : public ConnectionHandler {
 public:
  SessionHandler(Worker& worker, Broker& broker);
  ~SessionHandler() override;

  void on_packet(Connection& c, const Frame& frame) override;
  void on_close(Connection& c, CloseCause cause) override;
  void on_inbox(const InboxItem& item) override;
  void on_timer(Timer& t) override;
  void on_turn_end() override;
  void before_wait() override;
  void after_wait() override;
  void on_stop() override;

  // Publishes a message from the broker itself ($SYS, wills): routes it like a client's.
  void publish_internal(std::string_view topic, std::string_view payload, bool retain);

 private:
  static constexpr uint8_t kSessionTimer = kFirstHandlerTimer;
  static constexpr uint8_t kSysTimer = kFirstHandlerTimer + 1;

  Session* session_of(Connection& c) { return static_cast<Session*>(c.session); }
  ProtocolVersion version_of(const Connection& c) const {
    return static_cast<ProtocolVersion>(c.version);
  }

  // connect.cpp
  void handle_connect(Connection& c, const Frame& frame);
  void refuse(Connection& c, const Connect& p, ReasonCode reason, std::string_view why);
  // The session for a CONNECT: resumed, created, or taken over; nullptr if refused, or
  // with `move_to` set when the connection must move to the worker holding the session.
  Session* attach_session(Connection& c, const Connect& p, bool& present, std::string& assigned,
                          int& move_to);
  void setup_connection(Session& s, Connection& c, const Connect& p);
  void send_connack(Connection& c, Session& s, const Connect& p, bool present,
                    const std::string& assigned);
  void handle_disconnect(Connection& c, Session& s, const Frame& frame);
  void handle_auth(Connection& c, const Frame& frame);
  void takeover_local(Session& s, bool session_continues);
  void kick(uint64_t handle);
  void go_offline(Session& s, bool publish_will_now);
  void end_session(Session& s);
  void publish_will(Session& s);
  void on_session_timer(Session& s);
  // Ends `c` for a violation by the client: MQTT 5 DISCONNECT `reason` with `why` as its
  // Reason String, 3.x a plain close (worker.h, Worker::disconnect).
  void protocol_error(Connection& c, ReasonCode reason, std::string_view why);
  // Worker::disconnect with a Reason String on the MQTT 5 DISCONNECT (allowed whatever
  // Request Problem Information says, MQTT-3.1.2-29).
  void disconnect(Connection& c, ReasonCode reason, CloseCause cause, std::string_view why);

  // publish.cpp
  void handle_publish(Connection& c, Session& s, const Frame& frame);
  void handle_ack(Connection& c, Session& s, const Frame& frame);
  // Answers a QoS 1/2 PUBLISH that is not accepted with PUBACK/PUBREC `reason` (>= 0x80).
  void refuse_publish(Connection& c, Session& s, const Publish& p, ReasonCode reason,
                      std::string_view why);
  void route(const MessageRef& m, const Session* publisher);
  void deliver_local(uint64_t handle, const MessageRef& m, uint8_t qos, bool retain,
                     std::span<const uint32_t> ids);

  // delivery.cpp
  void deliver(Session& s, const MessageRef& m, uint8_t qos, bool retain,
               std::span<const uint32_t> ids);
  bool send_publish(Session& s, const Message& m, uint8_t qos, bool retain, bool dup,
                    uint16_t packet_id, std::span<const uint32_t> ids);
  void send_pubrel(Session& s, uint16_t packet_id, ReasonCode reason, std::string_view why = {});
  void pump(Session& s);
  size_t window(const Session& s) const;
  void resend_inflight(Session& s);
  bool enqueue(Session& s, const MessageRef& m, uint8_t qos, bool retain,
               std::span<const uint32_t> ids);
  uint16_t next_packet_id(Session& s);
  void send_bytes(Connection& c, std::span<const uint8_t> bytes);
  template <typename P>
  void send_packet(Connection& c, const P& packet);
  // send_packet, for an MQTT 5 packet reporting a problem: with `why` as its Reason String
  // when `allowed` (the client's Request Problem Information, MQTT-3.1.2-29) and when it
  // keeps the packet within the client's Maximum Packet Size (MQTT-3.2.2-19, -3.4.2-2,
  // ...). REQUIRES: `packet` carries no other properties.
  template <typename P>
  void send_explained(Connection& c, P& packet, std::string_view why, bool allowed);

  // subscribe.cpp
  void handle_subscribe(Connection& c, Session& s, const Frame& frame);
  void handle_unsubscribe(Connection& c, Session& s, const Frame& frame);
  void send_retained(Session& s, std::string_view filter, const SubscriptionOptions& o,
                     uint32_t id);
  void remove_all_subscriptions(Session& s);

  // sys_topics.cpp
  void publish_sys();

  Worker& w_;
  Broker& b_;
  const Config& cfg_;  // the worker's copy: SIGHUP changes live keys between turns
  SessionStats& stats_;
  SessionTable sessions_;
  Qsbr::ThreadId qsbr_id_;
  MatchResult match_;
  Subscribe sub_scratch_;
  Unsubscribe unsub_scratch_;
  std::vector<MessageRef> retained_scratch_;
  std::vector<uint8_t> scratch_;  // encoding space for larger packets
  Timer sys_timer_;
  std::unique_ptr<SysState> sys_;  // worker 0 only
  uint64_t assigned_ids_ = 0;
};

// Encodes a control packet into the connection's queue (small ones inline, large ones in
// their own block) and marks it for sending.
template <typename P>
void SessionHandler::send_packet(Connection& c, const P& packet) {
  const ProtocolVersion v = version_of(c);
  size_t n = encoded_size(packet, v);
  if (n <= 256) {
    uint8_t buf[256];
    encode(packet, v, {buf, n});
    send_bytes(c, {buf, n});
  } else {
    scratch_.resize(n);
    encode(packet, v, scratch_);
    send_bytes(c, scratch_);
  }
}

template <typename P>
void SessionHandler::send_explained(Connection& c, P& packet, std::string_view why, bool allowed) {
  if (allowed && !why.empty() && version_of(c) == ProtocolVersion::v5) {
    packet.properties.set_reason_string(why);
    if (c.max_packet_out != 0 && encoded_size(packet, ProtocolVersion::v5) > c.max_packet_out) {
      packet.properties.clear();
    }
  }
  send_packet(c, packet);
}

}  // namespace mqttd

// CONNECT and the life of a session around its connections: attach, takeover (local, or
// across workers by moving the new connection or kicking the old session), will,
// expiry, DISCONNECT, AUTH.
#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "net/engine.h"
#include "session/handler.h"

namespace mqttd {
namespace {

constexpr uint32_t kExpiryNever = 0xFFFFFFFF;

// The CONNECT as it came off the wire (fixed header + body), for moving the connection.
std::vector<uint8_t> frame_bytes(const Frame& f) {
  std::vector<uint8_t> out(1 + varint_size(f.header.remaining_length) + f.body.size());
  out[0] = static_cast<uint8_t>((static_cast<uint8_t>(f.header.type) << 4) | f.header.flags);
  size_t n = 1 + encode_varint(f.header.remaining_length, out.data() + 1);
  if (!f.body.empty()) std::memcpy(out.data() + n, f.body.data(), f.body.size());
  return out;
}

}  // namespace

SessionHandler::SessionHandler(Worker& worker, Broker& broker)
    : w_(worker),
      b_(broker),
      cfg_(worker.config()),
      stats_(broker.stats(worker.id())),
      qsbr_id_(broker.qsbr().register_thread()) {
  sys_timer_.owner = this;
  sys_timer_.kind = kSysTimer;
  if (w_.id() == 0 && cfg_.sys_interval > 0) {
    w_.timers().schedule(sys_timer_, w_.timers().now() + 10);  // first update after 1 s
  }
}

SessionHandler::~SessionHandler() {
  w_.timers().cancel(sys_timer_);
  sessions_.for_each([this](Session& s) {
    w_.timers().cancel(s.timer);
    remove_all_subscriptions(s);
  });
  b_.qsbr().unregister_thread(qsbr_id_);
}

void SessionHandler::on_packet(Connection& c, const Frame& frame) {
  if (c.state == ConnState::kAwaitConnect) {
    if (frame.header.type != PacketType::connect) {
      // MQTT-3.1.0-1: the first packet must be CONNECT.
      w_.stats().protocol_errors.add();
      w_.close(c, CloseCause::kProtocolError);
      return;
    }
    handle_connect(c, frame);
    return;
  }
  Session* s = session_of(c);
  if (!s) return;
  switch (frame.header.type) {
    case PacketType::publish: handle_publish(c, *s, frame); break;
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: handle_ack(c, *s, frame); break;
    case PacketType::subscribe: handle_subscribe(c, *s, frame); break;
    case PacketType::unsubscribe: handle_unsubscribe(c, *s, frame); break;
    case PacketType::pingreq:
      if (ReasonCode rc = decode_pingreq(frame); rc != ReasonCode::success) {
        protocol_error(c, rc, "malformed PINGREQ");
      } else {
        send_packet(c, PingResp{});
      }
      break;
    case PacketType::disconnect: handle_disconnect(c, *s, frame); break;
    case PacketType::auth: handle_auth(c, frame); break;
    default:
      // A second CONNECT (MQTT-3.1.0-2) or a packet only servers send.
      protocol_error(c, ReasonCode::protocol_error,
                     frame.header.type == PacketType::connect ? "second CONNECT on a connection"
                                                              : "packet type only a server sends");
      break;
  }
}

void SessionHandler::protocol_error(Connection& c, ReasonCode reason, std::string_view why) {
  w_.stats().protocol_errors.add();
  LOG_DEBUG("connection %u: protocol error %s: %.*s", c.slot, reason_name(reason),
            static_cast<int>(why.size()), why.data());
  disconnect(c, reason, CloseCause::kProtocolError, why);
}

void SessionHandler::disconnect(Connection& c, ReasonCode reason, CloseCause cause,
                                std::string_view why) {
  if (c.state != ConnState::kOpen || version_of(c) != ProtocolVersion::v5) {
    w_.disconnect(c, reason, cause);
    return;
  }
  Disconnect d;
  d.reason = reason;
  send_explained(c, d, why, true);
  w_.close_after_flush(c, cause);
}

void SessionHandler::refuse(Connection& c, const Connect& p, ReasonCode reason,
                            std::string_view why) {
  stats_.connects_refused.add();
  LOG_DEBUG("connection %u: CONNECT refused (%s): %.*s", c.slot, reason_name(reason),
            static_cast<int>(why.size()), why.data());
  if (p.version != ProtocolVersion::v5 && !has_v3_connack_code(reason)) {
    w_.close(c, CloseCause::kProtocolError);  // 3.x has no code for it: just close
    return;
  }
  ConnAck ack;
  ack.reason = reason;
  // A Reason String is allowed on CONNACK whatever Request Problem Information says
  // (MQTT-3.1.2-29), within the client's Maximum Packet Size (MQTT-3.2.2-19).
  const Properties& pr = p.properties;
  c.max_packet_out = pr.has(PropertyId::maximum_packet_size) ? pr.maximum_packet_size : 0;
  send_explained(c, ack, why, true);
  w_.close_after_flush(c, CloseCause::kRefused);
}

void SessionHandler::handle_connect(Connection& c, const Frame& frame) {
  Connect p;
  ReasonCode rc = decode_connect(frame, p);
  c.version = static_cast<uint8_t>(p.version);
  if (rc != ReasonCode::success) {
    refuse(c, p, rc,
           rc == ReasonCode::client_identifier_not_valid
               ? "an empty Client Identifier needs Clean Session 1"
               : "invalid CONNECT packet");
    return;
  }
  const bool v5 = p.version == ProtocolVersion::v5;
  if (v5 && p.properties.has(PropertyId::authentication_method)) {
    refuse(c, p, ReasonCode::bad_authentication_method, "no authentication method is configured");
    return;
  }
  if (p.client_id.empty() && !cfg_.allow_zero_length_client_id) {
    refuse(c, p, ReasonCode::client_identifier_not_valid,
           "an empty Client Identifier is not allowed");
    return;
  }
  if (p.has_will) {
    if (v5 && p.will.qos > cfg_.max_qos) {
      refuse(c, p, ReasonCode::qos_not_supported,
             "Will QoS above the server's Maximum QoS");  // MQTT-3.2.2-12
      return;
    }
    if (v5 && p.will.retain && !cfg_.retain_available) {
      refuse(c, p, ReasonCode::retain_not_supported,
             "retained Will, but retain is not available");  // MQTT-3.2.2-13
      return;
    }
    const Properties& wp = p.will.properties;
    if (v5 && wp.has(PropertyId::payload_format_indicator) && wp.payload_format_indicator == 1 &&
        !valid_utf8(
            {reinterpret_cast<const char*>(p.will.payload.data()), p.will.payload.size()})) {
      // 3.1.3.2.3: the server may check the Will Payload as it would a PUBLISH's.
      refuse(c, p, ReasonCode::payload_format_invalid,
             "the Will Payload is not UTF-8 but its Payload Format Indicator says it is");
      return;
    }
  }

  // A resuming client whose session lives on another worker continues there.
  if (!p.clean_start && !p.client_id.empty()) {
    std::optional<SessionLocation> loc = b_.registry().find(p.client_id);
    if (loc && loc->worker != w_.id()) {
      LOG_DEBUG("connection %u: moving to worker %d, which holds its session", c.slot, loc->worker);
      w_.move_connection(c, loc->worker, frame_bytes(frame));
      return;
    }
  }

  bool present = false;
  std::string assigned;
  int move_to = -1;
  Session* s = attach_session(c, p, present, assigned, move_to);
  if (move_to >= 0) {
    w_.move_connection(c, move_to, frame_bytes(frame));
    return;
  }
  if (!s) return;
  setup_connection(*s, c, p);
  send_connack(c, *s, p, present, assigned);
  LOG_DEBUG("connection %u: client '%.*s' connected (v%d, session %s)", c.slot,
            static_cast<int>(s->client_id.view().size()), s->client_id.view().data(),
            static_cast<int>(p.version), present ? "resumed" : "new");
  stats_.connects.add();
  if (present) resend_inflight(*s);
  pump(*s);
}

Session* SessionHandler::attach_session(Connection& c, const Connect& p, bool& present,
                                        std::string& assigned, int& move_to) {
  std::string_view id = p.client_id;
  if (id.empty()) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "mqttd-%d-%llx-%llx", w_.id(),
                  static_cast<unsigned long long>(b_.start_ms()),
                  static_cast<unsigned long long>(++assigned_ids_));
    assigned = buf;
    id = assigned;
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::optional<SessionLocation> expected = b_.registry().find(id);
    Session* old = nullptr;
    if (expected && expected->worker == w_.id()) old = sessions_.get(expected->handle);
    if (expected && expected->worker != w_.id() && !p.clean_start) {
      move_to = expected->worker;  // appeared elsewhere since handle_connect looked
      return nullptr;
    }

    Session* s;
    if (old && !p.clean_start) {
      s = old;
      present = true;
      if (s->conn) takeover_local(*s, true);
    } else {
      s = sessions_.create();
      s->client_id = ClientId(id);
      stats_.sessions.add();
    }
    SessionLocation mine{static_cast<uint16_t>(w_.id()), s->handle};
    if (b_.registry().compare_and_set(s->client_id, expected, mine)) {
      if (old && s != old) {
        // Clean start over a session of ours: it ends now (its will goes out).
        if (old->conn) takeover_local(*old, false);
        end_session(*old);
      } else if (expected && expected->worker != w_.id()) {
        // Clean start over a session held by another worker: it must end there.
        InboxItem kick{};
        kick.kind = InboxKind::kUser;
        kick.u8 = static_cast<uint8_t>(SessionMsg::kKick);
        kick.target = expected->handle;
        w_.post(expected->worker, kick);
      }
      return s;
    }
    // Someone else changed the entry between find and set: undo and look again.
    if (s != old) {
      stats_.sessions.sub();
      sessions_.destroy(s);
    }
    present = false;
  }
  refuse(c, p, ReasonCode::server_busy, "the Client Identifier is contended; try again");
  return nullptr;
}

void SessionHandler::takeover_local(Session& s, bool session_continues) {
  Connection* old = s.conn;
  s.conn = nullptr;
  old->session = nullptr;
  stats_.connected.sub();
  stats_.takeovers.add();
  // The old connection was closed by the server: its will goes out now unless it is
  // delayed and the session goes on (a new connection within the delay cancels it).
  if (s.will && (s.will_delay == 0 || !session_continues)) publish_will(s);
  s.will = MessageRef();
  disconnect(
      *old, ReasonCode::session_taken_over, CloseCause::kTakenOver,
      "another connection with this Client Identifier took the session over");  // MQTT-3.1.4-3
}

void SessionHandler::kick(uint64_t handle) {
  Session* s = sessions_.get(handle);
  if (!s) return;
  if (s->conn) takeover_local(*s, false);
  end_session(*s);
}

void SessionHandler::setup_connection(Session& s, Connection& c, const Connect& p) {
  const bool v5 = p.version == ProtocolVersion::v5;
  s.conn = &c;
  c.session = &s;
  s.version = static_cast<uint8_t>(p.version);
  w_.timers().cancel(s.timer);
  s.will_at_tick = s.expire_at_tick = 0;
  stats_.connected.add();

  const Properties& pr = p.properties;
  s.client_receive_max = v5 && pr.has(PropertyId::receive_maximum) ? pr.receive_maximum : 65535;
  s.client_max_packet = v5 && pr.has(PropertyId::maximum_packet_size) ? pr.maximum_packet_size : 0;
  c.max_packet_out = s.client_max_packet;
  uint16_t client_aliases = v5 && pr.has(PropertyId::topic_alias_maximum) ? pr.topic_alias_maximum : 0;
  s.out_alias_max = std::min(client_aliases, cfg_.outbound_topic_alias_maximum);
  s.request_problem_info =
      !(v5 && pr.has(PropertyId::request_problem_information) && pr.request_problem_information == 0);
  if (v5) {
    uint32_t asked = pr.has(PropertyId::session_expiry_interval) ? pr.session_expiry_interval : 0;
    s.expiry_interval = std::min(asked, cfg_.max_session_expiry);
    s.connect_expiry_zero = asked == 0;
  } else {
    s.expiry_interval = p.clean_start ? 0 : cfg_.max_session_expiry;
  }
  if (s.flows) {
    s.flows->in_aliases.clear();
    s.flows->out_aliases.clear();
  }

  s.will = MessageRef();
  s.will_delay = 0;
  // A will on a $SYS topic is accepted and never published, as a client's PUBLISH there
  // is not routed (publish.cpp); Mosquitto does the same.
  if (p.has_will && !is_sys_topic(p.will.topic)) {
    const Properties& wp = p.will.properties;
    size_t plen = v5 ? forwarded_properties_size(wp) : 0;
    scratch_.resize(plen);
    if (plen) encode_forwarded_properties(wp, scratch_);
    uint64_t expiry = v5 && wp.has(PropertyId::message_expiry_interval)
                          ? uint64_t{wp.message_expiry_interval} * 1000
                          : 0;  // relative until the will is published
    uint8_t qos = std::min<uint8_t>(p.will.qos, cfg_.max_qos);
    bool retain = p.will.retain && cfg_.retain_available;
    s.will = MessageRef::adopt(Message::create(p.will.topic, p.will.payload, scratch_, qos, retain, expiry));
    s.will_delay = v5 && wp.has(PropertyId::will_delay_interval) ? wp.will_delay_interval : 0;
  }

  uint16_t ka = p.keep_alive;
  if (ka > cfg_.max_keep_alive || (ka == 0 && cfg_.max_keep_alive < 65535)) ka = cfg_.max_keep_alive;
  w_.accept_connect(c, ka);
}

void SessionHandler::send_connack(Connection& c, Session& s, const Connect& p, bool present,
                                  const std::string& assigned) {
  ConnAck ack;
  ack.session_present = present;
  ack.reason = ReasonCode::success;
  if (p.version == ProtocolVersion::v5) {
    Properties& pr = ack.properties;
    if (cfg_.max_inflight != 65535) pr.set_receive_maximum(cfg_.max_inflight);
    if (cfg_.max_qos < 2) pr.set_maximum_qos(cfg_.max_qos);
    if (!cfg_.retain_available) pr.set_retain_available(0);
    if (cfg_.max_packet_size < kMaxPacketSize) pr.set_maximum_packet_size(cfg_.max_packet_size);
    if (!assigned.empty()) pr.set_assigned_client_identifier(assigned);
    if (cfg_.topic_alias_maximum > 0) pr.set_topic_alias_maximum(cfg_.topic_alias_maximum);
    if (c.keep_alive != p.keep_alive) pr.set_server_keep_alive(c.keep_alive);
    uint32_t asked = p.properties.has(PropertyId::session_expiry_interval)
                         ? p.properties.session_expiry_interval
                         : 0;
    if (s.expiry_interval != asked) pr.set_session_expiry_interval(s.expiry_interval);
  }
  send_packet(c, ack);
}

void SessionHandler::on_close(Connection& c, CloseCause cause) {
  Session* s = session_of(c);
  if (!s) return;  // never got past CONNECT, or detached by a takeover
  s->conn = nullptr;
  c.session = nullptr;
  stats_.connected.sub();
  // A will is published when the connection ends without DISCONNECT (handle_disconnect
  // dropped it otherwise), but not when the broker itself is going down.
  go_offline(*s, cause != CloseCause::kServerShutdown);
}

void SessionHandler::go_offline(Session& s, bool publish_will_allowed) {
  if (!publish_will_allowed) s.will = MessageRef();
  if (s.expiry_interval == 0) {
    end_session(s);  // publishes the will, if any: the session ends now
    return;
  }
  uint64_t now = w_.timers().now();
  if (s.will) {
    if (s.will_delay == 0) {
      publish_will(s);
    } else {
      s.will_at_tick = now + uint64_t{s.will_delay} * 10;
    }
  }
  s.expire_at_tick = s.expiry_interval == kExpiryNever ? 0 : now + uint64_t{s.expiry_interval} * 10;
  uint64_t due = 0;
  if (s.will) due = s.will_at_tick;
  if (s.expire_at_tick && (!due || s.expire_at_tick < due)) due = s.expire_at_tick;
  s.timer.kind = kSessionTimer;
  if (due) w_.timers().schedule(s.timer, due);
}

void SessionHandler::on_session_timer(Session& s) {
  uint64_t now = w_.timers().now();
  if (s.will && now >= s.will_at_tick) publish_will(s);
  if (s.expire_at_tick && now >= s.expire_at_tick) {
    end_session(s);
    return;
  }
  uint64_t due = s.will ? s.will_at_tick : 0;
  if (s.expire_at_tick && (!due || s.expire_at_tick < due)) due = s.expire_at_tick;
  if (due) w_.timers().schedule(s.timer, due);
}

void SessionHandler::publish_will(Session& s) {
  MessageRef will = std::move(s.will);
  s.will = MessageRef();
  if (!will) return;
  stats_.wills_published.add();
  // The will's Message Expiry Interval counts from its publication.
  MessageRef m = will;
  if (will->expiry_at_ms() != 0) {
    m = MessageRef::adopt(Message::create(will->topic(), will->payload(), will->properties(),
                                          will->qos(), will->retain(),
                                          w_.now_ms() + will->expiry_at_ms()));
  }
  if (m->retain()) {
    if (m->payload().empty()) {
      b_.retained().clear(m->topic());
    } else {
      b_.retained().set(m->topic(), m);
    }
  }
  // The will is the client's own message: its session's No Local subscriptions do not
  // receive it (MQTT-3.8.3-3).
  route(m, &s);
}

void SessionHandler::end_session(Session& s) {
  if (s.will) publish_will(s);
  if (s.conn) {
    s.conn->session = nullptr;
    s.conn = nullptr;
    stats_.connected.sub();
  }
  w_.timers().cancel(s.timer);
  remove_all_subscriptions(s);
  b_.registry().erase_if(s.client_id.view(), SessionLocation{static_cast<uint16_t>(w_.id()), s.handle});
  stats_.sessions.sub();
  sessions_.destroy(&s);
}

void SessionHandler::handle_disconnect(Connection& c, Session& s, const Frame& frame) {
  Disconnect d;
  ReasonCode rc = decode_disconnect(frame, version_of(c), Side::server, d);
  if (rc != ReasonCode::success) {
    protocol_error(c, rc, "invalid DISCONNECT packet");
    return;
  }
  if (d.properties.has(PropertyId::session_expiry_interval)) {
    if (s.connect_expiry_zero && d.properties.session_expiry_interval != 0) {
      // MQTT-3.14.2-2: zero in CONNECT cannot become non-zero here. (A non-zero request
      // the server capped to 0 may: it is still capped below.)
      protocol_error(c, ReasonCode::protocol_error,
                     "Session Expiry Interval was 0 in CONNECT and cannot be set on DISCONNECT");
      return;
    }
    s.expiry_interval = std::min(d.properties.session_expiry_interval, cfg_.max_session_expiry);
  }
  // MQTT-3.14.4-3: a normal DISCONNECT discards the will; 0x04 asks for it.
  if (d.reason != ReasonCode::disconnect_with_will_message) s.will = MessageRef();
  w_.close(c, CloseCause::kClientDisconnect);
}

void SessionHandler::handle_auth(Connection& c, const Frame& frame) {
  Auth a;
  ReasonCode rc = decode_auth(frame, version_of(c), a);
  if (rc != ReasonCode::success) {
    protocol_error(c, rc, "invalid AUTH packet");
    return;
  }
  // No authentication method is configured, so no exchange can continue.
  protocol_error(c, ReasonCode::bad_authentication_method,
                 "no authentication method is configured");
}

void SessionHandler::on_inbox(const InboxItem& item) {
  switch (item.kind) {
    case InboxKind::kDeliver: {
      MessageRef m = MessageRef::adopt(static_cast<const Message*>(item.ptr));
      std::span<const uint32_t> ids;
      const auto* extra = static_cast<const std::vector<uint32_t>*>(item.extra);
      if (extra) {
        ids = *extra;
      } else if (item.sub_id) {
        ids = {&item.sub_id, 1};
      }
      if (Session* s = sessions_.get(item.target)) {
        deliver(*s, m, item.qos, item.flags & 1, ids);
      }
      delete extra;
      break;
    }
    case InboxKind::kUser:
      if (item.u8 == static_cast<uint8_t>(SessionMsg::kKick)) kick(item.target);
      break;
    default:
      break;
  }
}

void SessionHandler::on_timer(Timer& t) {
  if (t.kind == kSessionTimer) {
    on_session_timer(*static_cast<Session*>(t.owner));
  } else if (t.kind == kSysTimer) {
    publish_sys();
    w_.timers().schedule(sys_timer_, w_.timers().now() + uint64_t{cfg_.sys_interval} * 10);
  }
}

void SessionHandler::on_turn_end() {
  // Expired retained messages give back their memory (one relaxed load when none is due).
  if (w_.id() == 0) b_.retained().expire(w_.now_ms(), 64);
  b_.qsbr().quiescent(qsbr_id_);
}
void SessionHandler::before_wait() { b_.qsbr().offline(qsbr_id_); }
void SessionHandler::after_wait() { b_.qsbr().online(qsbr_id_); }
void SessionHandler::on_stop() {}

}  // namespace mqttd

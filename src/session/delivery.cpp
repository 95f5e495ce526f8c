// Outbound PUBLISH: encode once per receiver a small header (topic, packet id, the
// receiver's properties) and send it with the message's shared payload, never copying
// the payload; QoS 1/2 in-flight windows, the pending queue, retransmission on resume,
// outbound topic aliases, the client's Maximum Packet Size.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/log.h"
#include "session/handler.h"

namespace mqttd {
namespace {

// What a waiting message counts against max_queued_bytes.
size_t queued_bytes(const Message& m) { return m.payload().size() + m.topic().size(); }

}  // namespace

void SessionHandler::send_bytes(Connection& c, std::span<const uint8_t> bytes) {
  if (bytes.size() <= 256) {
    c.out.push_copy(bytes);
  } else {
    auto* block = static_cast<uint8_t*>(std::malloc(bytes.size()));
    std::memcpy(block, bytes.data(), bytes.size());
    c.out.push_owned(block, bytes.size());
  }
  w_.stats().packets_out.add();
  w_.send(c);
}

void SessionHandler::send_pubrel(Session& s, uint16_t packet_id, ReasonCode reason,
                                 std::string_view why) {
  PubRel r;
  r.packet_id = packet_id;
  r.reason = reason;
  send_explained(*s.conn, r, why, s.request_problem_info);
}

uint16_t SessionHandler::next_packet_id(Session& s) {
  // MQTT-2.2.1-4: non-zero and not in use. The callers keep the window below 65,535
  // entries, so a free id exists; ids are taken in turn, so the next one is normally free.
  const InflightQueue& fl = s.f().inflight;
  for (;;) {
    uint16_t id = s.next_packet_id++;
    if (s.next_packet_id == 0) s.next_packet_id = 1;
    if (id != 0 && !fl.in_use(id)) return id;
  }
}

bool SessionHandler::send_publish(Session& s, const Message& m, uint8_t qos, bool retain, bool dup,
                                  uint16_t packet_id, std::span<const uint32_t> ids) {
  Connection& c = *s.conn;
  const ProtocolVersion v = version_of(c);
  PublishHeader h;
  h.topic = m.topic();
  h.packet_id = packet_id;
  h.qos = qos;
  h.retain = retain;
  h.dup = dup;
  uint16_t new_alias = 0;
  if (v == ProtocolVersion::v5) {
    h.forwarded_properties = m.properties();
    h.subscription_ids = ids;
    if (m.expiry_at_ms() != 0) {
      uint64_t left_ms = m.expiry_at_ms() > w_.now_ms() ? m.expiry_at_ms() - w_.now_ms() : 0;
      h.message_expiry = static_cast<uint32_t>((left_ms + 999) / 1000);  // MQTT-3.3.2-6
    }
    if (s.out_alias_max > 0) {
      auto& aliases = s.f().out_aliases;
      auto it = aliases.find(m.topic());
      if (it != aliases.end()) {
        h.topic_alias = it->second;
        h.topic = {};  // the client knows the alias: send it alone
      } else if (aliases.size() < s.out_alias_max) {
        new_alias = static_cast<uint16_t>(aliases.size() + 1);
        h.topic_alias = new_alias;
      }
    }
  }
  const size_t payload = m.payload().size();
  const size_t head = publish_header_size(h, v, payload);
  const size_t total = head + payload;
  // head 0: the packet would exceed the protocol's 268,435,455-byte remaining length.
  if (head == 0 || (s.client_max_packet != 0 && total > s.client_max_packet)) {
    // MQTT-3.1.2-25: too large for the client; discard as if it had been sent.
    stats_.dropped_too_large.add();
    return false;
  }
  if (qos == 0 && !w_.can_queue(c, total)) {
    w_.stats().dropped_qos0.add();  // a slow consumer: over max_queued_bytes
    return false;
  }
  if (new_alias) s.f().out_aliases.emplace(std::string(m.topic()), new_alias);
  if (head <= OutItem::kInline) {
    uint8_t buf[OutItem::kInline];
    encode_publish_header(h, v, payload, {buf, head});
    c.out.push_payload({buf, head}, &m);
  } else {
    auto* block = static_cast<uint8_t*>(std::malloc(head));
    encode_publish_header(h, v, payload, {block, head});
    c.out.push_owned(block, head);
    if (payload) c.out.push_payload({}, &m);
  }
  stats_.sent[qos].add();
  stats_.bytes_sent.add(payload);
  w_.stats().packets_out.add();
  w_.send(c);
  return true;
}

// The window (MQTT-3.3.4-9, 4.9): what the current connection has in flight stays below
// the client's Receive Maximum and our max_inflight.
size_t SessionHandler::window(const Session& s) const {
  return std::min<size_t>(s.client_receive_max, cfg_.max_inflight);
}

// Onward delivery of a message that was just routed (or found retained) starts here. A
// connected subscriber that can take it now gets it even when its Message Expiry
// Interval has run out meanwhile, with an interval of 0 (MQTT-3.3.2-5 deletes only copies
// whose onward delivery has not started; an interval of 0 thus reaches exactly the
// subscribers connected at the time, as with Mosquitto and EMQX). Expired messages are
// never queued.
void SessionHandler::deliver(Session& s, const MessageRef& m, uint8_t qos, bool retain,
                             std::span<const uint32_t> ids) {
  const bool expired = m->expiry_at_ms() != 0 && m->expiry_at_ms() <= w_.now_ms();
  if (!s.conn) {
    // Offline: persistent sessions keep QoS 1/2 (MQTT-3.1.2-5); QoS 0 is not queued.
    if (qos > 0 && !expired) {
      enqueue(s, m, qos, retain, ids);
    } else if (expired) {
      stats_.dropped_expired.add();
    }
    return;
  }
  if (qos == 0) {
    send_publish(s, *m, 0, retain, false, 0, ids);
    return;
  }
  SessionFlows& f = s.f();
  const InflightQueue& fl = f.inflight;
  if (fl.size() - fl.owed() >= window(s) || fl.owed() || !f.pending.empty()) {
    if (expired) {
      stats_.dropped_expired.add();
    } else {
      enqueue(s, m, qos, retain, ids);  // keeps order behind what already waits
    }
    return;
  }
  uint16_t id = next_packet_id(s);
  if (send_publish(s, *m, qos, retain, false, id, ids)) {
    f.inflight.push(OutFlight{.packet_id = id,
                              .qos = qos,
                              .retain = retain,
                              .message = m,
                              .ids = std::vector<uint32_t>(ids.begin(), ids.end())});
  }
}

bool SessionHandler::enqueue(Session& s, const MessageRef& m, uint8_t qos, bool retain,
                             std::span<const uint32_t> ids) {
  SessionFlows& f = s.f();
  const size_t bytes = queued_bytes(*m);
  if (cfg_.max_queued_messages == 0 || bytes > cfg_.max_queued_bytes) {
    stats_.dropped_queue.add();  // no queue, or the message alone is over the byte bound
    return false;
  }
  // Full: the oldest waiting message makes room for the newest (mqttd.example.toml; EMQX
  // does the same), each one dropped counted.
  while (!f.pending.empty() && (f.pending.size() >= cfg_.max_queued_messages ||
                                f.pending_bytes + bytes > cfg_.max_queued_bytes)) {
    f.pending_bytes -= queued_bytes(*f.pending.front().message);
    f.pending.pop_front();
    stats_.dropped_queue.add();
  }
  f.pending.push_back(Pending{m, qos, retain, std::vector<uint32_t>(ids.begin(), ids.end())});
  f.pending_bytes += bytes;
  return true;
}

void SessionHandler::pump(Session& s) {
  if (!s.conn || !s.flows) return;
  SessionFlows& f = *s.flows;
  InflightQueue& fl = f.inflight;
  const size_t win = window(s);
  while (s.conn && fl.size() - fl.owed() < win) {
    if (fl.owed()) {
      // Messages in flight before the resumption go out again first, in their order,
      // with their packet ids and DUP set (MQTT-4.4.0-1, MQTT-3.3.1-1).
      size_t k = fl.oldest_owed();
      fl.settle(k);
      const OutFlight& o = fl.at(k);
      if (!send_publish(s, *o.message, o.qos, o.retain, true, o.packet_id, o.ids)) {
        fl.erase_at(k);  // too large for this connection: as if delivered (MQTT-3.1.2-25)
      }
      continue;
    }
    if (f.pending.empty()) break;
    Pending p = std::move(f.pending.front());
    f.pending.pop_front();
    f.pending_bytes -= queued_bytes(*p.message);
    if (p.message->expiry_at_ms() != 0 && p.message->expiry_at_ms() <= w_.now_ms()) {
      stats_.dropped_expired.add();
      continue;
    }
    if (p.qos == 0) {
      send_publish(s, *p.message, 0, p.retain, false, 0, p.ids);
      continue;
    }
    uint16_t id = next_packet_id(s);
    if (send_publish(s, *p.message, p.qos, p.retain, false, id, p.ids)) {
      fl.push(OutFlight{.packet_id = id,
                        .qos = p.qos,
                        .retain = p.retain,
                        .message = std::move(p.message),
                        .ids = std::move(p.ids)});
    }
  }
}

void SessionHandler::resend_inflight(Session& s) {
  if (!s.flows || !s.conn) return;
  InflightQueue& fl = s.flows->inflight;
  // MQTT-4.4.0-1: PUBREL again for what awaits PUBCOMP; the unacknowledged PUBLISHes are
  // owed and go out through pump(), within the new connection's Receive Maximum.
  fl.owe_all();
  for (size_t k = 0; k < fl.size(); ++k) {
    const OutFlight& f = fl.at(k);
    if (f.stage == OutFlight::Stage::kAwaitComp) send_pubrel(s, f.packet_id, ReasonCode::success);
  }
}

}  // namespace mqttd

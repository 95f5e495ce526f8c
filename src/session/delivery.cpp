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

void SessionHandler::send_pubrel(Connection& c, uint16_t packet_id, ReasonCode reason) {
  PubRel r;
  r.packet_id = packet_id;
  r.reason = reason;
  send_packet(c, r);
}

uint16_t SessionHandler::next_packet_id(Session& s) {
  const auto& fl = s.f().inflight;
  for (;;) {
    uint16_t id = s.next_packet_id++;
    if (s.next_packet_id == 0) s.next_packet_id = 1;
    if (id == 0) continue;
    bool used = std::any_of(fl.begin(), fl.end(), [id](const OutFlight& f) { return f.packet_id == id; });
    if (!used) return id;
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
      auto it = aliases.find(std::string(m.topic()));
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
  if (s.client_max_packet != 0 && total > s.client_max_packet) {
    // MQTT-3.1.2-25: too large for the client; discard as if it had been sent.
    stats_.dropped_too_large.add();
    return false;
  }
  if (qos == 0 && !w_.can_queue(c, total)) {
    stats_.dropped_queue.add();
    w_.stats().dropped_qos0.add();
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

void SessionHandler::deliver(Session& s, const MessageRef& m, uint8_t qos, bool retain,
                             std::span<const uint32_t> ids) {
  if (m->expiry_at_ms() != 0 && m->expiry_at_ms() <= w_.now_ms()) {
    stats_.dropped_expired.add();
    return;
  }
  if (!s.conn) {
    // Offline: persistent sessions keep QoS 1/2 (MQTT-3.1.2-5); QoS 0 is not queued.
    if (qos > 0) enqueue(s, m, qos, retain, ids);
    return;
  }
  if (qos == 0) {
    send_publish(s, *m, 0, retain, false, 0, ids);
    return;
  }
  SessionFlows& f = s.f();
  size_t window = std::min<size_t>(s.client_receive_max, cfg_.max_inflight);
  if (f.inflight.size() >= window || !f.pending.empty()) {
    enqueue(s, m, qos, retain, ids);  // keeps order behind what already waits
    return;
  }
  uint16_t id = next_packet_id(s);
  if (send_publish(s, *m, qos, retain, false, id, ids)) {
    f.inflight.push_back(OutFlight{id, qos, OutFlight::Stage::kAwaitAck, retain, m,
                                   std::vector<uint32_t>(ids.begin(), ids.end())});
  }
}

bool SessionHandler::enqueue(Session& s, const MessageRef& m, uint8_t qos, bool retain,
                             std::span<const uint32_t> ids) {
  SessionFlows& f = s.f();
  size_t bytes = m->payload().size() + m->topic().size();
  if (f.pending.size() >= cfg_.max_queued_messages ||
      f.pending_bytes + bytes > cfg_.max_queued_bytes) {
    stats_.dropped_queue.add();  // the queue is full: the newest message is dropped
    return false;
  }
  f.pending.push_back(Pending{m, qos, retain, std::vector<uint32_t>(ids.begin(), ids.end())});
  f.pending_bytes += bytes;
  return true;
}

void SessionHandler::pump(Session& s) {
  if (!s.conn || !s.flows) return;
  SessionFlows& f = *s.flows;
  size_t window = std::min<size_t>(s.client_receive_max, cfg_.max_inflight);
  while (!f.pending.empty() && f.inflight.size() < window && s.conn) {
    Pending p = std::move(f.pending.front());
    f.pending.pop_front();
    f.pending_bytes -= p.message->payload().size() + p.message->topic().size();
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
      f.inflight.push_back(
          OutFlight{id, p.qos, OutFlight::Stage::kAwaitAck, p.retain, std::move(p.message), std::move(p.ids)});
    }
  }
}

void SessionHandler::resend_inflight(Session& s) {
  if (!s.flows || !s.conn) return;
  auto& fl = s.flows->inflight;
  // MQTT-4.4.0-1: unacknowledged PUBLISH (DUP set) and PUBREL, with their packet ids,
  // in the original order.
  for (auto it = fl.begin(); it != fl.end();) {
    if (it->stage == OutFlight::Stage::kAwaitComp) {
      send_pubrel(*s.conn, it->packet_id, ReasonCode::success);
      ++it;
    } else if (send_publish(s, *it->message, it->qos, it->retain, true, it->packet_id, it->ids)) {
      ++it;
    } else {
      it = fl.erase(it);  // too large for this connection: as if delivered
    }
  }
}

}  // namespace mqttd

// Inbound PUBLISH and the acknowledgements of both directions, and routing: a message is
// matched once on the worker that received it, delivered directly to local subscribers
// and handed to every other worker in one batch per turn (Worker::post).
#include <algorithm>

#include "common/log.h"
#include "session/handler.h"

namespace mqttd {
namespace {

template <typename P>
P response(uint16_t packet_id, ReasonCode reason) {
  P p;
  p.packet_id = packet_id;
  p.reason = reason;
  return p;
}

}  // namespace

void SessionHandler::handle_publish(Connection& c, Session& s, const Frame& frame) {
  const ProtocolVersion v = version_of(c);
  Publish p;
  ReasonCode rc = decode_publish(frame, v, Side::server, p);
  if (rc != ReasonCode::success) {
    protocol_error(c, rc, "invalid PUBLISH packet");
    return;
  }
  const bool v5 = v == ProtocolVersion::v5;
  std::string_view topic = p.topic;
  if (v5 && p.properties.has(PropertyId::topic_alias)) {
    uint16_t alias = p.properties.topic_alias;
    if (alias > cfg_.topic_alias_maximum) {
      protocol_error(c, ReasonCode::topic_alias_invalid,
                     "Topic Alias above the Topic Alias Maximum in CONNACK");  // MQTT-3.3.2-9
      return;
    }
    auto& aliases = s.f().in_aliases;
    if (aliases.size() <= alias) aliases.resize(alias + 1u);
    if (topic.empty()) {
      if (aliases[alias].empty()) {
        protocol_error(c, ReasonCode::protocol_error, "Topic Alias used before it was set");
        return;
      }
      topic = aliases[alias];
    } else {
      aliases[alias].assign(topic);
    }
  }
  uint8_t qos = p.qos;
  if (qos > cfg_.max_qos) {
    if (v5) {
      protocol_error(c, ReasonCode::qos_not_supported,
                     "QoS above the Maximum QoS in CONNACK");  // MQTT-3.2.2-11
      return;
    }
    qos = cfg_.max_qos;  // 3.x has no way to say it: downgrade
  }
  bool retain = p.retain;
  if (retain && !cfg_.retain_available) {
    if (v5) {
      protocol_error(c, ReasonCode::retain_not_supported,
                     "retained message, but Retain Available is 0");  // MQTT-3.2.2-14
      return;
    }
    retain = false;
  }
  if (p.qos == 2) {
    PacketIdSet& in = s.f().inbound_qos2;
    if (in.contains(p.packet_id)) {
      // A retransmission of a QoS 2 message we already have: acknowledge, don't route
      // (MQTT-4.3.3-10).
      send_packet(c, response<PubRec>(p.packet_id, ReasonCode::success));
      return;
    }
    if (in.size() >= cfg_.max_inflight) {
      protocol_error(c, ReasonCode::receive_maximum_exceeded,
                     "more unacknowledged QoS 2 messages than Receive Maximum");  // MQTT-3.3.4-7
      return;
    }
  }
  stats_.received[p.qos].add();
  stats_.bytes_received.add(p.payload.size());

  if (is_sys_topic(topic)) {
    // $SYS belongs to the broker (Mosquitto refuses these too): neither routed nor
    // retained. MQTT 5 says so; a 3.x client cannot be told and gets the usual
    // acknowledgement (3.1.1 MQTT-3.3.5-2).
    if (v5) {
      refuse_publish(c, s, p, ReasonCode::not_authorized,
                     "$SYS topics are published by the broker only");
    } else if (p.qos == 1) {
      send_packet(c, response<PubAck>(p.packet_id, ReasonCode::success));
    } else if (p.qos == 2) {
      s.f().inbound_qos2.insert(p.packet_id);
      send_packet(c, response<PubRec>(p.packet_id, ReasonCode::success));
    }
    return;
  }
  if (v5 && p.properties.has(PropertyId::payload_format_indicator) &&
      p.properties.payload_format_indicator == 1 &&
      !valid_utf8({reinterpret_cast<const char*>(p.payload.data()), p.payload.size()})) {
    // The payload says it is UTF-8 and is not (MQTT 5.0 3.3.2.3.2): refuse the message.
    refuse_publish(c, s, p, ReasonCode::payload_format_invalid,
                   "the payload is not UTF-8 but its Payload Format Indicator says it is");
    return;
  }

  size_t plen = v5 ? forwarded_properties_size(p.properties) : 0;
  scratch_.resize(plen);
  if (plen) encode_forwarded_properties(p.properties, scratch_);
  uint64_t expiry = v5 && p.properties.has(PropertyId::message_expiry_interval)
                        ? w_.now_ms() + uint64_t{p.properties.message_expiry_interval} * 1000
                        : 0;
  MessageRef m = MessageRef::adopt(Message::create(topic, p.payload, scratch_, qos, retain, expiry));
  if (retain) {
    // MQTT-3.3.1-6/7: an empty retained payload clears; it is still delivered as usual.
    if (p.payload.empty()) {
      b_.retained().clear(topic);
    } else {
      b_.retained().set(topic, m);
    }
  }
  route(m, &s);
  ReasonCode ack = v5 && match_.empty() ? ReasonCode::no_matching_subscribers : ReasonCode::success;
  if (p.qos == 1) {
    send_packet(c, response<PubAck>(p.packet_id, ack));
  } else if (p.qos == 2) {
    s.f().inbound_qos2.insert(p.packet_id);
    send_packet(c, response<PubRec>(p.packet_id, ack));
  }
}

void SessionHandler::refuse_publish(Connection& c, Session& s, const Publish& p, ReasonCode reason,
                                    std::string_view why) {
  // A PUBREC of 0x80 or above ends the QoS 2 flow: nothing is remembered (4.3.3).
  if (p.qos == 1) {
    PubAck a = response<PubAck>(p.packet_id, reason);
    send_explained(c, a, why, s.request_problem_info);
  } else if (p.qos == 2) {
    PubRec a = response<PubRec>(p.packet_id, reason);
    send_explained(c, a, why, s.request_problem_info);
  }
}

void SessionHandler::handle_ack(Connection& c, Session& s, const Frame& frame) {
  const ProtocolVersion v = version_of(c);
  PublishResponse r;
  ReasonCode rc;
  PacketType type = frame.header.type;
  switch (type) {
    case PacketType::puback: {
      PubAck a;
      rc = decode_puback(frame, v, a);
      r = a;
      break;
    }
    case PacketType::pubrec: {
      PubRec a;
      rc = decode_pubrec(frame, v, a);
      r = a;
      break;
    }
    case PacketType::pubrel: {
      PubRel a;
      rc = decode_pubrel(frame, v, a);
      r = a;
      break;
    }
    default: {
      PubComp a;
      rc = decode_pubcomp(frame, v, a);
      r = a;
      break;
    }
  }
  if (rc != ReasonCode::success) {
    protocol_error(c, rc, "invalid acknowledgement packet");
    return;
  }
  const uint16_t id = r.packet_id;
  if (type == PacketType::pubrel) {
    if (s.f().inbound_qos2.erase(id)) {
      send_packet(c, response<PubComp>(id, ReasonCode::success));
    } else {
      PubComp a = response<PubComp>(id, ReasonCode::packet_identifier_not_found);
      send_explained(c, a, "no QoS 2 message with this packet identifier awaits PUBREL",
                     s.request_problem_info);
    }
    return;
  }
  InflightQueue& fl = s.f().inflight;
  const size_t k = fl.find(id);
  if (type == PacketType::pubrec) {
    if (k == InflightQueue::kNone) {
      send_pubrel(s, id, ReasonCode::packet_identifier_not_found,
                  "no QoS 2 message with this packet identifier is in flight");
      return;
    }
    OutFlight& f = fl.at(k);
    if (f.qos != 2) return;  // a PUBREC for a QoS 1 message: MQTT leaves it unanswered
    if (f.stage == OutFlight::Stage::kAwaitComp) {
      send_pubrel(s, id, ReasonCode::success);  // PUBREC again: our PUBREL may be lost
      return;
    }
    if (static_cast<uint8_t>(r.reason) >= 0x80) {
      fl.erase_at(k);  // the client refused it: the flow ends here (MQTT 5.0 4.3.3)
      pump(s);
      return;
    }
    fl.settle(k);  // it got the PUBLISH before the resumption: no need to send it again
    f.stage = OutFlight::Stage::kAwaitComp;
    f.message = MessageRef();
    f.ids = std::vector<uint32_t>();
    send_pubrel(s, id, ReasonCode::success);
    return;
  }
  if (k == InflightQueue::kNone) return;  // a stray acknowledgement: MQTT leaves it unanswered
  const OutFlight& f = fl.at(k);
  bool done = type == PacketType::puback ? f.qos == 1 && f.stage == OutFlight::Stage::kAwaitAck
                                         : f.stage == OutFlight::Stage::kAwaitComp;
  if (!done) return;
  fl.erase_at(k);
  pump(s);
}

void SessionHandler::route(const MessageRef& m, const Session* publisher) {
  b_.index().match(m->topic(), match_);
  std::optional<SubscriberKey> from;
  if (publisher) from = SubscriberKey{static_cast<uint16_t>(w_.id()), publisher->handle};
  match_.finalize(from);
  const int me = w_.id();
  for (uint16_t worker : match_.workers()) {
    auto entries = match_.entries(worker);
    if (worker == me) {
      for (const MatchResult::Entry& e : entries) {
        bool retain = e.retain_as_published() && m->retain();
        deliver_local(e.subscriber, m, std::min(e.qos, m->qos()), retain, match_.subscription_ids(e));
      }
      continue;
    }
    m->ref(static_cast<uint32_t>(entries.size()));  // one per item, released by the receiver
    for (const MatchResult::Entry& e : entries) {
      InboxItem it{};
      it.kind = InboxKind::kDeliver;
      it.qos = std::min(e.qos, m->qos());
      it.flags = e.retain_as_published() && m->retain() ? 1 : 0;
      it.target = e.subscriber;
      it.ptr = m.get();
      auto ids = match_.subscription_ids(e);
      if (ids.size() == 1) {
        it.sub_id = ids[0];
      } else if (ids.size() > 1) {
        it.extra = new std::vector<uint32_t>(ids.begin(), ids.end());
      }
      w_.post(worker, it);
    }
  }
}

void SessionHandler::deliver_local(uint64_t handle, const MessageRef& m, uint8_t qos, bool retain,
                                   std::span<const uint32_t> ids) {
  if (Session* s = sessions_.get(handle)) deliver(*s, m, qos, retain, ids);
}

void SessionHandler::publish_internal(std::string_view topic, std::string_view payload, bool retain) {
  MessageRef m = MessageRef::adopt(Message::create(
      topic, {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}, {}, 0, retain, 0));
  if (retain) b_.retained().set(topic, m);
  route(m, nullptr);
}

}  // namespace mqttd

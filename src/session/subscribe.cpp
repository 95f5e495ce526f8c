// SUBSCRIBE and UNSUBSCRIBE: the index holds the routing copy of each subscription (keyed
// by this worker and the session's handle), the session its own list; retained messages
// are sent after the SUBACK as retain handling says.
#include <algorithm>

#include "session/handler.h"

namespace mqttd {

void SessionHandler::handle_subscribe(Connection& c, Session& s, const Frame& frame) {
  Subscribe& p = sub_scratch_;
  ReasonCode rc = decode_subscribe(frame, version_of(c), p);
  if (rc != ReasonCode::success) {
    protocol_error(c, rc,
                   rc == ReasonCode::topic_filter_invalid ? "invalid Topic Filter"
                                                          : "invalid SUBSCRIBE packet");
    return;
  }
  uint32_t id = p.properties.has(PropertyId::subscription_identifier) ? p.properties.subscription_ids.front() : 0;
  SubAck ack;
  ack.packet_id = p.packet_id;
  ack.reasons.reserve(p.subscriptions.size());
  struct Fresh {
    std::string_view filter;
    SubscriptionOptions options;
    bool existed;
  };
  std::vector<Fresh> fresh;
  fresh.reserve(p.subscriptions.size());
  for (const Subscription& x : p.subscriptions) {
    SubscriptionOptions o;
    o.qos = std::min(x.qos, cfg_.max_qos);
    o.no_local = x.no_local;
    o.retain_as_published = x.retain_as_published;
    o.retain_handling = static_cast<uint8_t>(x.retain_handling);
    bool existed = b_.index().subscribe(x.filter, static_cast<uint16_t>(w_.id()), s.handle, o, id);
    auto rec = std::find_if(s.subs.begin(), s.subs.end(), [&x](const SubRecord& r) { return r.filter == x.filter; });
    if (rec != s.subs.end()) {
      rec->options = o;
      rec->id = id;
    } else {
      s.subs.push_back(SubRecord{std::string(x.filter), o, id});
    }
    ack.reasons.push_back(static_cast<ReasonCode>(o.qos));
    fresh.push_back(Fresh{x.filter, o, existed});
  }
  send_packet(c, ack);
  // MQTT-3.3.1-9..11 and 4.8.2: retained messages follow the SUBACK, never for shared
  // subscriptions; retain handling 1 sends them only for a new subscription, 2 never.
  for (const Fresh& f : fresh) {
    if (is_shared_filter(f.filter)) continue;
    if (f.options.retain_handling == 2 || (f.options.retain_handling == 1 && f.existed)) continue;
    send_retained(s, f.filter, f.options, id);
  }
}

void SessionHandler::send_retained(Session& s, std::string_view filter, const SubscriptionOptions& o,
                                   uint32_t id) {
  retained_scratch_.clear();
  b_.retained().match(filter, retained_scratch_);
  std::span<const uint32_t> ids;
  if (id) ids = {&id, 1};
  for (const MessageRef& m : retained_scratch_) {
    deliver(s, m, std::min(o.qos, m->qos()), true, ids);
  }
  retained_scratch_.clear();
}

void SessionHandler::handle_unsubscribe(Connection& c, Session& s, const Frame& frame) {
  Unsubscribe& p = unsub_scratch_;
  ReasonCode rc = decode_unsubscribe(frame, version_of(c), p);
  if (rc != ReasonCode::success) {
    protocol_error(c, rc,
                   rc == ReasonCode::topic_filter_invalid ? "invalid Topic Filter"
                                                          : "invalid UNSUBSCRIBE packet");
    return;
  }
  UnsubAck ack;
  ack.packet_id = p.packet_id;
  for (std::string_view filter : p.filters) {
    bool existed = b_.index().unsubscribe(filter, static_cast<uint16_t>(w_.id()), s.handle);
    auto rec = std::find_if(s.subs.begin(), s.subs.end(), [filter](const SubRecord& r) { return r.filter == filter; });
    if (rec != s.subs.end()) s.subs.erase(rec);
    ack.reasons.push_back(existed ? ReasonCode::success : ReasonCode::no_subscription_existed);
  }
  send_packet(c, ack);
}

void SessionHandler::remove_all_subscriptions(Session& s) {
  for (const SubRecord& r : s.subs) {
    b_.index().unsubscribe(r.filter, static_cast<uint16_t>(w_.id()), s.handle);
  }
  s.subs.clear();
}

}  // namespace mqttd

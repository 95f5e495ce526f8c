#include "client.h"

#include <cstring>
#include <random>

namespace mqttd::bench {
namespace {

// Output bytes a publisher queues before it waits for the kernel to take them.
constexpr size_t kOutHighWater = 64 * 1024;


thread_local std::minstd_rand random_engine{std::random_device{}()};

}  // namespace

std::string expand_pattern(const std::string& pattern, uint32_t index, uint32_t process_tag) {
  std::string out;
  out.reserve(pattern.size() + 8);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      const char c = pattern[i + 1];
      if (c == 'i') {
        out += std::to_string(index);
        ++i;
        continue;
      }
      if (c == 'm') {
        out += std::to_string(process_tag);
        ++i;
        continue;
      }
      if (c == 'r') {
        out += std::to_string(random_engine() % 1'000'000);
        ++i;
        continue;
      }
      if (c == '%') {
        out += '%';
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (filter.starts_with("$share/")) {
    const size_t slash = filter.find('/', 7);
    if (slash == std::string_view::npos) return false;
    filter.remove_prefix(slash + 1);
  }
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  size_t f = 0, t = 0;
  while (true) {
    const size_t fe = std::min(filter.find('/', f), filter.size());
    const std::string_view flevel = filter.substr(f, fe - f);
    if (flevel == "#") return true;
    const size_t te = std::min(topic.find('/', t), topic.size());
    if (t > topic.size()) return false;
    if (flevel != "+" && flevel != topic.substr(t, te - t)) return false;
    const bool f_end = fe == filter.size(), t_end = te == topic.size();
    if (f_end || t_end) {
      // "a/#" also matches "a".
      if (f_end && t_end) return true;
      return t_end && filter.substr(fe) == "/#";
    }
    f = fe + 1;
    t = te + 1;
  }
}

Client::Client(uint32_t global_index, Role role, uint32_t role_index)
    : global_(global_index), role_index_(role_index), role_(role) {}

template <typename Packet>
void Client::append(const Packet& p, ProtocolVersion v) {
  const size_t at = out.size();
  const size_t n = encoded_size(p, v);
  out.resize(at + n);
  encode(p, v, std::span<uint8_t>(out.data() + at, n));
}

void Client::start_session(ClientEnv& env) {
  const BenchConfig& cfg = env.cfg;
  const std::string id = expand_pattern(cfg.client_id, global_, cfg.run_id);
  Connect c;
  c.version = env.version;
  c.clean_start = cfg.clean;
  c.keep_alive = cfg.keepalive;
  c.client_id = id;
  if (env.version == ProtocolVersion::v5 && cfg.session_expiry)
    c.properties.set_session_expiry_interval(cfg.session_expiry);
  append(c, env.version);
  if (role_ == Role::publisher && !std::strstr(cfg.topic.c_str(), "%r"))
    topic_ = expand_pattern(cfg.topic, role_index_, cfg.run_id);
  if (role_ == Role::subscriber) {
    topic_ = expand_pattern(cfg.sub_topic, role_index_, cfg.run_id);
    if (!tracker_) tracker_ = std::make_unique<StreamTracker>();
  }
  state = ClientState::awaiting_connack;
}

void Client::reset_connection() {
  out.clear();
  sending.clear();
  sending.shrink_to_fit();
  sending_offset = 0;
  reader_.reset();
  inflight_ = 0;
  send_in_flight = false;
  recv_armed = false;
}

void Client::queue_ping() { append(PingReq{}, ProtocolVersion::v4); }

void Client::queue_disconnect(ProtocolVersion v) { append(Disconnect{}, v); }

ClientStatus Client::on_bytes(ClientEnv& env, std::span<const uint8_t> bytes) {
  Frame frame;
  while (!bytes.empty()) {
    const ParseResult r = reader_.next(bytes, frame);
    if (r.status == ParseStatus::need_more) break;
    if (r.status == ParseStatus::error) {
      env.stats.protocol_errors.add();
      return ClientStatus::close;
    }
    if (handle(env, frame) == ClientStatus::close) return ClientStatus::close;
  }
  return ClientStatus::ok;
}

ClientStatus Client::handle(ClientEnv& env, const Frame& frame) {
  switch (frame.header.type) {
    case PacketType::connack:
      return on_connack(env, frame);
    case PacketType::suback:
      return on_suback(env, frame);
    case PacketType::publish:
      return on_publish(env, frame);
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp:
      return on_ack(env, frame);
    case PacketType::pingresp:
      return ClientStatus::ok;
    case PacketType::disconnect:
      env.stats.disconnects.add();
      return ClientStatus::close;
    default:
      env.stats.protocol_errors.add();
      return ClientStatus::close;
  }
}

ClientStatus Client::on_connack(ClientEnv& env, const Frame& frame) {
  ConnAck ack;
  if (state != ClientState::awaiting_connack ||
      decode_connack(frame, env.version, ack) != ReasonCode::success) {
    env.stats.protocol_errors.add();
    return ClientStatus::close;
  }
  if (ack.reason != ReasonCode::success) {
    env.stats.connect_errors.add();
    return ClientStatus::close;
  }
  env.stats.connected.add();
  env.stats.connects.add();
  if (role_ == Role::subscriber) {
    Subscribe s;
    s.packet_id = 1;
    Subscription sub;
    sub.filter = topic_;
    sub.qos = static_cast<uint8_t>(env.cfg.effective_sub_qos());
    s.subscriptions.push_back(sub);
    append(s, env.version);
    last_tx_ns = env.now_ns;
    state = ClientState::subscribing;
  } else {
    state = ClientState::ready;
    env.stats.ready.add();
  }
  return ClientStatus::ok;
}

ClientStatus Client::on_suback(ClientEnv& env, const Frame& frame) {
  SubAck ack;
  if (state != ClientState::subscribing ||
      decode_suback(frame, env.version, ack) != ReasonCode::success || ack.reasons.empty()) {
    env.stats.protocol_errors.add();
    return ClientStatus::close;
  }
  if (static_cast<uint8_t>(ack.reasons[0]) >= 0x80) {
    env.stats.connect_errors.add();
    return ClientStatus::close;
  }
  state = ClientState::ready;
  env.stats.ready.add();
  return ClientStatus::ok;
}

ClientStatus Client::on_publish(ClientEnv& env, const Frame& frame) {
  Publish& p = env.scratch;
  if (decode_publish(frame, env.version, Side::client, p) != ReasonCode::success) {
    env.stats.protocol_errors.add();
    return ClientStatus::close;
  }
  env.stats.msgs_in.add();
  if (p.qos == 1) {
    PubAck a;
    a.packet_id = p.packet_id;
    append(a, env.version);
  } else if (p.qos == 2) {
    PubRec r;
    r.packet_id = p.packet_id;
    append(r, env.version);
  }
  PayloadHeader h;
  if (p.payload.size() < sizeof h) {
    env.stats.foreign_in.add();
    return ClientStatus::ok;
  }
  std::memcpy(&h, p.payload.data(), sizeof h);
  // pubsub: a message another run published (a broker still draining it) is foreign.
  if (h.magic != kPayloadMagic ||
      (env.cfg.mode == Mode::kPubSub && h.run_tag != static_cast<uint16_t>(env.cfg.run_id))) {
    env.stats.foreign_in.add();
    return ClientStatus::ok;
  }
  if (env.now_ns > h.sent_ns) env.stats.latency.record(env.now_ns - h.sent_ns);
  if (!tracker_) tracker_ = std::make_unique<StreamTracker>();
  switch (tracker_->record(uint64_t{h.run_tag} << 32 | h.publisher, h.seq)) {
    case StreamTracker::Verdict::in_order:
      env.stats.unique_in.add();
      break;
    case StreamTracker::Verdict::reordered:
      env.stats.unique_in.add();
      env.stats.reordered.add();
      break;
    case StreamTracker::Verdict::duplicate:
      env.stats.duplicates.add();
      break;
  }
  return ClientStatus::ok;
}

ClientStatus Client::on_ack(ClientEnv& env, const Frame& frame) {
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::success;
  ReasonCode rc = ReasonCode::success;
  auto take = [&](auto decoder, auto packet) {
    rc = decoder(frame, env.version, packet);
    packet_id = packet.packet_id;
    reason = packet.reason;
  };
  switch (frame.header.type) {
    case PacketType::puback:
      take([](const Frame& f, ProtocolVersion v, PubAck& a) { return decode_puback(f, v, a); },
           PubAck{});
      break;
    case PacketType::pubrec:
      take([](const Frame& f, ProtocolVersion v, PubRec& a) { return decode_pubrec(f, v, a); },
           PubRec{});
      break;
    case PacketType::pubrel:
      take([](const Frame& f, ProtocolVersion v, PubRel& a) { return decode_pubrel(f, v, a); },
           PubRel{});
      break;
    default:
      take([](const Frame& f, ProtocolVersion v, PubComp& a) { return decode_pubcomp(f, v, a); },
           PubComp{});
      break;
  }
  if (rc != ReasonCode::success) {
    env.stats.protocol_errors.add();
    return ClientStatus::close;
  }
  switch (frame.header.type) {
    case PacketType::pubrec: {
      // MQTT 5: a PUBREC with an error code ends the flow there (no PUBREL).
      if (static_cast<uint8_t>(reason) >= 0x80) break;
      PubRel rel;
      rel.packet_id = packet_id;
      append(rel, env.version);
      return ClientStatus::ok;
    }
    case PacketType::pubrel: {
      PubComp comp;
      comp.packet_id = packet_id;
      append(comp, env.version);
      return ClientStatus::ok;
    }
    default:
      break;
  }
  if (inflight_ == 0) {
    env.stats.protocol_errors.add();
    return ClientStatus::close;
  }
  --inflight_;
  env.stats.pub_acked.add();
  return ClientStatus::ok;
}

void Client::append_publish(ClientEnv& env, uint64_t sent_ns) {
  const BenchConfig& cfg = env.cfg;
  std::string random_topic;
  PublishHeader h;
  if (topic_.empty()) {
    random_topic = expand_pattern(cfg.topic, role_index_, cfg.run_id);
    h.topic = random_topic;
  } else {
    h.topic = topic_;
  }
  h.qos = static_cast<uint8_t>(cfg.qos);
  h.retain = cfg.retain;
  if (cfg.qos > 0) {
    h.packet_id = next_packet_id_;
    next_packet_id_ = next_packet_id_ == 0xFFFF ? 1 : next_packet_id_ + 1;
    ++inflight_;
  }
  const size_t header = publish_header_size(h, env.version, cfg.payload);
  const size_t at = out.size();
  out.resize(at + header + cfg.payload);
  uint8_t* p = out.data() + at;
  encode_publish_header(h, env.version, cfg.payload, std::span<uint8_t>(p, header));
  PayloadHeader ph{kPayloadMagic, static_cast<uint16_t>(cfg.run_id), cfg.id_base + role_index_,
                   seq_, sent_ns};
  std::memcpy(p + header, &ph, sizeof ph);
  std::memset(p + header + sizeof ph, 'x', cfg.payload - sizeof ph);
  ++seq_;
  env.stats.pub_sent.add();
  if (!env.fanout.empty()) env.stats.expected_in.add(env.fanout[role_index_]);
}

bool Client::fill(ClientEnv& env, uint64_t due) {
  const BenchConfig& cfg = env.cfg;
  if (cfg.count && due > cfg.count) due = cfg.count;
  bool queued = false;
  uint64_t sent_ns = 0;
  while (seq_ < due && out.size() < kOutHighWater && (cfg.qos == 0 || inflight_ < cfg.inflight)) {
    if (!queued) sent_ns = mono_now_ns();
    append_publish(env, sent_ns);
    queued = true;
  }
  if (queued) last_tx_ns = env.now_ns;
  return queued;
}

bool Client::finished(const BenchConfig& cfg) const {
  return cfg.count && seq_ >= cfg.count && inflight_ == 0;
}

}  // namespace mqttd::bench

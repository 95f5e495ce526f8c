// $SYS/broker/...: broker statistics published as retained QoS 0 messages every
// `sys_interval` seconds by worker 0, under Mosquitto's topic names where one exists.
// Counters are read from every worker (relaxed single-writer atomics: each value is
// recent, the set is not a snapshot).
#include <cmath>
#include <cstdio>

#include "mqttd_build_config.h"
#include "net/engine.h"
#include "session/handler.h"
#include "session/sys_topics.h"

namespace mqttd {
namespace {

struct Totals {
  uint64_t connected = 0, sessions = 0, received = 0, sent = 0, dropped = 0;
  uint64_t packets_in = 0, packets_out = 0, bytes_in = 0, bytes_out = 0, accepted = 0;
};

}  // namespace

void SysLoad::update(uint64_t total, double interval_s) {
  if (!primed) {
    last = total;
    primed = true;
    return;
  }
  double per_min = static_cast<double>(total - last) * 60.0 / interval_s;
  last = total;
  auto damp = [&](double& v, double period_s) {
    v = per_min + std::exp(-interval_s / period_s) * (v - per_min);
  };
  damp(m1, 60);
  damp(m5, 300);
  damp(m15, 900);
}

void SessionHandler::publish_sys() {
  if (!sys_) sys_ = std::make_unique<SysState>();
  SysState& st = *sys_;
  Totals t;
  Engine& e = b_.engine();
  for (int i = 0; i < e.workers(); ++i) {
    const SessionStats& s = b_.stats(i);
    const WorkerStats& ws = e.shared(i).stats;
    t.connected += s.connected.get();
    t.sessions += s.sessions.get();
    for (int q = 0; q < 3; ++q) {
      t.received += s.received[q].get();
      t.sent += s.sent[q].get();
    }
    t.dropped += s.dropped_queue.get() + s.dropped_expired.get() + s.dropped_too_large.get() +
                 ws.dropped_qos0.get();
    t.packets_in += ws.packets_in.get();
    t.packets_out += ws.packets_out.get();
    t.bytes_in += ws.bytes_in.get();
    t.bytes_out += ws.bytes_out.get();
    t.accepted += ws.accepted.get();
  }
  st.max_connected = std::max(st.max_connected, t.connected);
  double interval = cfg_.sys_interval;
  st.received.update(t.packets_in, interval);
  st.sent.update(t.packets_out, interval);
  st.bytes_in.update(t.bytes_in, interval);
  st.bytes_out.update(t.bytes_out, interval);
  st.connections.update(t.accepted, interval);
  st.publish_in.update(t.received, interval);
  st.publish_out.update(t.sent, interval);

  char buf[64];
  auto num = [&](const char* topic, uint64_t v) {
    std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));
    publish_internal(topic, buf, true);
  };
  auto rate = [&](const char* base, const SysLoad& l) {
    char topic[96];
    const std::pair<const char*, double> spans[] = {{"1min", l.m1}, {"5min", l.m5}, {"15min", l.m15}};
    for (const auto& [name, v] : spans) {
      std::snprintf(topic, sizeof topic, "%s/%s", base, name);
      std::snprintf(buf, sizeof buf, "%.2f", v);
      publish_internal(topic, buf, true);
    }
  };
  publish_internal("$SYS/broker/version", "mqttd " MQTTD_VERSION, true);
  std::snprintf(buf, sizeof buf, "%llu seconds",
                static_cast<unsigned long long>((w_.now_ms() - b_.start_ms()) / 1000));
  publish_internal("$SYS/broker/uptime", buf, true);
  num("$SYS/broker/clients/connected", t.connected);
  num("$SYS/broker/clients/disconnected", t.sessions - std::min(t.sessions, t.connected));
  num("$SYS/broker/clients/total", t.sessions);
  num("$SYS/broker/clients/maximum", st.max_connected);
  num("$SYS/broker/messages/received", t.packets_in);
  num("$SYS/broker/messages/sent", t.packets_out);
  num("$SYS/broker/publish/messages/received", t.received);
  num("$SYS/broker/publish/messages/sent", t.sent);
  num("$SYS/broker/publish/messages/dropped", t.dropped);
  num("$SYS/broker/bytes/received", t.bytes_in);
  num("$SYS/broker/bytes/sent", t.bytes_out);
  num("$SYS/broker/subscriptions/count", b_.index().counters().subscriptions);
  num("$SYS/broker/retained messages/count", b_.retained().counters().messages);
  rate("$SYS/broker/load/messages/received", st.received);
  rate("$SYS/broker/load/messages/sent", st.sent);
  rate("$SYS/broker/load/bytes/received", st.bytes_in);
  rate("$SYS/broker/load/bytes/sent", st.bytes_out);
  rate("$SYS/broker/load/connections", st.connections);
  rate("$SYS/broker/load/publish/received", st.publish_in);
  rate("$SYS/broker/load/publish/sent", st.publish_out);
}

}  // namespace mqttd

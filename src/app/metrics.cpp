#include "app/metrics.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "mqttd_build_config.h"
#include "net/engine.h"
#include "session/broker.h"

namespace mqttd {
namespace {

class Exposition {
 public:
  // One # HELP / # TYPE block; the samples follow with sample().
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const char* name, const std::string& labels, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    line(name, labels, buf);
  }
  void sample(const char* name, const std::string& labels, uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%" PRIu64, v);
    line(name, labels, buf);
  }
  // A family with one unlabelled sample.
  void single(const char* name, const char* type, const char* help, uint64_t v) {
    family(name, type, help);
    sample(name, "", v);
  }
  std::string take() { return std::move(out_); }

 private:
  void line(const char* name, const std::string& labels, const char* value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
};

std::string label(const char* key, const std::string& value) {
  return std::string(key) + "=\"" + value + "\"";
}

// Sums one WorkerStats counter over the workers.
template <typename Get>
uint64_t sum_workers(Engine& engine, Get get) {
  uint64_t total = 0;
  for (int i = 0; i < engine.workers(); ++i) total += get(engine.shared(i).stats).get();
  return total;
}

template <typename Get>
uint64_t sum_sessions(const Broker& broker, Get get) {
  uint64_t total = 0;
  for (uint32_t i = 0; i < broker.workers(); ++i) total += get(broker.stats(static_cast<int>(i))).get();
  return total;
}

struct ProcessStats {
  double cpu_seconds = 0;
  double start_time = 0;  // seconds since the epoch
  uint64_t rss_bytes = 0;
  uint64_t vsize_bytes = 0;
};

ProcessStats read_process_stats() {
  ProcessStats p;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the command (which may hold spaces) start behind the last ')'.
  size_t close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream in(line.substr(close + 2));
    std::string f[24];
    for (auto& s : f) in >> s;
    // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
    p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    double start_ticks = std::stod(f[19]);
    p.vsize_bytes = std::stoull(f[20]);
    p.rss_bytes = std::stoull(f[21]) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    std::ifstream uptime_file("/proc/uptime");
    double uptime = 0;
    uptime_file >> uptime;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    double boot = static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9 - uptime;
    p.start_time = boot + start_ticks / ticks;
  }
  return p;
}

}  // namespace

std::string render_metrics(Engine& engine, const Broker& broker) {
  Exposition e;
  e.family("mqttd_build_info", "gauge", "Version and build type of this mqttd.");
  e.sample("mqttd_build_info",
           label("version", MQTTD_VERSION) + "," + label("build_type", MQTTD_BUILD_TYPE), uint64_t{1});
  e.single("mqttd_workers", "gauge", "Worker threads (one io_uring each).",
           static_cast<uint64_t>(engine.workers()));
  e.family("mqttd_ready", "gauge", "1 when every worker accepts and no shutdown has begun.");
  e.sample("mqttd_ready", "", uint64_t{engine.ready() ? 1u : 0u});

  e.family("mqttd_connections", "gauge", "Client connections held, by worker.");
  for (int i = 0; i < engine.workers(); ++i) {
    e.sample("mqttd_connections", label("worker", std::to_string(i)),
             engine.shared(i).stats.connections.get());
  }
  e.single("mqttd_accepts_total", "counter", "Connections accepted (or handed over) by the workers.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.accepted; }));
  e.single("mqttd_connections_handed_off_total", "counter",
           "Connections accepted by a worker at its cap and passed to a less loaded one.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.handed_off; }));
  e.family("mqttd_connections_refused_total", "counter", "Connections refused, by reason.");
  e.sample("mqttd_connections_refused_total", label("reason", "all_workers_full"),
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.refused; }));
  e.sample("mqttd_connections_refused_total", label("reason", "descriptor_table_full"),
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.refused_table_full; }));
  e.single("mqttd_connections_closed_total", "counter", "Connections closed, for any cause.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.closed; }));
  e.single("mqttd_protocol_errors_total", "counter", "Connections ended by a protocol error.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.protocol_errors; }));
  e.single("mqttd_keepalive_timeouts_total", "counter", "Connections closed for keep-alive expiry.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.keepalive_timeouts; }));
  e.single("mqttd_connect_timeouts_total", "counter", "Sockets closed for sending no CONNECT in time.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.connect_timeouts; }));
  e.single("mqttd_network_received_bytes_total", "counter", "Bytes received from clients.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.bytes_in; }));
  e.single("mqttd_network_sent_bytes_total", "counter", "Bytes sent to clients.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.bytes_out; }));
  e.single("mqttd_packets_received_total", "counter", "MQTT control packets received.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.packets_in; }));
  e.single("mqttd_packets_sent_total", "counter", "MQTT control packets sent.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.packets_out; }));
  e.family("mqttd_loop_turns_total", "counter", "Event-loop turns, by worker.");
  for (int i = 0; i < engine.workers(); ++i) {
    e.sample("mqttd_loop_turns_total", label("worker", std::to_string(i)),
             engine.shared(i).stats.loop_turns.get());
  }
  e.single("mqttd_inbox_items_total", "counter", "Items passed between workers.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.inbox_items; }));
  e.single("mqttd_wakeups_sent_total", "counter", "MSG_RING wake-ups sent between workers.",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.wakeups_sent; }));
  e.single("mqttd_receives_held_total", "counter",
           "Receive completions held back because another worker's inbox was full (back-pressure).",
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.recv_held; }));

  using SS = SessionStats;
  e.family("mqttd_messages_received_total", "counter", "PUBLISH packets received, by QoS.");
  for (int q = 0; q < 3; ++q) {
    e.sample("mqttd_messages_received_total", label("qos", std::to_string(q)),
             sum_sessions(broker, [q](const SS& s) -> const Counter& { return s.received[q]; }));
  }
  e.family("mqttd_messages_sent_total", "counter", "PUBLISH packets sent, by QoS.");
  for (int q = 0; q < 3; ++q) {
    e.sample("mqttd_messages_sent_total", label("qos", std::to_string(q)),
             sum_sessions(broker, [q](const SS& s) -> const Counter& { return s.sent[q]; }));
  }
  e.single("mqttd_bytes_received_total", "counter", "Application payload bytes received.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.bytes_received; }));
  e.single("mqttd_bytes_sent_total", "counter", "Application payload bytes sent.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.bytes_sent; }));
  e.family("mqttd_messages_dropped_total", "counter", "Messages not delivered, by reason.");
  e.sample("mqttd_messages_dropped_total", label("reason", "queue_full"),
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.dropped_queue; }));
  e.sample("mqttd_messages_dropped_total", label("reason", "expired"),
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.dropped_expired; }));
  e.sample("mqttd_messages_dropped_total", label("reason", "too_large"),
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.dropped_too_large; }));
  e.sample("mqttd_messages_dropped_total", label("reason", "slow_consumer"),
           sum_workers(engine, [](WorkerStats& s) -> Counter& { return s.dropped_qos0; }));
  e.single("mqttd_sessions", "gauge", "Sessions held, connected or not.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.sessions; }));
  e.single("mqttd_sessions_connected", "gauge", "Sessions with a live connection.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.connected; }));
  e.single("mqttd_connects_total", "counter", "CONNECT packets accepted.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.connects; }));
  e.single("mqttd_connects_refused_total", "counter", "CONNECT packets refused (any reason).",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.connects_refused; }));
  e.single("mqttd_session_takeovers_total", "counter", "Sessions taken over by a new connection.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.takeovers; }));
  e.single("mqttd_wills_published_total", "counter", "Will messages published.",
           sum_sessions(broker, [](const SS& s) -> const Counter& { return s.wills_published; }));

  auto& index = const_cast<Broker&>(broker).index();
  auto& retained = const_cast<Broker&>(broker).retained();
  e.single("mqttd_subscriptions", "gauge", "Subscriptions in the index.",
           static_cast<uint64_t>(index.counters().subscriptions));
  e.single("mqttd_topic_nodes", "gauge", "Nodes of the subscription trie.",
           static_cast<uint64_t>(index.counters().nodes));
  e.single("mqttd_retained_messages", "gauge", "Retained messages stored.",
           static_cast<uint64_t>(retained.counters().messages));

  ProcessStats p = read_process_stats();
  e.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
  e.sample("process_cpu_seconds_total", "", p.cpu_seconds);
  e.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.rss_bytes);
  e.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.vsize_bytes);
  e.family("process_start_time_seconds", "gauge", "Start time of the process since the epoch, in seconds.");
  e.sample("process_start_time_seconds", "", p.start_time);
  return e.take();
}

HttpServer::Responder make_http_responder(Engine& engine, const Broker& broker) {
  return [&engine, &broker](std::string_view path) {
    HttpResponse r;
    if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = render_metrics(engine, broker);
    } else if (path == "/healthz") {
      r.body = "ok\n";
    } else if (path == "/readyz") {
      if (engine.ready()) {
        r.body = "ready\n";
      } else {
        r.status = 503;
        r.body = "not ready\n";
      }
    } else {
      r.status = 404;
      r.body = "not found: try /metrics, /healthz or /readyz\n";
    }
    return r;
  };
}

}  // namespace mqttd

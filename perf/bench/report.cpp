#include "report.h"

#include <cinttypes>

namespace mqttd::bench {
namespace {

std::string si(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4)
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string duration_ns(uint64_t ns) {
  char buf[32];
  if (ns >= 1'000'000'000)
    std::snprintf(buf, sizeof buf, "%.2fs", ns / 1e9);
  else if (ns >= 1'000'000)
    std::snprintf(buf, sizeof buf, "%.2fms", ns / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0fus", ns / 1e3);
  return buf;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

}  // namespace

void print_progress(const BenchConfig& cfg, const ProgressSample& s, FILE* out) {
  const Totals& t = s.now;
  std::fprintf(out, "[%5.0fs %-7s] conn %" PRIu64 "/%u", s.elapsed_s, s.phase, t.connected,
               cfg.total_clients());
  if (t.connecting) std::fprintf(out, " (+%" PRIu64 ")", t.connecting);
  if (cfg.mode != Mode::kConn) {
    std::fprintf(out, " | out %s/s in %s/s", si(s.out_rate).c_str(), si(s.in_rate).c_str());
    if (s.latency.count())
      std::fprintf(out, " | lat p50 %s p99 %s p99.9 %s",
                   duration_ns(s.latency.quantile(0.5)).c_str(),
                   duration_ns(s.latency.quantile(0.99)).c_str(),
                   duration_ns(s.latency.quantile(0.999)).c_str());
  }
  std::fprintf(out, " | err %" PRIu64 " | cpu %.0f%%\n", t.errors(), s.cpu_percent);
  std::fflush(out);
}

void print_table(const Summary& s, FILE* out) {
  const BenchConfig& cfg = *s.cfg;
  const Totals& t = s.totals;
  std::fprintf(out, "\nmqttd-bench %s: %u clients on %u rings, MQTT %s, QoS %d, %u-byte payload\n",
               mode_name(cfg.mode), cfg.total_clients(), s.rings,
               cfg.mqtt_version == 5 ? "5.0" : "3.1.1", cfg.qos, cfg.payload);
  std::fprintf(out, "  %-22s %" PRIu64 " connected, %" PRIu64 " ready, %.2fs to connect\n",
               "connections", t.connected, t.ready, s.connect_s);
  std::fprintf(out, "  %-22s %" PRIu64 " connect, %" PRIu64 " disconnected, %" PRIu64 " protocol\n",
               "errors", t.connect_errors, t.disconnects, t.protocol_errors);
  if (cfg.mode != Mode::kConn) {
    std::fprintf(out, "  %-22s %" PRIu64 " (%s/s over %.2fs)\n", "published", t.pub_sent,
                 si(s.out_rate).c_str(), s.run_s);
    if (cfg.qos > 0) std::fprintf(out, "  %-22s %" PRIu64 "\n", "acknowledged", t.pub_acked);
    std::fprintf(out, "  %-22s %" PRIu64 " (%s/s during the run, %.2fs drain)\n", "received",
                 t.msgs_in, si(s.in_rate).c_str(), s.drain_s);
    std::fprintf(out,
                 "  %-22s %" PRId64 "%s, %" PRIu64 " duplicated, %" PRIu64 " reordered (%" PRIu64
                 " streams)\n",
                 "lost", s.lost, s.loss_exact ? "" : " (gaps seen)", t.duplicates, t.reordered,
                 s.streams);
    if (s.latency.count())
      std::fprintf(out, "  %-22s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%" PRIu64 " samples)\n",
                   "latency", duration_ns(s.latency.quantile(0.5)).c_str(),
                   duration_ns(s.latency.quantile(0.9)).c_str(),
                   duration_ns(s.latency.quantile(0.99)).c_str(),
                   duration_ns(s.latency.quantile(0.999)).c_str(),
                   duration_ns(s.latency.max()).c_str(), s.latency.count());
  }
  std::fprintf(out,
               "  %-22s %.2f CPU-s in the run window (%.0f%% of a core), %.2f total, %" PRIu64
               " MiB RSS\n",
               "mqttd-bench itself", s.cpu_s, s.cpu_percent, s.total_cpu_s, s.max_rss_kib / 1024);
  if (!s.first_error.empty())
    std::fprintf(out, "  %-22s %s\n", "first error", s.first_error.c_str());
}

bool write_json(const Summary& s, const std::string& path) {
  FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), "w");
  if (!f) return false;
  const BenchConfig& cfg = *s.cfg;
  const Totals& t = s.totals;
  const Histogram& h = s.latency;
  auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  std::fprintf(f, "{\n");
  std::fprintf(f, "  \"mode\": \"%s\", \"clients\": %u, \"publishers\": %u, \"subscribers\": %u,\n",
               mode_name(cfg.mode), cfg.total_clients(),
               cfg.mode == Mode::kConn ? 0 : cfg.publishers,
               cfg.mode == Mode::kConn ? 0 : cfg.subscribers);
  std::fprintf(f, "  \"mqtt\": %d, \"qos\": %d, \"payload\": %u, \"rate\": %.3f, \"rings\": %u,\n",
               cfg.mqtt_version == 5 ? 5 : 4, cfg.qos, cfg.payload, cfg.rate, s.rings);
  std::fprintf(f, "  \"connected\": %" PRIu64 ", \"ready\": %" PRIu64 ", \"connect_s\": %.3f,\n",
               t.connected, t.ready, s.connect_s);
  std::fprintf(f,
               "  \"connect_errors\": %" PRIu64 ", \"disconnects\": %" PRIu64
               ", \"protocol_errors\": %" PRIu64 ",\n",
               t.connect_errors, t.disconnects, t.protocol_errors);
  std::fprintf(f, "  \"run_s\": %.3f, \"drain_s\": %.3f,\n", s.run_s, s.drain_s);
  std::fprintf(f,
               "  \"published\": %" PRIu64 ", \"acked\": %" PRIu64 ", \"received\": %" PRIu64
               ", \"unique\": %" PRIu64 ",\n",
               t.pub_sent, t.pub_acked, t.msgs_in, t.unique_in);
  std::fprintf(f,
               "  \"sent_in_run\": %" PRIu64 ", \"received_in_run\": %" PRIu64
               ", \"out_rate\": %.1f, \"in_rate\": %.1f,\n",
               s.sent_in_run, s.received_in_run, s.out_rate, s.in_rate);
  std::fprintf(f,
               "  \"loss_exact\": %s, \"expected\": %" PRIu64 ", \"lost\": %" PRId64
               ", \"duplicates\": %" PRIu64 ", \"reordered\": %" PRIu64 ", \"streams\": %" PRIu64
               ", \"foreign\": %" PRIu64 ",\n",
               s.loss_exact ? "true" : "false", s.expected, s.lost, t.duplicates, t.reordered,
               s.streams, t.foreign_in);
  std::fprintf(f,
               "  \"latency_us\": {\"count\": %" PRIu64
               ", \"mean\": %.1f, \"p50\": %.1f, \"p90\": %.1f, "
               "\"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f},\n",
               h.count(), h.mean() / 1e3, us(h.quantile(0.5)), us(h.quantile(0.9)),
               us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.max()));
  std::fprintf(f,
               "  \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64 ", \"pings\": %" PRIu64 ",\n",
               t.bytes_in, t.bytes_out, t.pings);
  std::fprintf(f,
               "  \"tool_cpu_s\": %.3f, \"tool_cpu_percent\": %.1f, \"tool_total_cpu_s\": %.3f, "
               "\"tool_max_rss_kib\": %" PRIu64 ",\n",
               s.cpu_s, s.cpu_percent, s.total_cpu_s, s.max_rss_kib);
  std::fprintf(f, "  \"first_error\": \"%s\"\n}\n", json_escape(s.first_error).c_str());
  if (f != stdout) return std::fclose(f) == 0;
  std::fflush(f);
  return true;
}

}  // namespace mqttd::bench

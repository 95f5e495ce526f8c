// mqttd-bench: an io_uring MQTT load generator. The main thread parses the command line,
// starts one RingWorker thread per ring, moves the run through its phases (connect, run,
// drain, stop), prints a progress line once a second and the summary at the end.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "cli.h"
#include "client.h"
#include "report.h"
#include "ring_loop.h"

namespace mqttd::bench {
namespace {

std::atomic<int> interrupted{0};  // SIGINT/SIGTERM count; the handler only stores

extern "C" void on_signal(int) { interrupted.fetch_add(1, std::memory_order_relaxed); }

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

uint32_t choose_rings(const BenchConfig& cfg) {
  if (cfg.threads) return cfg.threads;
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  // Each ring's table of direct descriptors may hold at most RLIMIT_NOFILE entries.
  const uint64_t per_ring = nofile.rlim_cur > 256 ? nofile.rlim_cur - 64 : 192;
  const uint64_t needed = (cfg.total_clients() + per_ring - 1) / per_ring;
  const uint64_t floor = std::min<uint64_t>(2, cfg.total_clients());
  return static_cast<uint32_t>(std::max<uint64_t>(std::max<uint64_t>(needed, floor), 1));
}

Totals sum(const std::vector<std::unique_ptr<RingWorker>>& rings) {
  Totals t;
  for (const auto& r : rings) {
    const RingStats& s = r->stats();
    t.connecting += s.connecting.get();
    t.connected += s.connected.get();
    t.ready += s.ready.get();
    t.connects += s.connects.get();
    t.connect_errors += s.connect_errors.get();
    t.disconnects += s.disconnects.get();
    t.protocol_errors += s.protocol_errors.get();
    t.pub_sent += s.pub_sent.get();
    t.pub_acked += s.pub_acked.get();
    t.pubs_done += s.pubs_done.get();
    t.expected_in += s.expected_in.get();
    t.msgs_in += s.msgs_in.get();
    t.unique_in += s.unique_in.get();
    t.duplicates += s.duplicates.get();
    t.reordered += s.reordered.get();
    t.foreign_in += s.foreign_in.get();
    t.bytes_in += s.bytes_in.get();
    t.bytes_out += s.bytes_out.get();
    t.pings += s.pings.get();
  }
  return t;
}

// Subscribers whose filter matches each publisher's topic; empty when topics are random
// or the product is too large to compute (loss is then estimated from sequence gaps).
std::vector<uint32_t> compute_fanout(const BenchConfig& cfg) {
  std::vector<uint32_t> fanout;
  if (cfg.mode != Mode::kPubSub || cfg.topic.find("%r") != std::string::npos ||
      cfg.sub_topic.find("%r") != std::string::npos ||
      uint64_t{cfg.publishers} * cfg.subscribers > 50'000'000)
    return fanout;
  std::vector<std::string> filters;
  for (uint32_t s = 0; s < cfg.subscribers; ++s)
    filters.push_back(expand_pattern(cfg.sub_topic, s, cfg.run_id));
  fanout.assign(cfg.publishers, 0);
  for (uint32_t p = 0; p < cfg.publishers; ++p) {
    const std::string topic = expand_pattern(cfg.topic, p, cfg.run_id);
    for (const auto& f : filters) fanout[p] += topic_matches(f, topic);
  }
  return fanout;
}

// Snapshot of every ring's latency counts, to diff per interval.
struct LatencyCounts {
  std::vector<std::array<uint64_t, kBucketCount>> per_ring;
};

Histogram interval_latency(const std::vector<std::unique_ptr<RingWorker>>& rings,
                           LatencyCounts& prev) {
  Histogram h;
  prev.per_ring.resize(rings.size());
  std::array<uint64_t, kBucketCount> now{};
  for (size_t r = 0; r < rings.size(); ++r) {
    rings[r]->stats().latency.counts(now);
    for (int i = 0; i < kBucketCount; ++i) {
      if (now[i] != prev.per_ring[r][i]) h.add_bucket(i, now[i] - prev.per_ring[r][i]);
    }
    prev.per_ring[r] = now;
  }
  return h;
}

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::connect:
      return "connect";
    case Phase::run:
      return "run";
    case Phase::drain:
      return "drain";
    case Phase::stop:
      return "stop";
  }
  return "?";
}

int run(const BenchConfig& cfg) {
  RunControl control;
  control.fanout = compute_fanout(cfg);
  const uint32_t ring_count = choose_rings(cfg);
  std::vector<std::unique_ptr<RingWorker>> rings;
  for (uint32_t i = 0; i < ring_count; ++i)
    rings.push_back(std::make_unique<RingWorker>(cfg, control, i, ring_count));

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  const uint64_t start_ns = mono_now_ns();
  const double start_cpu = cpu_seconds();
  std::vector<std::thread> threads;
  for (auto& r : rings) threads.emplace_back([w = r.get()] { w->run(); });

  const uint32_t total = cfg.total_clients();
  // Give up waiting for stragglers after this long (they keep retrying meanwhile).
  const double connect_budget_s =
      30 + (cfg.connect_rate > 0 ? 1.5 * total / cfg.connect_rate : total / 20000.0);
  Phase phase = Phase::connect;
  uint64_t phase_start_ns = start_ns, run_start_ns = 0, run_end_ns = 0, drain_end_ns = 0;
  double run_cpu0 = start_cpu, run_cpu1 = start_cpu;
  Totals at_run_start, at_run_end;
  Summary summary;
  summary.cfg = &cfg;
  summary.rings = ring_count;
  LatencyCounts latency_prev;
  Totals last;
  uint64_t last_progress_ns = start_ns;
  double last_cpu = start_cpu;
  uint64_t stall_since_ns = start_ns;
  uint64_t last_ready = 0;
  bool failed = false;

  auto set_phase = [&](Phase p, uint64_t now) {
    if (p == Phase::run) {
      control.run_start_ns = now;
      run_start_ns = now;
      at_run_start = sum(rings);
      run_cpu0 = cpu_seconds();
      summary.connect_s = static_cast<double>(now - start_ns) / 1e9;
    }
    if (phase == Phase::run) {
      run_end_ns = now;
      at_run_end = sum(rings);
      run_cpu1 = cpu_seconds();
    }
    if (phase == Phase::drain) drain_end_ns = now;
    phase = p;
    phase_start_ns = now;
    control.phase.store(p, std::memory_order_release);
    std::fprintf(stderr, "mqttd-bench: phase %s\n", phase_name(p));
    std::fflush(stderr);
  };

  while (phase != Phase::stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t now = mono_now_ns();
    const double in_phase_s = static_cast<double>(now - phase_start_ns) / 1e9;
    for (const auto& r : rings) failed |= r->failed();
    if (failed) break;
    const Totals t = sum(rings);
    if (t.ready != last_ready) {
      last_ready = t.ready;
      stall_since_ns = now;
    }

    if (interrupted.load(std::memory_order_relaxed)) {
      if (phase == Phase::run && cfg.mode == Mode::kPubSub && interrupted.load() == 1) {
        set_phase(Phase::drain, now);
        interrupted.store(2);  // the next ^C stops at once
      } else {
        set_phase(Phase::stop, now);
      }
    } else if (phase == Phase::connect) {
      const bool all = t.ready >= total;
      const bool stalled =
          static_cast<double>(now - stall_since_ns) / 1e9 > 10 && t.connecting == 0;
      if (all || in_phase_s > connect_budget_s || stalled) {
        if (!all)
          std::fprintf(stderr, "mqttd-bench: only %llu of %u clients are ready; going on\n",
                       static_cast<unsigned long long>(t.ready), total);
        set_phase(Phase::run, now);
      }
    } else if (phase == Phase::run) {
      bool over = cfg.duration > 0 && in_phase_s >= cfg.duration;
      if (cfg.count) {
        if (cfg.mode == Mode::kSub)
          over = t.unique_in >= cfg.count;
        else if (cfg.mode != Mode::kConn)
          over = t.pubs_done >= cfg.publishers;
      }
      if (over)
        set_phase(cfg.mode == Mode::kConn || cfg.mode == Mode::kSub ? Phase::stop : Phase::drain,
                  now);
    } else if (phase == Phase::drain) {
      const bool acked = cfg.qos == 0 || t.pub_acked >= t.pub_sent;
      const bool received =
          cfg.mode != Mode::kPubSub || control.fanout.empty() || t.unique_in >= t.expected_in;
      if ((acked && received) || in_phase_s >= cfg.drain) set_phase(Phase::stop, now);
    }

    if (now - last_progress_ns >= 1'000'000'000 && phase != Phase::stop) {
      const double dt = static_cast<double>(now - last_progress_ns) / 1e9;
      const double cpu = cpu_seconds();
      ProgressSample s;
      s.elapsed_s = static_cast<double>(now - start_ns) / 1e9;
      s.phase = phase_name(phase);
      s.now = t;
      s.out_rate = static_cast<double>(t.pub_sent - last.pub_sent) / dt;
      s.in_rate = static_cast<double>(t.unique_in - last.unique_in) / dt;
      s.latency = interval_latency(rings, latency_prev);
      s.cpu_percent = 100 * (cpu - last_cpu) / dt;
      if (!cfg.quiet) print_progress(cfg, s, stderr);
      last = t;
      last_cpu = cpu;
      last_progress_ns = now;
    }
  }
  if (phase != Phase::stop) set_phase(Phase::stop, mono_now_ns());
  for (auto& th : threads) th.join();

  for (const auto& r : rings) {
    if (!r->error().empty()) {
      std::fprintf(stderr, "mqttd-bench: %s\n", r->error().c_str());
      failed = true;
    }
  }
  if (failed) return 1;

  const uint64_t end_ns = mono_now_ns();
  if (!run_start_ns) run_start_ns = end_ns;
  if (!run_end_ns) {
    run_end_ns = end_ns;
    at_run_end = sum(rings);
    run_cpu1 = cpu_seconds();
  }
  if (!drain_end_ns) drain_end_ns = run_end_ns;
  summary.totals = sum(rings);
  // The connection gauges as they stood before the stop phase closed everything.
  summary.totals.connected = at_run_end.connected;
  summary.totals.ready = at_run_end.ready;
  summary.run_s = static_cast<double>(run_end_ns - run_start_ns) / 1e9;
  summary.drain_s = static_cast<double>(drain_end_ns - run_end_ns) / 1e9;
  summary.sent_in_run = at_run_end.pub_sent - at_run_start.pub_sent;
  summary.received_in_run = at_run_end.unique_in - at_run_start.unique_in;
  if (summary.run_s > 0) {
    summary.out_rate = summary.sent_in_run / summary.run_s;
    summary.in_rate = summary.received_in_run / summary.run_s;
    summary.cpu_percent = 100 * (run_cpu1 - run_cpu0) / summary.run_s;
  }
  summary.cpu_s = run_cpu1 - run_cpu0;
  summary.total_cpu_s = cpu_seconds() - start_cpu;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  summary.max_rss_kib = static_cast<uint64_t>(ru.ru_maxrss);
  for (const auto& r : rings) {
    r->stats().latency.snapshot_into(summary.latency);
    if (summary.first_error.empty()) summary.first_error = r->first_socket_error();
  }
  uint64_t gaps = 0;
  for (const auto& r : rings)
    for (const Client& c : r->clients())
      if (const StreamTracker* tr = c.tracker()) {
        gaps += tr->gaps();
        summary.streams += tr->streams();
      }
  if (cfg.mode == Mode::kPubSub && !control.fanout.empty()) {
    summary.loss_exact = true;
    summary.expected = summary.totals.expected_in;
    summary.lost =
        static_cast<int64_t>(summary.expected) - static_cast<int64_t>(summary.totals.unique_in);
  } else {
    summary.expected = summary.totals.unique_in + gaps;
    summary.lost = static_cast<int64_t>(gaps);
  }
  print_table(summary, cfg.json_path == "-" ? stderr : stdout);
  if (!cfg.json_path.empty() && !write_json(summary, cfg.json_path)) {
    std::fprintf(stderr, "mqttd-bench: cannot write %s: %s\n", cfg.json_path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace mqttd::bench

int main(int argc, char** argv) {
  const auto cfg = mqttd::bench::parse_command_line(argc, argv);
  if (!cfg) return 2;
  return mqttd::bench::run(*cfg);
}

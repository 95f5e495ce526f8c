#include "app/server.h"

#include <time.h>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <memory>

#include "common/log.h"
#include "app/metrics.h"
#include "mqttd_build_config.h"
#include "net/engine.h"
#include "net/listener.h"
#include "net/timer_wheel.h"
#include "net/worker.h"
#include "session/broker.h"
#include "session/handler.h"

namespace mqttd {
namespace {

// Slots each ring keeps beyond its cap (refusals, hand-offs); see net/worker.cpp.
constexpr uint32_t kReserveSlots = 32;

// The connections one worker may hold: the configured cap, lowered to what RLIMIT_NOFILE
// allows for one ring's registered file table.
uint32_t effective_cap(const Config& config, uint64_t& nofile) {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  nofile = rl.rlim_cur;
  uint64_t by_limit = nofile > kReserveSlots ? nofile - kReserveSlots : 0;
  return static_cast<uint32_t>(std::min<uint64_t>(config.max_connections_per_worker, by_limit));
}

// Runs on each worker: applies the live keys of the reloaded configuration to the
// worker's own copy, then drops this worker's reference to it.
void apply_on_worker(Worker& w, void* arg) {
  auto* next = static_cast<std::shared_ptr<const Config>*>(arg);
  w.apply_live_config(**next);
  delete next;
}

// SIGHUP: re-reads the file the configuration came from and applies what can change
// while running (log level, limits, timeouts: see apply_live_keys) on every worker
// between two of its turns; keys that need a restart are named in the log. A file that
// does not parse leaves the running configuration as it was.
void reload(Config& running, Engine& engine) {
  if (running.source_path.empty()) {
    LOG_WARN("SIGHUP: mqttd was started without --config; nothing to reload");
    return;
  }
  ConfigResult r = load_config_file(running.source_path);
  if (!r.ok()) {
    LOG_ERROR("SIGHUP: keeping the running configuration: %s", r.error.c_str());
    return;
  }
  if (r.config.log_level != log::Threshold::get()) {
    log::Threshold::set(r.config.log_level);
    LOG_INFO("SIGHUP: log_level is now %s", log::level_name(r.config.log_level));
  }
  for (const std::string& key : restart_only_changes(running, r.config)) {
    LOG_WARN("SIGHUP: '%s' changed in %s but takes effect only after a restart", key.c_str(),
             running.source_path.c_str());
  }
  apply_live_keys(running, r.config);
  auto next = std::make_shared<const Config>(running);
  for (int i = 0; i < engine.workers(); ++i) {
    engine.run_on(i, apply_on_worker, new std::shared_ptr<const Config>(next));
  }
  LOG_INFO("SIGHUP: configuration reloaded from %s", running.source_path.c_str());
}

}  // namespace

int run_server(const Config& config, const UringSupport& uring) {
  log::Threshold::set(config.log_level);
  for (const ListenerConfig& l : config.listeners) {
    std::string error = probe_listener(l);
    if (!error.empty()) {
      std::fprintf(stderr, "mqttd: %s\n", error.c_str());
      return 1;
    }
  }
  uint64_t nofile = 0;
  uint32_t cap = effective_cap(config, nofile);
  if (cap == 0) {
    std::fprintf(stderr,
                 "mqttd: RLIMIT_NOFILE (%llu) leaves no room for connections; raise it (ulimit -n, "
                 "systemd LimitNOFILE)\n",
                 static_cast<unsigned long long>(nofile));
    return 1;
  }
  uint32_t workers = effective_workers(config);

  // Workers inherit this mask: signals are taken by this thread alone, with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Broker broker(config, workers);
  Engine engine(config, workers, cap, [&broker](Worker& w) -> std::unique_ptr<ConnectionHandler> {
    return std::make_unique<SessionHandler>(w, broker);
  });
  broker.set_engine(&engine);
  if (config.http.enabled) {
    std::string error = probe_listener(ListenerConfig{config.http.bind, config.http.port});
    if (!error.empty()) {
      std::fprintf(stderr, "mqttd: [http] %s\n", error.c_str());
      return 1;
    }
    engine.set_http_responder(make_http_responder(engine, broker));
  }

  LOG_INFO("mqttd %s starting: %u workers; %s", MQTTD_VERSION, workers, uring.describe().c_str());
  if (cap < config.max_connections_per_worker) {
    LOG_WARN("max_connections_per_worker lowered from %u to %u: RLIMIT_NOFILE is %llu and each "
             "ring's descriptor table is limited by it; raise it (systemd LimitNOFILE) for more",
             config.max_connections_per_worker, cap, static_cast<unsigned long long>(nofile));
  }
  std::string error = engine.start();
  if (!error.empty()) {
    std::fprintf(stderr, "mqttd: %s\n", error.c_str());
    return 1;
  }
  for (const ListenerConfig& l : config.listeners) {
    LOG_INFO("listening on %s:%u", l.bind.c_str(), l.port);
  }
  if (config.http.enabled) {
    LOG_INFO("http endpoint on %s:%u (/metrics, /healthz, /readyz)", config.http.bind.c_str(),
             config.http.port);
  }
  LOG_INFO("ready: up to %u connections per worker, %llu in total", cap,
           static_cast<unsigned long long>(cap) * workers);

  Config live = config;  // what SIGHUP compares against and updates
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reload(live, engine);
      continue;
    }
    LOG_INFO("%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    break;
  }
  engine.set_draining();  // /readyz answers 503 from now on
  if (config.shutdown_grace > 0) {
    LOG_INFO("not ready; disconnecting clients in %u s (shutdown_grace)", config.shutdown_grace);
    // A second SIGINT/SIGTERM ends the grace period at once. sigtimedwait also returns
    // early with EINTR (io_uring task work on this thread's control ring interrupts
    // it), so the wait runs to a deadline.
    const uint64_t deadline = monotonic_ms() + uint64_t{config.shutdown_grace} * 1000;
    for (uint64_t now = monotonic_ms(); now < deadline; now = monotonic_ms()) {
      uint64_t left = deadline - now;
      timespec ts{static_cast<time_t>(left / 1000), static_cast<long>(left % 1000) * 1000000};
      siginfo_t info{};
      int sig = sigtimedwait(&signals, &info, &ts);
      if (sig == SIGHUP) {
        reload(live, engine);
      } else if (sig == SIGINT || sig == SIGTERM) {
        break;
      }
    }
  }
  engine.request_stop();
  engine.join();
  LOG_INFO("stopped");
  return 0;
}

}  // namespace mqttd

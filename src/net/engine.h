// Engine: the set of worker threads. Created by the main thread, which starts the
// workers, waits until every one is ready (or reports the first start-up failure), and
// later asks them to stop. The only state shared between workers lives in WorkerShared
// (inbox, ring fd for wake-ups, published load) and in what the handlers share
// (subscription index, client registry).
#pragma once

#include <liburing.h>

#include <atomic>
#include <functional>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "http/http_server.h"
#include "net/handler.h"
#include "net/inbox.h"
#include "net/stats.h"

namespace mqttd {

class Worker;

// What other threads may touch of worker i.
struct alignas(64) WorkerShared {
  explicit WorkerShared(int workers) : inbox(workers) {}
  Inbox inbox;
  // Written once by the worker during setup; every worker waits in the start-up handshake
  // (start_mu_) until all have set up, which publishes it to the senders of MSG_RING
  // wake-ups and descriptor hand-offs.
  int ring_fd = -1;
  // relaxed: an estimate for choosing the least-loaded worker; nothing else hangs on it.
  alignas(64) std::atomic<uint32_t> load{0};
  // relaxed: a gauge for /readyz.
  std::atomic<bool> accepting{false};
  WorkerStats stats;
};

class Engine {
 public:
  using HandlerFactory = std::function<std::unique_ptr<ConnectionHandler>(Worker&)>;

  Engine(const Config& config, uint32_t workers, uint32_t cap_per_worker, HandlerFactory factory);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the workers and waits until all are accepting. Returns "" or the first
  // worker's one-sentence failure (then every started worker has been stopped).
  std::string start();
  // Asks every worker to shut down (thread-safe, idempotent).
  void request_stop();
  // Waits for the workers to finish.
  void join();
  // Runs fn(worker, arg) on worker `target`'s thread (control plane; thread-safe).
  void run_on(int target, void (*fn)(Worker&, void*), void* arg);

  int workers() const { return static_cast<int>(shared_.size()); }
  WorkerShared& shared(int i) { return *shared_[static_cast<size_t>(i)]; }
  const Config& config() const { return config_; }
  uint32_t cap_per_worker() const { return cap_; }
  // The least-loaded worker other than `self` with load below the cap, or -1.
  int least_loaded(int self) const;
  // Every worker accepts and no shutdown has begun (/readyz).
  bool ready() const;
  // Shutdown is coming: report not ready from now on (thread-safe).
  void set_draining() { draining_.store(true, std::memory_order_relaxed); }

  // What the HTTP endpoint answers (set before start(); served by worker 0).
  void set_http_responder(HttpServer::Responder r) { http_responder_ = std::move(r); }
  const HttpServer::Responder& http_responder() const { return http_responder_; }

 private:
  friend class Worker;
  void thread_main(int id);
  void wake_from_foreign(int target);

  const Config& config_;
  uint32_t cap_;
  HandlerFactory factory_;
  std::vector<std::unique_ptr<WorkerShared>> shared_;
  std::vector<std::thread> threads_;

  std::mutex start_mu_;  // guards the start-up handshake below
  int started_ = 0;
  std::string start_error_;
  std::condition_variable start_cv_;

  std::mutex control_mu_;  // guards control_ring_ (used by non-worker threads)
  io_uring control_ring_{};
  bool control_ring_ok_ = false;
  std::atomic<bool> stop_requested_{false};
  // relaxed: a gauge for /readyz; nothing else is published with it.
  std::atomic<bool> draining_{false};
  HttpServer::Responder http_responder_;
};

}  // namespace mqttd

#include "net/engine.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cstring>

#include "common/log.h"
#include "net/tag.h"
#include "net/worker.h"

namespace mqttd {

Engine::Engine(const Config& config, uint32_t workers, uint32_t cap_per_worker,
               HandlerFactory factory)
    : config_(config), cap_(cap_per_worker), factory_(std::move(factory)) {
  shared_.reserve(workers);
  for (uint32_t i = 0; i < workers; ++i) {
    shared_.push_back(std::make_unique<WorkerShared>(static_cast<int>(workers)));
  }
  // A small ring for threads that are not workers (signals, HTTP) to send wake-ups.
  control_ring_ok_ = io_uring_queue_init(8, &control_ring_, 0) == 0;
}

Engine::~Engine() {
  request_stop();
  join();
  if (control_ring_ok_) io_uring_queue_exit(&control_ring_);
}

void Engine::thread_main(int id) {
  log::set_thread_worker_id(id);
  char name[16];
  std::snprintf(name, sizeof name, "mqttd-w%d", id);
  pthread_setname_np(pthread_self(), name);
  if (config_.pin_workers) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<int>(id % (cpus > 0 ? cpus : 1)), &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) {
      LOG_WARN("could not pin to CPU %ld", id % (cpus > 0 ? cpus : 1));
    }
  }

  auto worker = std::make_unique<Worker>(id, *this);
  std::string error = worker->setup();
  if (error.empty()) worker->set_handler(factory_(*worker));
  {
    std::unique_lock<std::mutex> lock(start_mu_);
    if (!error.empty() && start_error_.empty()) start_error_ = error;
    ++started_;
    start_cv_.notify_all();
    // No worker runs before every worker has set up: hand-offs and wake-ups read the
    // other workers' ring_fd, which this handshake publishes (it was a data race).
    start_cv_.wait(lock, [this] { return started_ == workers(); });
  }
  if (!error.empty()) return;
  worker->run();
  worker.reset();  // connections, ring and handler go on this thread
}

std::string Engine::start() {
  for (int i = 0; i < workers(); ++i) {
    threads_.emplace_back([this, i] { thread_main(i); });
  }
  std::unique_lock<std::mutex> lock(start_mu_);
  start_cv_.wait(lock, [this] { return started_ == workers(); });
  if (!start_error_.empty()) {
    std::string error = start_error_;
    lock.unlock();
    request_stop();
    join();
    return error;
  }
  return "";
}

void Engine::wake_from_foreign(int target) {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (!control_ring_ok_ || shared(target).ring_fd < 0) return;
  io_uring_sqe* sqe = io_uring_get_sqe(&control_ring_);
  if (!sqe) return;
  io_uring_prep_msg_ring(sqe, shared(target).ring_fd, 0, Tag{Op::kWake, 0, 0}.pack(), 0);
  io_uring_submit(&control_ring_);
  io_uring_cqe* cqe;
  if (io_uring_wait_cqe(&control_ring_, &cqe) == 0) io_uring_cqe_seen(&control_ring_, cqe);
}

void Engine::run_on(int target, void (*fn)(Worker&, void*), void* arg) {
  InboxItem item{};
  item.kind = InboxKind::kTask;
  item.fn = fn;
  item.ptr = arg;
  if (shared(target).inbox.post_foreign(item)) wake_from_foreign(target);
}

void Engine::request_stop() {
  if (stop_requested_.exchange(true)) return;
  for (int i = 0; i < workers(); ++i) {
    InboxItem item{};
    item.kind = InboxKind::kStop;
    if (shared(i).inbox.post_foreign(item)) wake_from_foreign(i);
  }
}

void Engine::join() {
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

int Engine::least_loaded(int self) const {
  int best = -1;
  uint32_t best_load = cap_;
  for (int i = 0; i < workers(); ++i) {
    if (i == self) continue;
    uint32_t load = shared_[static_cast<size_t>(i)]->load.load(std::memory_order_relaxed);
    if (load < best_load) {
      best_load = load;
      best = i;
    }
  }
  return best;
}

bool Engine::ready() const {
  if (stop_requested_.load(std::memory_order_relaxed)) return false;
  if (draining_.load(std::memory_order_relaxed)) return false;
  for (const auto& s : shared_) {
    if (!s->accepting.load(std::memory_order_relaxed)) return false;
  }
  return true;
}

}  // namespace mqttd

// Broker: what all workers share for MQTT: the subscription index, the retained store,
// the client registry, the reclamation domain they use, and per-worker message counters.
// Created by the main thread before the workers start and destroyed after they stop.
// The members are thread-safe as their own headers state; the Broker adds no locking.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "net/stats.h"
#include "routing/qsbr.h"
#include "routing/retained_store.h"
#include "routing/topic_index.h"
#include "session/registry.h"

namespace mqttd {

class Engine;

// Per-worker MQTT counters: single writer (the worker), any reader.
struct alignas(64) SessionStats {
  Counter received[3];      // PUBLISH received, by QoS
  Counter sent[3];          // PUBLISH sent, by QoS
  Counter bytes_received;   // application payload bytes received
  Counter bytes_sent;       // application payload bytes sent
  Counter dropped_queue;    // QoS 1/2 queue full (offline or window); the oldest goes
                            // (QoS 0 over max_queued_bytes: WorkerStats::dropped_qos0)
  Counter dropped_expired;  // message expiry passed before delivery
  Counter dropped_too_large;  // bigger than the client's Maximum Packet Size
  Counter sessions;         // gauge: sessions on this worker
  Counter connected;        // gauge: sessions with a connection
  Counter wills_published;
  Counter takeovers;
  Counter connects;         // CONNECTs accepted
  Counter connects_refused; // CONNECTs refused (any reason)
};

class Broker {
 public:
  Broker(const Config& config, uint32_t workers);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  const Config& config() const { return config_; }
  uint32_t workers() const { return workers_; }
  Qsbr& qsbr() { return qsbr_; }
  TopicIndex& index() { return index_; }
  RetainedStore& retained() { return retained_; }
  ClientRegistry& registry() { return registry_; }
  SessionStats& stats(int worker) { return stats_[static_cast<size_t>(worker)]; }
  const SessionStats& stats(int worker) const { return stats_[static_cast<size_t>(worker)]; }

  // Set once by the main thread before the workers start.
  void set_engine(Engine* engine) { engine_ = engine; }
  Engine& engine() const { return *engine_; }
  uint64_t start_ms() const { return start_ms_; }  // CLOCK_MONOTONIC
  uint64_t start_unix() const { return start_unix_; }

 private:
  const Config& config_;
  uint32_t workers_;
  Qsbr qsbr_;
  TopicIndex index_;
  RetainedStore retained_;
  ClientRegistry registry_;
  std::unique_ptr<SessionStats[]> stats_;
  Engine* engine_ = nullptr;
  uint64_t start_ms_;
  uint64_t start_unix_;
};

}  // namespace mqttd

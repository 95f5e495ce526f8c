// One benchmark client: its MQTT state machine (CONNECT, SUBSCRIBE, publishing with QoS
// 0/1/2 flows, receiving and checking what arrives) over byte buffers. The ring loop
// (ring_loop.h) moves the bytes; this file never touches io_uring.
// Owned by one ring thread; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cli.h"
#include "mqttd/codec.h"
#include "stats.h"

namespace mqttd::bench {

enum class Role : uint8_t { idle, publisher, subscriber };

enum class ClientState : uint8_t {
  closed,      // no socket (never opened, failed, or ended); may be retried
  connecting,  // socket + connect submitted
  awaiting_connack,
  subscribing,  // SUBSCRIBE sent, awaiting SUBACK
  ready,        // set up: holding (idle), publishing or receiving
  closing,      // close submitted
};

// What the clients of one ring share: the constant configuration, the ring's counters, a
// scratch packet for decoding, and the clock of the current loop turn.
struct ClientEnv {
  const BenchConfig& cfg;
  RingStats& stats;
  // Subscribers whose filters match each publisher's topic (pubsub mode; empty otherwise).
  const std::vector<uint32_t>& fanout;
  ProtocolVersion version;
  uint64_t now_ns = 0;
  Publish scratch;  // reused by every decode_publish (keeps its vectors' capacity)
};

// Outcome of handling received bytes: keep going, or end the connection (counted).
enum class ClientStatus : uint8_t { ok, close };

class Client {
 public:
  Client(uint32_t global_index, Role role, uint32_t role_index);

  // Queues CONNECT (the socket has just connected).
  void start_session(ClientEnv& env);
  // Frames and handles bytes from the broker.
  ClientStatus on_bytes(ClientEnv& env, std::span<const uint8_t> bytes);
  // Publisher: queues the publishes due by `due` (sequence count), within the inflight
  // window and the output high-water mark. Returns true if it queued any.
  bool fill(ClientEnv& env, uint64_t due);
  // Whether this publisher has sent (and had acknowledged) everything --count asks.
  bool finished(const BenchConfig& cfg) const;
  void queue_ping();
  void queue_disconnect(ProtocolVersion v);
  // The socket is gone: forget protocol state (output, partial frames, inflight).
  void reset_connection();

  uint32_t global_index() const { return global_; }
  Role role() const { return role_; }
  uint32_t role_index() const { return role_index_; }
  uint64_t sent() const { return seq_; }
  const StreamTracker* tracker() const { return tracker_.get(); }

  // Connection bookkeeping, driven by the ring loop.
  ClientState state = ClientState::closed;
  uint32_t generation = 0;  // bumped whenever the slot is closed: stale completions
  bool send_in_flight = false;
  bool recv_armed = false;
  bool in_flush_list = false;
  bool done_counted = false;     // pubs_done counted for this publisher
  uint64_t last_tx_ns = 0;       // last time bytes were queued (keep-alive)
  uint64_t deadline_ns = 0;      // connecting / awaiting_connack: give up at; closed: retry at
  std::vector<uint8_t> out;      // queued, not yet handed to the kernel
  std::vector<uint8_t> sending;  // handed to the kernel by the send in flight
  uint32_t sending_offset = 0;   // bytes of `sending` already written (short writes)

 private:
  ClientStatus handle(ClientEnv& env, const Frame& frame);
  ClientStatus on_connack(ClientEnv& env, const Frame& frame);
  ClientStatus on_suback(ClientEnv& env, const Frame& frame);
  ClientStatus on_publish(ClientEnv& env, const Frame& frame);
  ClientStatus on_ack(ClientEnv& env, const Frame& frame);
  template <typename Packet>
  void append(const Packet& p, ProtocolVersion v);
  void append_publish(ClientEnv& env, uint64_t sent_ns);

  uint32_t global_;
  uint32_t role_index_;
  Role role_;
  FrameReader reader_{0};
  // Publisher.
  uint64_t seq_ = 0;       // publishes queued so far (the next sequence number)
  uint32_t inflight_ = 0;  // QoS 1/2 publishes not yet acknowledged
  uint16_t next_packet_id_ = 1;
  std::string topic_;  // expanded topic (publisher) or filter (subscriber)
  // Subscriber.
  std::unique_ptr<StreamTracker> tracker_;
};

// Expands %i (index), %m (process tag) and %r (random number) in a pattern.
std::string expand_pattern(const std::string& pattern, uint32_t index, uint32_t process_tag);

// MQTT topic matching of a topic name against a filter with + and #.
bool topic_matches(std::string_view filter, std::string_view topic);

}  // namespace mqttd::bench

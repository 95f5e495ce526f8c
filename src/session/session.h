// Session: the MQTT state of one client id, connected or not, and SessionTable, the
// sessions of one worker. A session lives on the worker that created it for its whole
// life (a reconnecting client's connection is moved to it, see docs/ARCHITECTURE.md);
// everything here is owned and touched by that worker only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/message.h"
#include "net/timer_wheel.h"
#include "routing/subscription.h"
#include "session/inflight.h"
#include "session/registry.h"

namespace mqttd {

struct Connection;

// A subscription as the session remembers it (the index holds the routing copy).
struct SubRecord {
  std::string filter;  // as subscribed, "$share/..." included
  SubscriptionOptions options;
  uint32_t id = 0;     // subscription identifier, 0 = none
};

// A message waiting for the client: offline, or its in-flight window is full.
struct Pending {
  MessageRef message;
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> ids;
};

// The parts of a session that only sessions with QoS 1/2 traffic, queues or topic aliases
// need; allocated on first use so an idle subscriber-less session stays small.
struct SessionFlows {
  // Looks a std::string key up by string_view without building a string.
  struct TopicHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  InflightQueue inflight;       // sent, not yet acknowledged; send order
  std::deque<Pending> pending;  // oldest first
  size_t pending_bytes = 0;
  PacketIdSet inbound_qos2;  // QoS 2 packet ids received, PUBREL not yet
  // Per connection (cleared when a new connection attaches):
  std::vector<std::string> in_aliases;  // topic by inbound alias (index = alias)
  // Alias by topic, towards the client.
  std::unordered_map<std::string, uint16_t, TopicHash, std::equal_to<>> out_aliases;
};

struct Session {
  uint64_t handle = 0;
  Connection* conn = nullptr;  // null while offline
  ClientId client_id;  // shared with its registry entry (session/registry.h)
  uint8_t version = 4;           // of the current / last connection
  bool request_problem_info = true;
  bool connect_expiry_zero = true;  // the CONNECT asked for Session Expiry 0 (MQTT-3.14.2-2)
  uint16_t next_packet_id = 1;
  uint16_t client_receive_max = 65535;  // the client's Receive Maximum (our send window)
  uint16_t out_alias_max = 0;            // aliases we may use towards the client
  uint32_t client_max_packet = 0;        // the client's Maximum Packet Size, 0: none
  uint32_t expiry_interval = 0;          // seconds after disconnect; 0xFFFFFFFF: never
  Timer timer;                           // will delay and session expiry while offline
  uint64_t will_at_tick = 0;             // when the will is due (while offline)
  uint64_t expire_at_tick = 0;           // when the session ends (while offline), 0: never
  MessageRef will;
  uint32_t will_delay = 0;
  std::vector<SubRecord> subs;
  std::unique_ptr<SessionFlows> flows;

  Session() { timer.owner = this; }
  SessionFlows& f() {
    if (!flows) flows = std::make_unique<SessionFlows>();
    return *flows;
  }
};

// The sessions of one worker, addressed by handles (slot << 32 | generation) that stay
// safe to look up after the session is gone (subscriptions and deliveries carry them).
class SessionTable {
 public:
  SessionTable() = default;
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;
  ~SessionTable();

  Session* create();
  void destroy(Session* s);
  Session* get(uint64_t handle) const;
  size_t size() const { return live_; }

  template <typename Fn>
  void for_each(Fn&& fn) {
    for (Session* s : slots_) {
      if (s) fn(*s);
    }
  }

 private:
  std::vector<Session*> slots_;
  std::vector<uint32_t> gens_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

}  // namespace mqttd

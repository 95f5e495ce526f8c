// Command line of mqttd-bench: parses argv into a BenchConfig, which is constant for the
// whole run and shared read-only by every ring thread.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mqttd::bench {

enum class Mode { kConn, kPub, kSub, kPubSub };

struct BenchConfig {
  Mode mode = Mode::kPubSub;
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  sockaddr_in server{};
  std::vector<in_addr> sources;  // source addresses, round robin over clients; empty = kernel's

  uint32_t connections = 0;       // conn: idle connections
  uint32_t publishers = 0;        // pub / pubsub
  uint32_t subscribers = 0;       // sub / pubsub
  double connect_rate = 0;        // new connections per second in total, 0 = as fast as possible
  uint32_t connect_window = 512;  // connection attempts in flight per ring

  int mqtt_version = 4;  // 4 = 3.1.1, 5 = 5.0
  uint16_t keepalive = 60;
  std::string client_id = "bench-%m-%i";
  bool clean = true;
  uint32_t session_expiry = 0;

  std::string topic = "bench/%i";  // publish topic pattern
  std::string sub_topic;           // subscription filter pattern (default: topic)
  int qos = 0;
  int sub_qos = -1;  // default: qos
  uint32_t payload = 64;
  bool retain = false;
  double rate = 0;         // messages per second per publisher, 0 = unlimited
  double total_rate = 0;   // messages per second over all publishers (overrides rate)
  uint64_t count = 0;      // messages per publisher, 0 = until the duration ends
  double duration = 10;    // seconds of publishing (conn: seconds to hold, 0 = until ^C)
  double drain = 3;        // seconds subscribers wait for stragglers after publishing ends
  uint32_t inflight = 16;  // QoS 1/2 unacknowledged publishes per publisher
  uint32_t id_base = 0;    // first publisher id (distinct pub processes need distinct ranges)

  uint32_t threads = 0;           // rings; 0 = chosen from the connection count
  uint32_t recv_buffers = 0;      // provided buffers per ring (power of two), 0 = auto
  uint32_t recv_buffer_size = 0;  // bytes, 0 = auto
  bool nodelay = true;

  std::string json_path;  // "-" = stdout
  bool quiet = false;     // no progress line
  uint32_t run_id = 0;    // process tag (%m in client ids)

  uint32_t total_clients() const;
  int effective_sub_qos() const { return sub_qos < 0 ? qos : sub_qos; }
};

// Parses the command line. On a usage error prints the reason and the usage to stderr and
// returns nullopt; `--help` prints the usage to stdout and exits 0.
std::optional<BenchConfig> parse_command_line(int argc, char** argv);

const char* mode_name(Mode m);

}  // namespace mqttd::bench

// Broker configuration: one TOML file (see mqttd.example.toml for every key) plus the
// command-line flags that override the keys people change most.
//
// Pure and single-threaded: parsing builds a new Config value; the broker keeps it
// constant after construction (SIGHUP builds a new one and applies the live keys).
// Every problem is reported as "FILE:LINE:COL: key 'NAME': what is wrong"; nothing is
// ever silently replaced by a default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"

namespace mqttd {

struct ListenerConfig {
  std::string bind = "0.0.0.0";  // IPv4 or IPv6 literal ("::" for all IPv6)
  uint16_t port = 1883;
};

struct HttpConfig {
  bool enabled = true;
  std::string bind = "127.0.0.1";
  uint16_t port = 9883;
};

struct Config {
  // --- process -----------------------------------------------------------
  uint32_t workers = 0;  // 0: one per online CPU
  bool pin_workers = false;
  log::Level log_level = log::Level::info;
  uint32_t shutdown_grace = 0;  // seconds not-ready before SIGTERM disconnects clients

  // --- connections -------------------------------------------------------
  std::vector<ListenerConfig> listeners{ListenerConfig{}};
  uint32_t max_connections_per_worker = 50000;
  uint32_t connect_timeout = 10;          // seconds to receive CONNECT
  uint32_t max_packet_size = 1u << 20;    // bytes, both directions
  uint64_t max_queued_bytes = 4u << 20;   // per connection, outbound
  uint16_t max_keep_alive = 65535;        // seconds; MQTT 5 Server Keep Alive caps it
  uint32_t recv_buffers = 1024;           // provided receive buffers per worker (power of 2)
  uint32_t recv_buffer_size = 4096;       // bytes each

  // --- sessions and delivery ----------------------------------------------
  uint16_t max_inflight = 64;             // our Receive Maximum, and cap on outbound window
  uint32_t max_queued_messages = 1000;    // per offline/slow session
  uint32_t max_session_expiry = 86400 * 7;  // seconds
  uint16_t topic_alias_maximum = 64;      // inbound aliases we accept (MQTT 5)
  uint16_t outbound_topic_alias_maximum = 64;  // aliases we use towards clients
  bool retain_available = true;
  uint8_t max_qos = 2;
  bool allow_zero_length_client_id = true;
  uint32_t sys_interval = 10;             // seconds between $SYS updates; 0 disables

  HttpConfig http;

  // The file it came from (empty for built-in defaults); SIGHUP re-reads it.
  std::string source_path;
};

struct ConfigResult {
  Config config;
  std::string error;  // empty on success; otherwise one line naming file, line and key
  bool ok() const { return error.empty(); }
};

// Parses TOML text. `source_name` is used in messages (normally the file path).
ConfigResult parse_config(std::string_view text, std::string_view source_name);

// Reads and parses a file; a missing or unreadable file is an error too.
ConfigResult load_config_file(const std::string& path);

// Applies one command-line override ("port", "bind", "workers", "log-level") with the
// same validation as the file. Returns an empty string or one line naming the flag.
std::string apply_flag(Config& config, std::string_view flag, std::string_view value);

// Lists the keys whose values differ between `a` and `b` and that cannot change
// while running (listeners, workers, ...). Used by SIGHUP reload to warn.
std::vector<std::string> restart_only_changes(const Config& a, const Config& b);

// Copies into `target` the keys that may change while running (limits, timeouts,
// feature switches), leaving the rest. Used by SIGHUP reload on each worker's copy.
void apply_live_keys(Config& target, const Config& from);

// Resolves workers == 0 to the number of online CPUs.
uint32_t effective_workers(const Config& config);

}  // namespace mqttd

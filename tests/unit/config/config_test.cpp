#include "config/config.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

using mqttd::Config;
using mqttd::parse_config;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("an empty file gives the documented defaults") {
  auto r = parse_config("", "empty.toml");
  REQUIRE(r.ok());
  const Config& c = r.config;
  CHECK(c.workers == 0);
  CHECK(c.listeners.size() == 1);
  CHECK(c.listeners[0].bind == "0.0.0.0");
  CHECK(c.listeners[0].port == 1883);
  CHECK(c.max_connections_per_worker == 50000);
  CHECK(c.log_level == mqttd::log::Level::info);
}

TEST_CASE("every key of a full file is read") {
  auto r = parse_config(R"(
workers = 3
pin_workers = true
log_level = "debug"
max_connections_per_worker = 20000
connect_timeout = 5
max_packet_size = "64KiB"
max_queued_bytes = 2097152
max_keep_alive = 300
max_inflight = 10
max_queued_messages = 50
max_session_expiry = 3600
topic_alias_maximum = 8
outbound_topic_alias_maximum = 4
retain_available = false
max_qos = 1
allow_zero_length_client_id = false
sys_interval = 0

[[listener]]
bind = "127.0.0.1"
port = 1884

[[listener]]
bind = "::1"
port = 1885

[http]
enabled = false
bind = "0.0.0.0"
port = 9999
)",
                        "full.toml");
  REQUIRE_MESSAGE(r.ok(), r.error);
  const Config& c = r.config;
  CHECK(c.workers == 3);
  CHECK(c.pin_workers);
  CHECK(c.log_level == mqttd::log::Level::debug);
  CHECK(c.max_connections_per_worker == 20000);
  CHECK(c.connect_timeout == 5);
  CHECK(c.max_packet_size == 65536);
  CHECK(c.max_queued_bytes == 2097152);
  CHECK(c.max_keep_alive == 300);
  CHECK(c.max_inflight == 10);
  CHECK(c.max_queued_messages == 50);
  CHECK(c.max_session_expiry == 3600);
  CHECK(c.topic_alias_maximum == 8);
  CHECK(c.outbound_topic_alias_maximum == 4);
  CHECK_FALSE(c.retain_available);
  CHECK(c.max_qos == 1);
  CHECK_FALSE(c.allow_zero_length_client_id);
  CHECK(c.sys_interval == 0);
  REQUIRE(c.listeners.size() == 2);
  CHECK(c.listeners[0].bind == "127.0.0.1");
  CHECK(c.listeners[0].port == 1884);
  CHECK(c.listeners[1].bind == "::1");
  CHECK(c.listeners[1].port == 1885);
  CHECK_FALSE(c.http.enabled);
  CHECK(c.http.port == 9999);
}

TEST_CASE("unknown keys are refused with file, line and name") {
  auto r = parse_config("workers = 2\nworkerz = 3\n", "my.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("my.toml:2:1") == 0);
  CHECK(r.error.find("unknown key 'workerz'") != std::string::npos);
}

TEST_CASE("unknown keys inside tables name the table") {
  auto r = parse_config("[[listener]]\nport = 1883\nprot = 1\n", "my.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("my.toml:3:1") == 0);
  CHECK(r.error.find("'listener[0].prot'") != std::string::npos);

  r = parse_config("[http]\nenable = true\n", "my.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("'http.enable'") != std::string::npos);
}

TEST_CASE("wrong types are refused, naming expected and actual type") {
  auto r = parse_config("\n\nmax_inflight = \"ten\"\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("t.toml:3:") == 0);
  CHECK(r.error.find("key 'max_inflight'") != std::string::npos);
  CHECK(r.error.find("expected an integer, got a string") != std::string::npos);

  r = parse_config("pin_workers = 1\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("expected a boolean") != std::string::npos);

  r = parse_config("workers = 1.5\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("got a float") != std::string::npos);

  r = parse_config("listener = 3\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("key 'listener'") != std::string::npos);

  r = parse_config("http = 3\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("key 'http'") != std::string::npos);
}

TEST_CASE("out-of-range values are refused with the range") {
  auto r = parse_config("[[listener]]\nport = 70000\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("t.toml:2:") == 0);
  CHECK(r.error.find("key 'listener[0].port': 70000 is out of range 1..65535") != std::string::npos);

  r = parse_config("max_qos = 3\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("out of range 0..2") != std::string::npos);

  r = parse_config("workers = -1\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("-1 is out of range") != std::string::npos);

  r = parse_config("max_packet_size = \"1GiB\"\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("key 'max_packet_size'") != std::string::npos);
}

TEST_CASE("receive buffers must be a power of two") {
  auto r = parse_config("recv_buffers = 1000\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("key 'recv_buffers': 1000 is not a power of two") != std::string::npos);
  r = parse_config("recv_buffers = 256\nrecv_buffer_size = \"2KiB\"\n", "t.toml");
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.config.recv_buffers == 256);
  CHECK(r.config.recv_buffer_size == 2048);
}

TEST_CASE("sizes take units") {
  auto r = parse_config("max_queued_bytes = \"16 MiB\"\nmax_packet_size = \"1k\"\n", "t.toml");
  REQUIRE_MESSAGE(r.ok(), r.error);
  CHECK(r.config.max_queued_bytes == 16u << 20);
  CHECK(r.config.max_packet_size == 1024);

  r = parse_config("max_queued_bytes = \"lots\"\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("is not a size") != std::string::npos);

  r = parse_config("max_queued_bytes = \"10 parsecs\"\n", "t.toml");
  REQUIRE_FALSE(r.ok());
}

TEST_CASE("addresses and levels are validated") {
  auto r = parse_config("[[listener]]\nbind = \"localhost\"\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("is not an IPv4 or IPv6 address") != std::string::npos);

  r = parse_config("log_level = \"loud\"\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("is not a log level") != std::string::npos);

  r = parse_config("listener = []\n", "t.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("at least one [[listener]]") != std::string::npos);
}

TEST_CASE("TOML syntax errors carry the position") {
  auto r = parse_config("workers = 2\nthis is not toml\n", "bad.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("bad.toml:2:") == 0);
  CHECK(r.error.find("TOML syntax error") != std::string::npos);
}

TEST_CASE("a missing file is an error, not defaults") {
  auto r = mqttd::load_config_file("/nonexistent/mqttd.toml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error.find("/nonexistent/mqttd.toml: cannot read") == 0);
}

TEST_CASE("command-line flags are validated like the file") {
  Config c;
  CHECK(mqttd::apply_flag(c, "port", "1999") == "");
  CHECK(c.listeners[0].port == 1999);
  CHECK(mqttd::apply_flag(c, "bind", "127.0.0.1") == "");
  CHECK(c.listeners[0].bind == "127.0.0.1");
  CHECK(mqttd::apply_flag(c, "workers", "7") == "");
  CHECK(c.workers == 7);
  CHECK(mqttd::apply_flag(c, "log-level", "warn") == "");
  CHECK(c.log_level == mqttd::log::Level::warn);

  std::string e = mqttd::apply_flag(c, "port", "70000");
  CHECK(e == "--port 70000: 70000 is out of range 1..65535");
  e = mqttd::apply_flag(c, "port", "http");
  CHECK(e.find("--port http: expected an integer") == 0);
  e = mqttd::apply_flag(c, "workers", "many");
  CHECK(e.find("--workers many: expected an integer") == 0);
  e = mqttd::apply_flag(c, "bind", "nowhere");
  CHECK(e.find("--bind nowhere:") == 0);
  CHECK(c.listeners[0].port == 1999);  // failed flags change nothing
}

TEST_CASE("the example file documents exactly the defaults") {
  // mqttd.example.toml must parse, and every value in it must be the built-in default,
  // so the file stays a true reference.
  std::string text = read_file(MQTTD_SOURCE_ROOT "/mqttd.example.toml");
  REQUIRE_FALSE(text.empty());
  auto r = parse_config(text, "mqttd.example.toml");
  REQUIRE_MESSAGE(r.ok(), r.error);
  Config d;
  const Config& c = r.config;
  CHECK(c.workers == d.workers);
  CHECK(c.pin_workers == d.pin_workers);
  CHECK(c.log_level == d.log_level);
  CHECK(c.shutdown_grace == d.shutdown_grace);
  CHECK(c.max_connections_per_worker == d.max_connections_per_worker);
  CHECK(c.connect_timeout == d.connect_timeout);
  CHECK(c.max_packet_size == d.max_packet_size);
  CHECK(c.max_queued_bytes == d.max_queued_bytes);
  CHECK(c.max_keep_alive == d.max_keep_alive);
  CHECK(c.recv_buffers == d.recv_buffers);
  CHECK(c.recv_buffer_size == d.recv_buffer_size);
  CHECK(c.max_inflight == d.max_inflight);
  CHECK(c.max_queued_messages == d.max_queued_messages);
  CHECK(c.max_session_expiry == d.max_session_expiry);
  CHECK(c.topic_alias_maximum == d.topic_alias_maximum);
  CHECK(c.outbound_topic_alias_maximum == d.outbound_topic_alias_maximum);
  CHECK(c.retain_available == d.retain_available);
  CHECK(c.max_qos == d.max_qos);
  CHECK(c.allow_zero_length_client_id == d.allow_zero_length_client_id);
  CHECK(c.sys_interval == d.sys_interval);
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].bind == d.listeners[0].bind);
  CHECK(c.listeners[0].port == d.listeners[0].port);
  CHECK(c.http.enabled == d.http.enabled);
  CHECK(c.http.bind == d.http.bind);
  CHECK(c.http.port == d.http.port);
}

TEST_CASE("SIGHUP reload: live keys are copied, restart-only keys are reported and kept") {
  using namespace mqttd;
  Config running;
  auto r = parse_config(
      "workers = 3\nmax_inflight = 7\nmax_qos = 1\nlog_level = \"debug\"\nrecv_buffers = 64\n"
      "[[listener]]\nport = 1999\n",
      "new.toml");
  REQUIRE(r.ok());
  std::vector<std::string> restart = restart_only_changes(running, r.config);
  CHECK(std::find(restart.begin(), restart.end(), "workers") != restart.end());
  CHECK(std::find(restart.begin(), restart.end(), "listener") != restart.end());
  CHECK(std::find(restart.begin(), restart.end(), "recv_buffers") != restart.end());
  CHECK(std::find(restart.begin(), restart.end(), "max_inflight") == restart.end());
  apply_live_keys(running, r.config);
  CHECK(running.max_inflight == 7);
  CHECK(running.max_qos == 1);
  CHECK(running.log_level == log::Level::debug);
  CHECK(running.workers == Config{}.workers);          // restart-only: unchanged
  CHECK(running.listeners[0].port == 1883);
  CHECK(running.recv_buffers == Config{}.recv_buffers);
}

#include "config/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <charconv>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>
#include <unordered_set>

namespace mqttd {
namespace {

constexpr uint32_t kMaxPacketSizeLimit = 268435455 + 5;  // 1 + 4-byte VBI + max remaining

// Why a value was refused, ready to print: "file:line:col: key 'name': problem".
class Errors {
 public:
  explicit Errors(std::string_view source) : source_(source) {}
  bool failed() const { return !message_.empty(); }
  const std::string& message() const { return message_; }

  void at(const toml::source_region& where, std::string_view key, const std::string& what) {
    if (failed()) return;  // the first problem is the one worth reading
    std::ostringstream out;
    out << source_ << ':' << where.begin.line << ':' << where.begin.column << ": ";
    if (!key.empty()) out << "key '" << key << "': ";
    out << what;
    message_ = out.str();
  }

 private:
  std::string source_;
  std::string message_;
};

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date/time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "nothing";
  }
}

// Parses "512", "64KiB", "16 MiB", "1GB" (all multiples are powers of 1024).
bool parse_size(std::string_view s, uint64_t& out) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0) return false;
  uint64_t n = 0;
  if (std::from_chars(s.data(), s.data() + i, n).ec != std::errc()) return false;
  std::string_view unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  std::string u;
  for (char c : unit) u.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  uint64_t mul;
  if (u.empty() || u == "b") mul = 1;
  else if (u == "k" || u == "kb" || u == "kib") mul = 1ull << 10;
  else if (u == "m" || u == "mb" || u == "mib") mul = 1ull << 20;
  else if (u == "g" || u == "gb" || u == "gib") mul = 1ull << 30;
  else return false;
  if (n > UINT64_MAX / mul) return false;
  out = n * mul;
  return true;
}

bool is_ip_literal(const std::string& s) {
  in_addr a4;
  in6_addr a6;
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

// Reads the keys of one table, remembering which it consumed so that the rest can be
// reported as unknown. `prefix` qualifies key names in messages ("listener[1].").
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, Errors& errors)
      : table_(table), prefix_(std::move(prefix)), errors_(errors) {}

  template <typename T>
  void integer(std::string_view key, uint64_t min, uint64_t max, T& out) {
    const toml::node* n = take(key);
    if (!n) return;
    auto v = n->value_exact<int64_t>();
    if (!v) return wrong_type(*n, key, "an integer");
    check_range(*n, key, *v, min, max, out);
  }

  // A byte count: an integer or a string with a unit ("64KiB").
  template <typename T>
  void size(std::string_view key, uint64_t min, uint64_t max, T& out) {
    const toml::node* n = take(key);
    if (!n) return;
    if (auto v = n->value_exact<int64_t>()) return check_range(*n, key, *v, min, max, out);
    auto s = n->value_exact<std::string>();
    if (!s) return wrong_type(*n, key, "a size (an integer or a string such as \"64KiB\")");
    uint64_t bytes;
    if (!parse_size(*s, bytes)) {
      return errors_.at(n->source(), name(key),
                        "'" + *s + "' is not a size (use bytes or a unit: B, KiB, MiB, GiB)");
    }
    check_range(*n, key, static_cast<int64_t>(std::min<uint64_t>(bytes, INT64_MAX)), min, max, out);
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* n = take(key);
    if (!n) return;
    auto v = n->value_exact<bool>();
    if (!v) return wrong_type(*n, key, "a boolean (true or false)");
    out = *v;
  }

  void string(std::string_view key, std::string& out) {
    const toml::node* n = take(key);
    if (!n) return;
    auto v = n->value_exact<std::string>();
    if (!v) return wrong_type(*n, key, "a string");
    out = *v;
  }

  void ip_address(std::string_view key, std::string& out) {
    const toml::node* n = take(key);
    if (!n) return;
    auto v = n->value_exact<std::string>();
    if (!v) return wrong_type(*n, key, "a string");
    if (!is_ip_literal(*v)) {
      return errors_.at(n->source(), name(key),
                        "'" + *v + "' is not an IPv4 or IPv6 address (use e.g. \"0.0.0.0\" or \"::\")");
    }
    out = *v;
  }

  void level(std::string_view key, log::Level& out) {
    const toml::node* n = take(key);
    if (!n) return;
    auto v = n->value_exact<std::string>();
    if (!v) return wrong_type(*n, key, "a string");
    auto l = log::parse_level(*v);
    if (!l) {
      return errors_.at(n->source(), name(key),
                        "'" + *v + "' is not a log level (trace, debug, info, warn, error, off)");
    }
    out = *l;
  }

  const toml::node* take(std::string_view key) {
    seen_.insert(std::string(key));
    return table_.get(key);
  }

  // Reports the first key that no reader asked for.
  void reject_unknown() {
    for (const auto& [k, v] : table_) {
      if (!seen_.count(std::string(k.str()))) {
        errors_.at(k.source(), "", "unknown key '" + prefix_ + std::string(k.str()) +
                                       "' (see mqttd.example.toml for the valid keys)");
        return;
      }
    }
  }

  std::string name(std::string_view key) const { return prefix_ + std::string(key); }

 private:
  void wrong_type(const toml::node& n, std::string_view key, const char* expected) {
    errors_.at(n.source(), name(key), std::string("expected ") + expected + ", got " + type_name(n));
  }

  template <typename T>
  void check_range(const toml::node& n, std::string_view key, int64_t v, uint64_t min,
                   uint64_t max, T& out) {
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      return errors_.at(n.source(), name(key),
                        std::to_string(v) + " is out of range " + std::to_string(min) + ".." +
                            std::to_string(max));
    }
    out = static_cast<T>(v);
  }

  const toml::table& table_;
  std::string prefix_;
  Errors& errors_;
  std::unordered_set<std::string> seen_;
};

const toml::node* table_get(const toml::table& t, std::string_view key) { return t.get(key); }

void read_listener(const toml::table& t, std::string prefix, Errors& errors, ListenerConfig& l) {
  TableReader r(t, std::move(prefix), errors);
  r.ip_address("bind", l.bind);
  r.integer("port", 1, 65535, l.port);
  r.reject_unknown();
}

void read_http(const toml::table& t, Errors& errors, HttpConfig& h) {
  TableReader r(t, "http.", errors);
  r.boolean("enabled", h.enabled);
  r.ip_address("bind", h.bind);
  r.integer("port", 1, 65535, h.port);
  r.reject_unknown();
}

void read_root(const toml::table& root, Errors& errors, Config& c) {
  TableReader r(root, "", errors);
  r.integer("workers", 0, 1024, c.workers);
  r.boolean("pin_workers", c.pin_workers);
  r.level("log_level", c.log_level);
  r.integer("shutdown_grace", 0, 300, c.shutdown_grace);

  r.integer("max_connections_per_worker", 1, 10'000'000, c.max_connections_per_worker);
  r.integer("connect_timeout", 1, 3600, c.connect_timeout);
  r.size("max_packet_size", 64, kMaxPacketSizeLimit, c.max_packet_size);
  r.size("max_queued_bytes", 1024, 1ull << 40, c.max_queued_bytes);
  r.integer("max_keep_alive", 1, 65535, c.max_keep_alive);
  if (const toml::node* n = table_get(root, "recv_buffers")) {
    r.integer("recv_buffers", 16, 32768, c.recv_buffers);
    if (!errors.failed() && (c.recv_buffers & (c.recv_buffers - 1)) != 0) {
      errors.at(n->source(), "recv_buffers",
                std::to_string(c.recv_buffers) + " is not a power of two (16, 32, ..., 32768)");
    }
  }
  r.size("recv_buffer_size", 512, 1u << 20, c.recv_buffer_size);

  r.integer("max_inflight", 1, 65535, c.max_inflight);
  r.integer("max_queued_messages", 0, 100'000'000, c.max_queued_messages);
  r.integer("max_session_expiry", 0, 0xFFFFFFFFu, c.max_session_expiry);
  r.integer("topic_alias_maximum", 0, 65535, c.topic_alias_maximum);
  r.integer("outbound_topic_alias_maximum", 0, 65535, c.outbound_topic_alias_maximum);
  r.boolean("retain_available", c.retain_available);
  r.integer("max_qos", 0, 2, c.max_qos);
  r.boolean("allow_zero_length_client_id", c.allow_zero_length_client_id);
  r.integer("sys_interval", 0, 86400, c.sys_interval);

  if (const toml::node* n = r.take("listener")) {
    const toml::array* arr = n->as_array();
    if (!arr || (!arr->empty() && !arr->is_array_of_tables())) {
      errors.at(n->source(), "listener", std::string("expected [[listener]] tables, got ") + type_name(*n));
    } else if (arr->empty()) {
      errors.at(n->source(), "listener", "at least one [[listener]] is needed");
    } else {
      c.listeners.clear();
      for (size_t i = 0; i < arr->size(); ++i) {
        ListenerConfig l;
        read_listener(*arr->get(i)->as_table(), "listener[" + std::to_string(i) + "].", errors, l);
        c.listeners.push_back(l);
      }
    }
  }
  if (const toml::node* n = r.take("http")) {
    if (const toml::table* t = n->as_table()) {
      read_http(*t, errors, c.http);
    } else {
      errors.at(n->source(), "http", std::string("expected a [http] table, got ") + type_name(*n));
    }
  }
  r.reject_unknown();
}

}  // namespace

ConfigResult parse_config(std::string_view text, std::string_view source_name) {
  ConfigResult result;
  Errors errors(source_name);
  try {
    toml::table root = toml::parse(text, source_name);
    read_root(root, errors, result.config);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    result.error = std::string(source_name) + ':' + std::to_string(where.line) + ':' +
                   std::to_string(where.column) + ": TOML syntax error: " +
                   std::string(e.description());
    return result;
  }
  if (errors.failed()) result.error = errors.message();
  result.config.source_path = std::string(source_name);
  return result;
}

ConfigResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult r;
    r.error = path + ": cannot read the configuration file (" + std::strerror(errno) + ")";
    return r;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path);
}

std::string apply_flag(Config& c, std::string_view flag, std::string_view value) {
  // Reuse the file validation: build a one-key TOML document and read it.
  std::string doc;
  std::string quoted(1, '"');  // (not "\"" + ...: GCC 12 -Wrestrict false positive)
  quoted.append(value).push_back('"');
  bool is_number = !value.empty() && std::all_of(value.begin(), value.end(), [](char ch) {
    return std::isdigit(static_cast<unsigned char>(ch));
  });
  std::string number_or_string = is_number ? std::string(value) : quoted;
  if (flag == "port" || flag == "bind") {
    doc = "[[listener]]\n" + std::string(flag) + " = " + (flag == "port" ? number_or_string : quoted) + "\n";
  } else if (flag == "workers") {
    doc = "workers = " + number_or_string + "\n";
  } else if (flag == "log-level") {
    doc = "log_level = " + quoted + "\n";
  } else {
    return "unknown option --" + std::string(flag);
  }
  ConfigResult r = parse_config(doc, "--" + std::string(flag));
  if (!r.ok()) {
    // "--port:2:8: key 'listener[0].port': ..." -> "--port: ..."
    std::string msg = r.error;
    size_t key_at = msg.find("key '");
    size_t colon = msg.find(": ", key_at == std::string::npos ? 0 : key_at + 5);
    if (key_at != std::string::npos && colon != std::string::npos) msg = msg.substr(colon + 2);
    else if (size_t p = msg.find(": "); p != std::string::npos) msg = msg.substr(p + 2);
    return "--" + std::string(flag) + " " + std::string(value) + ": " + msg;
  }
  if (flag == "port") {
    for (auto& l : c.listeners) l.port = r.config.listeners[0].port;
  } else if (flag == "bind") {
    for (auto& l : c.listeners) l.bind = r.config.listeners[0].bind;
  } else if (flag == "workers") {
    c.workers = r.config.workers;
  } else {
    c.log_level = r.config.log_level;
  }
  return "";
}

std::vector<std::string> restart_only_changes(const Config& a, const Config& b) {
  std::vector<std::string> out;
  if (a.workers != b.workers) out.push_back("workers");
  if (a.pin_workers != b.pin_workers) out.push_back("pin_workers");
  bool same_listeners = a.listeners.size() == b.listeners.size();
  for (size_t i = 0; same_listeners && i < a.listeners.size(); ++i) {
    same_listeners = a.listeners[i].bind == b.listeners[i].bind &&
                     a.listeners[i].port == b.listeners[i].port;
  }
  if (!same_listeners) out.push_back("listener");
  if (a.max_connections_per_worker != b.max_connections_per_worker) {
    out.push_back("max_connections_per_worker");
  }
  if (a.recv_buffers != b.recv_buffers) out.push_back("recv_buffers");
  if (a.recv_buffer_size != b.recv_buffer_size) out.push_back("recv_buffer_size");
  if (a.sys_interval != b.sys_interval) out.push_back("sys_interval");
  if (a.http.enabled != b.http.enabled || a.http.bind != b.http.bind || a.http.port != b.http.port) {
    out.push_back("http");
  }
  return out;
}

void apply_live_keys(Config& t, const Config& f) {
  t.log_level = f.log_level;
  t.connect_timeout = f.connect_timeout;
  t.max_packet_size = f.max_packet_size;
  t.max_queued_bytes = f.max_queued_bytes;
  t.max_keep_alive = f.max_keep_alive;
  t.max_inflight = f.max_inflight;
  t.max_queued_messages = f.max_queued_messages;
  t.max_session_expiry = f.max_session_expiry;
  t.topic_alias_maximum = f.topic_alias_maximum;
  t.outbound_topic_alias_maximum = f.outbound_topic_alias_maximum;
  t.retain_available = f.retain_available;
  t.max_qos = f.max_qos;
  t.allow_zero_length_client_id = f.allow_zero_length_client_id;
  t.shutdown_grace = f.shutdown_grace;
}

uint32_t effective_workers(const Config& config) {
  if (config.workers != 0) return config.workers;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<uint32_t>(n) : 1;
}

}  // namespace mqttd

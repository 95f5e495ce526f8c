// Levelled logging: one line per event, written with a single write(2) so lines from
// different workers never interleave. Every line carries the worker id of the thread
// that wrote it ("w3", or "main" for the control thread).
//
// Thread-safe. The level check is one relaxed atomic load, and the MQTTD_LOG macros
// evaluate their arguments only when the level is enabled, so a disabled log site
// costs a load and a branch and never allocates. An enabled site formats into a stack
// buffer (lines longer than kMaxLine are cut and end in "...").
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mqttd::log {

enum class Level : uint8_t { trace = 0, debug, info, warn, error, off };

inline constexpr int kMaxLine = 1024;

// The process-wide threshold. Control-plane state: set at start-up and on SIGHUP,
// read by every log site. Relaxed is enough: a log line racing a level change may go
// either way, and nothing else is published through this variable.
class Threshold {
 public:
  static Level get() { return static_cast<Level>(value_.load(std::memory_order_relaxed)); }
  static void set(Level l) { value_.store(static_cast<uint8_t>(l), std::memory_order_relaxed); }

 private:
  static inline std::atomic<uint8_t> value_{static_cast<uint8_t>(Level::info)};
};

inline bool enabled(Level l) { return l >= Threshold::get(); }

// Names the calling thread in every line it writes; -1 means the control thread.
void set_thread_worker_id(int id);
int thread_worker_id();

// Redirects output (tests); the default is standard error. Not thread-safe: call
// before workers start.
void set_output_fd(int fd);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

std::optional<Level> parse_level(std::string_view name);
const char* level_name(Level level);

}  // namespace mqttd::log

#define MQTTD_LOG(level, ...)                                         \
  do {                                                                \
    if (::mqttd::log::enabled(level)) ::mqttd::log::write(level, __VA_ARGS__); \
  } while (0)

#define LOG_TRACE(...) MQTTD_LOG(::mqttd::log::Level::trace, __VA_ARGS__)
#define LOG_DEBUG(...) MQTTD_LOG(::mqttd::log::Level::debug, __VA_ARGS__)
#define LOG_INFO(...) MQTTD_LOG(::mqttd::log::Level::info, __VA_ARGS__)
#define LOG_WARN(...) MQTTD_LOG(::mqttd::log::Level::warn, __VA_ARGS__)
#define LOG_ERROR(...) MQTTD_LOG(::mqttd::log::Level::error, __VA_ARGS__)

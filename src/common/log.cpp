#include "common/log.h"

#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mqttd::log {
namespace {

thread_local int t_worker_id = -1;
int g_output_fd = STDERR_FILENO;  // constant once workers run (see set_output_fd)

constexpr char kLevelLetter[] = {'T', 'D', 'I', 'W', 'E', '-'};

}  // namespace

void set_thread_worker_id(int id) { t_worker_id = id; }
int thread_worker_id() { return t_worker_id; }
void set_output_fd(int fd) { g_output_fd = fd; }

void write(Level level, const char* fmt, ...) {
  char line[kMaxLine];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);

  char who[16];
  if (t_worker_id < 0) {
    std::memcpy(who, "main", 5);
  } else {
    std::snprintf(who, sizeof who, "w%d", t_worker_id);
  }
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %c %-4s ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                        utc.tm_min, utc.tm_sec, ts.tv_nsec / 1000000,
                        kLevelLetter[static_cast<int>(level)], who);

  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);

  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof line - 2) {  // cut: mark it so a reader knows
    len = sizeof line - 2;
    std::memcpy(line + len - 3, "...", 3);
  }
  line[len++] = '\n';

  const char* p = line;
  while (len > 0) {
    ssize_t w = ::write(g_output_fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failure to log
    }
    p += w;
    len -= static_cast<size_t>(w);
  }
}

std::optional<Level> parse_level(std::string_view name) {
  if (name == "trace") return Level::trace;
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "off") return Level::off;
  return std::nullopt;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::trace: return "trace";
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    case Level::off: return "off";
  }
  return "?";
}

}  // namespace mqttd::log

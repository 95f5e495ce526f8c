#include "common/log.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <string>

namespace {

// Captures what the logger writes through a pipe.
struct Capture {
  int fds[2];
  Capture() {
    REQUIRE(pipe(fds) == 0);
    mqttd::log::set_output_fd(fds[1]);
  }
  ~Capture() {
    mqttd::log::set_output_fd(STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
  }
  std::string take() {
    close(fds[1]);
    fds[1] = -1;
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    mqttd::log::set_output_fd(STDERR_FILENO);
    return out;
  }
};

int g_evaluations = 0;
int counted() { return ++g_evaluations; }

}  // namespace

TEST_CASE("a line carries level, worker and message, and ends in one newline") {
  Capture cap;
  mqttd::log::Threshold::set(mqttd::log::Level::info);
  mqttd::log::set_thread_worker_id(3);
  LOG_WARN("hello %d", 42);
  mqttd::log::set_thread_worker_id(-1);
  LOG_INFO("from main");
  std::string out = cap.take();
  CHECK(out.find(" W w3   hello 42\n") != std::string::npos);
  CHECK(out.find(" I main from main\n") != std::string::npos);
  CHECK(out.size() > 20);
  CHECK(out[4] == '-');  // ISO 8601 timestamp first
}

TEST_CASE("disabled levels do not evaluate their arguments") {
  Capture cap;
  mqttd::log::Threshold::set(mqttd::log::Level::warn);
  g_evaluations = 0;
  LOG_DEBUG("%d", counted());
  LOG_INFO("%d", counted());
  CHECK(g_evaluations == 0);
  LOG_ERROR("%d", counted());
  CHECK(g_evaluations == 1);
  mqttd::log::Threshold::set(mqttd::log::Level::info);
  CHECK(cap.take().find(" E ") != std::string::npos);
}

TEST_CASE("over-long lines are cut, marked, and still end in a newline") {
  Capture cap;
  std::string big(5000, 'x');
  LOG_ERROR("%s", big.c_str());
  std::string out = cap.take();
  CHECK(out.size() <= static_cast<size_t>(mqttd::log::kMaxLine));
  CHECK(out.substr(out.size() - 4) == "...\n");
}

TEST_CASE("level names parse both ways") {
  for (auto l : {mqttd::log::Level::trace, mqttd::log::Level::debug, mqttd::log::Level::info,
                 mqttd::log::Level::warn, mqttd::log::Level::error, mqttd::log::Level::off}) {
    CHECK(mqttd::log::parse_level(mqttd::log::level_name(l)) == l);
  }
  CHECK_FALSE(mqttd::log::parse_level("verbose").has_value());
}

// mqttd entry point: flags, configuration, start-up checks, then the broker.
#if MQTTD_SANITIZE_NONE
#include <mimalloc.h>
#include <mimalloc-new-delete.h>  // operator new/delete -> mimalloc (malloc via the linker)
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "app/server.h"
#include "common/log.h"
#include "config/config.h"
#include "mqttd_build_config.h"
#include "net/uring_probe.h"

namespace {

constexpr int kExitUsage = 2;    // bad flags or configuration
constexpr int kExitStartup = 1;  // the environment refused (port in use, io_uring blocked)

void print_usage(FILE* out) {
  std::fputs(
      "usage: mqttd [--config FILE] [--port N] [--bind ADDR] [--workers N]\n"
      "             [--log-level trace|debug|info|warn|error] [--check-config]\n"
      "       mqttd --version | --help\n"
      "\n"
      "  --config FILE   TOML configuration (see mqttd.example.toml); defaults if absent\n"
      "  --port N        port of every listener (default 1883)\n"
      "  --bind ADDR     address of every listener (default 0.0.0.0)\n"
      "  --workers N     worker threads, one io_uring each (0 = one per CPU)\n"
      "  --log-level L   trace, debug, info, warn, error or off\n"
      "  --check-config  validate the configuration and exit\n",
      out);
}

#if MQTTD_SANITIZE_NONE
bool malloc_is_mimalloc() {
  void* p = std::malloc(64);
  bool ours = mi_is_in_heap_region(p);
  std::free(p);
  return ours;
}

void print_allocator() {
  int v = mi_version();
  std::printf("allocator: mimalloc %d.%d.%d (malloc override %s, new/delete override active)\n",
              v / 100, (v / 10) % 10, v % 10, malloc_is_mimalloc() ? "active" : "inactive");
}
#else
void print_allocator() { std::printf("allocator: the sanitizer's (mimalloc is off in sanitizer builds)\n"); }
#endif

void print_version() {
  std::printf("mqttd %s (%s build, %s%s%s)\n", MQTTD_VERSION, MQTTD_BUILD_TYPE, MQTTD_COMPILER,
              std::strcmp(MQTTD_SANITIZE, "none") == 0 ? "" : ", sanitize=",
              std::strcmp(MQTTD_SANITIZE, "none") == 0 ? "" : MQTTD_SANITIZE);
  print_allocator();
  std::printf("%s\n", mqttd::probe_uring().describe().c_str());
}

[[noreturn]] void die_usage(const std::string& message) {
  std::fprintf(stderr, "mqttd: %s\n", message.c_str());
  std::exit(kExitUsage);
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  std::vector<std::pair<std::string, std::string>> overrides;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--version" || arg == "-v") {
      print_version();
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      print_usage(stdout);
      return 0;
    }
    if (arg == "--check-config") {
      check_only = true;
      continue;
    }
    if (!arg.starts_with("--")) die_usage("unexpected argument '" + std::string(arg) + "' (see --help)");
    std::string name(arg.substr(2));
    std::string value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      die_usage("option --" + name + " needs a value (see --help)");
    }
    if (name == "config") {
      config_path = value;
    } else if (name == "port" || name == "bind" || name == "workers" || name == "log-level") {
      overrides.emplace_back(name, value);
    } else {
      die_usage("unknown option --" + name + " (see --help)");
    }
  }

  mqttd::ConfigResult loaded;
  if (!config_path.empty()) {
    loaded = mqttd::load_config_file(config_path);
    if (!loaded.ok()) die_usage("configuration error: " + loaded.error);
  }
  mqttd::Config config = std::move(loaded.config);
  for (const auto& [flag, value] : overrides) {
    std::string err = mqttd::apply_flag(config, flag, value);
    if (!err.empty()) die_usage(err);
  }
  if (check_only) {
    std::printf("%s: configuration OK\n", config_path.empty() ? "(defaults)" : config_path.c_str());
    return 0;
  }

  mqttd::log::Threshold::set(config.log_level);
  mqttd::UringSupport uring = mqttd::probe_uring();
  if (!uring.usable()) {
    std::fprintf(stderr, "mqttd: %s\n", uring.refusal().c_str());
    return kExitStartup;
  }
  return mqttd::run_server(config, uring);
}

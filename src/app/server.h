// Runs the broker until SIGINT/SIGTERM: starts the workers, waits for a stop signal,
// shuts down cleanly. Returns the process exit status.
#pragma once

#include "config/config.h"
#include "net/uring_probe.h"

namespace mqttd {

int run_server(const Config& config, const UringSupport& uring);

}  // namespace mqttd

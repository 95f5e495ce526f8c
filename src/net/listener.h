// Listening sockets. Every worker opens its own SO_REUSEPORT socket for each configured
// listener, so the kernel spreads new connections over the workers without a shared
// accept queue. Called from the owning worker (or the main thread for the probe).
#pragma once

#include <string>

#include "config/config.h"

namespace mqttd {

// Checks that nothing else holds the port (a plain bind: another process's SO_REUSEPORT
// socket would otherwise silently share our port). Returns "" or one sentence with the
// cause and the fix.
std::string probe_listener(const ListenerConfig& l);

// Opens a non-blocking SO_REUSEPORT listening socket. Returns the fd, or -1 with `error`
// set to one sentence naming the cause and the fix.
int open_listener(const ListenerConfig& l, std::string& error);

}  // namespace mqttd

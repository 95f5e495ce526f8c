// The one clock the broker's timing uses: CLOCK_MONOTONIC in milliseconds (timer wheel,
// message and session expiry, grace periods). Any thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace mqttd {

inline uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace mqttd

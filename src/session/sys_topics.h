// State of the $SYS publisher (worker 0 only): the damped load averages and maxima that
// $SYS/broker/load/... and .../clients/maximum report.
#pragma once

#include <cstdint>

namespace mqttd {

// Exponentially damped per-minute rates of a counter over 1, 5 and 15 minutes, as
// Mosquitto's $SYS/broker/load/... report them.
struct SysLoad {
  double m1 = 0, m5 = 0, m15 = 0;
  uint64_t last = 0;
  bool primed = false;
  void update(uint64_t total, double interval_s);
};

struct SysState {
  uint64_t max_connected = 0;
  SysLoad received, sent, bytes_in, bytes_out, connections, publish_in, publish_out;
};

}  // namespace mqttd

#include "session/broker.h"

#include <ctime>

#include "net/timer_wheel.h"

namespace mqttd {

Broker::Broker(const Config& config, uint32_t workers)
    : config_(config),
      workers_(workers),
      qsbr_(workers + 4),
      index_(qsbr_),
      retained_(qsbr_),
      stats_(new SessionStats[workers]),
      start_ms_(monotonic_ms()),
      start_unix_(static_cast<uint64_t>(std::time(nullptr))) {}

Broker::~Broker() = default;

}  // namespace mqttd

#include "app/server.h"

#include "common/log.h"

namespace mqttd {

int run_server(const Config& config, const UringSupport& uring) {
  LOG_INFO("%s", uring.describe().c_str());
  LOG_ERROR("the io_uring engine is not built yet (%zu listeners configured)", config.listeners.size());
  return 1;
}

}  // namespace mqttd

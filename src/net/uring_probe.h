// What the running kernel's io_uring offers, found by creating a throw-away ring.
// Used by `mqttd --version` and by start-up, which refuses to run (with one sentence
// naming the cause and the fix) when io_uring is unavailable or lacks what mqttd needs.
//
// Thread-safe: probing touches no shared state.
#pragma once

#include <string>

namespace mqttd {

struct UringSupport {
  int setup_errno = 0;          // 0 when a ring could be created, else the errno
  bool single_issuer = false;   // IORING_SETUP_SINGLE_ISSUER accepted (6.0)
  bool defer_taskrun = false;   // IORING_SETUP_DEFER_TASKRUN accepted (6.1)
  bool coop_taskrun = false;    // IORING_SETUP_COOP_TASKRUN accepted (5.19)
  bool ext_arg = false;         // IORING_FEAT_EXT_ARG: wait with a timeout, no timeout SQE
  bool nodrop = false;          // IORING_FEAT_NODROP: CQ overflow is kept, not dropped
  bool multishot_accept = false;
  bool multishot_recv = false;
  bool buf_ring = false;        // provided-buffer rings (5.19)
  bool msg_ring = false;        // IORING_OP_MSG_RING (5.18), fd passing (6.0)
  bool send_zc = false;         // IORING_OP_SEND_ZC (6.0)
  bool recv_bundle = false;     // IORING_RECVSEND_BUNDLE (6.10)
  std::string kernel;           // uname -r

  bool usable() const { return setup_errno == 0 && missing().empty(); }
  // Names the features mqttd needs and the kernel lacks, or "".
  std::string missing() const;
  // One line for --version / the start-up log.
  std::string describe() const;
  // One sentence naming why io_uring can't be used and what to do about it.
  std::string refusal() const;
};

UringSupport probe_uring();

}  // namespace mqttd

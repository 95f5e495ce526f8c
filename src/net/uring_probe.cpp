#include "net/uring_probe.h"

#include <sys/utsname.h>

#include <cstdio>
#include <cstring>

#include "net/uring_compat.h"

namespace mqttd {
namespace {

// Kernel version as major*1000 + minor, for features a probe can't see (flags on ops).
int kernel_version(const std::string& release) {
  int major = 0, minor = 0;
  std::sscanf(release.c_str(), "%d.%d", &major, &minor);
  return major * 1000 + minor;
}

bool try_setup(unsigned flags) {
  io_uring ring;
  io_uring_params p{};
  p.flags = flags;
  if (io_uring_queue_init_params(4, &ring, &p) != 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

}  // namespace

UringSupport probe_uring() {
  UringSupport s;
  utsname u;
  if (uname(&u) == 0) s.kernel = u.release;
  int kv = kernel_version(s.kernel);

  io_uring ring;
  io_uring_params p{};
  int r = io_uring_queue_init_params(8, &ring, &p);
  if (r != 0) {
    s.setup_errno = -r;
    return s;
  }
  s.ext_arg = p.features & IORING_FEAT_EXT_ARG;
  s.nodrop = p.features & IORING_FEAT_NODROP;
  if (io_uring_probe* probe = io_uring_get_probe_ring(&ring)) {
    bool accept = io_uring_opcode_supported(probe, IORING_OP_ACCEPT);
    bool recv = io_uring_opcode_supported(probe, IORING_OP_RECV);
    s.msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) && kv >= 6000;
    s.send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC);
    s.multishot_accept = accept && kv >= 5019;
    s.multishot_recv = recv && kv >= 6000;
    s.recv_bundle = recv && kv >= 6010;
    io_uring_free_probe(probe);
  }
  int err = 0;
  if (io_uring_buf_ring* br = uring::setup_buf_ring(&ring, 8, 0, &err)) {
    s.buf_ring = true;
    uring::free_buf_ring(&ring, br, 8, 0);
  }
  io_uring_queue_exit(&ring);

  s.coop_taskrun = try_setup(IORING_SETUP_COOP_TASKRUN);
  s.single_issuer = try_setup(IORING_SETUP_SINGLE_ISSUER);
  s.defer_taskrun = try_setup(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
  return s;
}

std::string UringSupport::missing() const {
  std::string m;
  auto need = [&m](bool have, const char* what) {
    if (have) return;
    if (!m.empty()) m += ", ";
    m += what;
  };
  need(multishot_accept, "multishot accept (5.19)");
  need(multishot_recv, "multishot recv (6.0)");
  need(buf_ring, "provided-buffer rings (5.19)");
  need(msg_ring, "IORING_OP_MSG_RING with descriptor passing (6.0)");
  need(ext_arg, "IORING_FEAT_EXT_ARG (5.11)");
  return m;
}

std::string UringSupport::describe() const {
  if (setup_errno != 0) return "io_uring: unavailable (" + std::string(std::strerror(setup_errno)) + ")";
  std::string d = "io_uring: kernel " + kernel + "; setup:";
  auto add = [&d](bool on, const char* name) {
    if (on) {
      d += ' ';
      d += name;
    }
  };
  add(single_issuer, "SINGLE_ISSUER");
  add(defer_taskrun, "DEFER_TASKRUN");
  add(coop_taskrun, "COOP_TASKRUN");
  d += "; features:";
  add(nodrop, "NODROP");
  add(ext_arg, "EXT_ARG");
  add(multishot_accept, "multishot-accept");
  add(multishot_recv, "multishot-recv");
  add(buf_ring, "buf-ring");
  add(msg_ring, "msg-ring-fd");
  add(send_zc, "send-zc");
  add(recv_bundle, "recv-bundle");
  return d;
}

std::string UringSupport::refusal() const {
  if (setup_errno == EPERM || setup_errno == EACCES) {
    return "io_uring is blocked (io_uring_setup: " + std::string(std::strerror(setup_errno)) +
           "): a container seccomp profile or the sysctl kernel.io_uring_disabled forbids it; "
           "run mqttd with the profile deploy/kubernetes/seccomp/mqttd-seccomp.json (or "
           "--security-opt seccomp=unconfined) and set kernel.io_uring_disabled=0";
  }
  if (setup_errno == ENOSYS) {
    return "io_uring is not available in this kernel (io_uring_setup: ENOSYS); mqttd needs "
           "Linux 6.0 or newer built with CONFIG_IO_URING";
  }
  if (setup_errno == ENOMEM) {
    return "io_uring_setup failed with ENOMEM: the locked-memory limit is too low; raise "
           "RLIMIT_MEMLOCK (systemd LimitMEMLOCK=infinity) or use Linux 5.12 or newer";
  }
  if (setup_errno != 0) {
    return "io_uring_setup failed: " + std::string(std::strerror(setup_errno));
  }
  return "this kernel's io_uring lacks " + missing() + "; mqttd needs Linux 6.0 or newer";
}

}  // namespace mqttd

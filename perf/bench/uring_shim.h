// liburing helpers that Debian 12's liburing 2.3 lacks but the kernels we run on have:
// IORING_OP_BIND (6.11), socket setsockopt through IORING_OP_URING_CMD (6.7) and the
// provided-buffer ring setup wrapper (liburing 2.4). Header-only; the opcodes are the
// kernel's ABI numbers, so they stay valid when a newer liburing is installed.
#pragma once

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

namespace mqttd::bench::shim {

// enum io_uring_op in the kernel's uapi header: ... FTRUNCATE = 55, BIND = 56, LISTEN = 57.
inline constexpr uint8_t kOpBind = 56;
// enum io_uring_socket_op: SIOCINQ, SIOCOUTQ, GETSOCKOPT, SETSOCKOPT.
inline constexpr uint32_t kSocketUringOpSetsockopt = 3;

// io_uring_prep_bind from liburing 2.7: the address goes in addr, its length in off.
inline void prep_bind(io_uring_sqe* sqe, int fd, const sockaddr* addr, socklen_t len) {
  io_uring_prep_rw(kOpBind, sqe, fd, addr, 0, len);
}

// io_uring_prep_cmd_sock(SOCKET_URING_OP_SETSOCKOPT) from liburing 2.5. The uapi layout:
// cmd_op in the low half of off, level/optname in the two halves of addr, optlen where
// file_index lives and optval in addr3. REQUIRES: optval outlives the submission.
inline void prep_setsockopt(io_uring_sqe* sqe, int fd, int level, int optname, const void* optval,
                            int optlen) {
  io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, nullptr, 0, 0);
  sqe->cmd_op = kSocketUringOpSetsockopt;
  sqe->__pad1 = 0;
  sqe->addr = static_cast<uint64_t>(static_cast<uint32_t>(level)) |
              (static_cast<uint64_t>(static_cast<uint32_t>(optname)) << 32);
  sqe->file_index = static_cast<uint32_t>(optlen);
  sqe->addr3 = reinterpret_cast<uintptr_t>(optval);
}

// io_uring_setup_buf_ring from liburing 2.4: maps `entries` ring slots and registers them
// as buffer group `bgid`. Returns nullptr and sets *err to a negative errno on failure.
inline io_uring_buf_ring* setup_buf_ring(io_uring* ring, unsigned entries, int bgid, int* err) {
  const size_t bytes = entries * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(br);
  reg.ring_entries = entries;
  reg.bgid = static_cast<uint16_t>(bgid);
  const int ret = io_uring_register_buf_ring(ring, &reg, 0);
  if (ret < 0) {
    munmap(mem, bytes);
    *err = ret;
    return nullptr;
  }
  *err = 0;
  return br;
}

inline void free_buf_ring(io_uring* ring, io_uring_buf_ring* br, unsigned entries, int bgid) {
  io_uring_unregister_buf_ring(ring, bgid);
  munmap(br, entries * sizeof(io_uring_buf));
}

}  // namespace mqttd::bench::shim

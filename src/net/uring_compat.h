// Shims for liburing helpers newer than Debian 12's liburing 2.3, for the broker and
// for mqttd-bench (the one place they live). The kernel has had the features for a long
// time; only the user-space helpers are missing. Constants are defined only when the
// installed liburing lacks them; the opcodes are the kernel's ABI numbers, so they stay
// valid with a newer liburing. Header-only.
#pragma once

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)  // 6.10: recv fills several provided buffers
#endif

#ifndef IORING_MSG_RING_FLAGS_PASS
#define IORING_MSG_RING_FLAGS_PASS (1U << 1)  // 6.3: pass cqe flags to the target
#endif

#ifndef IORING_FILE_INDEX_ALLOC
#define IORING_FILE_INDEX_ALLOC (~0U)
#endif

#if defined(__SANITIZE_THREAD__)
#define MQTTD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MQTTD_TSAN 1
#endif
#endif
#ifdef MQTTD_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace mqttd::uring {

// An object handed to another ring in a MSG_RING completion (its pointer in user_data) is
// published by the kernel: the sender's writes precede its io_uring_enter, the kernel
// posts the completion and releases the target's CQ tail, which the target acquires.
// ThreadSanitizer cannot see that; these tell it (no-ops in other builds).
inline void handed_to_ring(const void* p) {
#ifdef MQTTD_TSAN
  __tsan_release(const_cast<void*>(p));
#else
  (void)p;
#endif
}
inline void received_from_ring(const void* p) {
#ifdef MQTTD_TSAN
  __tsan_acquire(const_cast<void*>(p));
#else
  (void)p;
#endif
}

// io_uring_prep_msg_ring_fd (liburing 2.4): move the fixed file `source_fd` of this
// ring into the target ring's fixed file table (slot `target_fd`, or allocated when
// IORING_FILE_INDEX_ALLOC); the target gets a CQE carrying `data` as user_data and the
// new slot index as res.
inline void prep_msg_ring_fd(io_uring_sqe* sqe, int ring_fd, int source_fd, int target_fd,
                             __u64 data, unsigned flags) {
  io_uring_prep_rw(IORING_OP_MSG_RING, sqe, ring_fd, reinterpret_cast<void*>(IORING_MSG_SEND_FD),
                   0, data);
  sqe->addr3 = static_cast<__u64>(source_fd);
  // file_index is 1-based in the kernel ABI; ALLOC is passed through as is.
  unsigned idx = target_fd == static_cast<int>(IORING_FILE_INDEX_ALLOC)
                     ? IORING_FILE_INDEX_ALLOC
                     : static_cast<unsigned>(target_fd) + 1;
  sqe->file_index = idx;
  sqe->msg_ring_flags = flags;
}

// io_uring_setup_buf_ring (liburing 2.4): allocate, register and initialise a
// provided-buffer ring of `entries` (a power of two) buffers for group `bgid`.
// Returns the ring or nullptr with *err set to a negative errno.
inline io_uring_buf_ring* setup_buf_ring(io_uring* ring, unsigned entries, int bgid, int* err) {
  const size_t size = entries * sizeof(io_uring_buf);
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  auto* br = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<__u64>(br);
  reg.ring_entries = entries;
  reg.bgid = static_cast<__u16>(bgid);
  const int r = io_uring_register_buf_ring(ring, &reg, 0);
  if (r != 0) {
    munmap(mem, size);
    *err = r;
    return nullptr;
  }
  *err = 0;
  return br;
}

inline void free_buf_ring(io_uring* ring, io_uring_buf_ring* br, unsigned entries, int bgid) {
  io_uring_unregister_buf_ring(ring, bgid);
  munmap(br, entries * sizeof(io_uring_buf));
}

// enum io_uring_op in the kernel's uapi header: ... FTRUNCATE = 55, BIND = 56, LISTEN = 57.
inline constexpr uint8_t kOpBind = 56;
// enum io_uring_socket_op: SIOCINQ, SIOCOUTQ, GETSOCKOPT, SETSOCKOPT.
inline constexpr uint32_t kSocketUringOpSetsockopt = 3;

// io_uring_prep_bind (liburing 2.7, kernel 6.11): the address goes in addr, its length
// in off.
inline void prep_bind(io_uring_sqe* sqe, int fd, const sockaddr* addr, socklen_t len) {
  io_uring_prep_rw(kOpBind, sqe, fd, addr, 0, len);
}

// io_uring_prep_cmd_sock(SOCKET_URING_OP_SETSOCKOPT) (liburing 2.5, kernel 6.7). The uapi
// layout: cmd_op in the low half of off, level/optname in the two halves of addr, optlen
// where file_index lives and optval in addr3. REQUIRES: optval outlives the submission.
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

}  // namespace mqttd::uring

// Shims for liburing helpers newer than Debian 12's liburing 2.3. The kernel has had the
// features for a long time; only the user-space helpers are missing. Each shim is
// defined only when the installed liburing lacks it, so a newer liburing wins.
#pragma once

#include <liburing.h>

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

namespace mqttd::uring {

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
io_uring_buf_ring* setup_buf_ring(io_uring* ring, unsigned entries, int bgid, int* err);
void free_buf_ring(io_uring* ring, io_uring_buf_ring* br, unsigned entries, int bgid);

}  // namespace mqttd::uring

// BufferRing: a worker's provided-buffer ring for multishot receive. The kernel picks a
// free buffer for each receive completion; the worker hands it back as soon as the
// completion's bytes are handled, so buffers are held only while bytes are being parsed
// and an idle connection holds none. Owned by one worker; not thread-safe.
#pragma once

#include <liburing.h>

#include <cstdint>

namespace mqttd {

class BufferRing {
 public:
  BufferRing() = default;
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;
  ~BufferRing() { release(); }
  // Unregisters and frees the buffers; REQUIRES the ring to be alive. Idempotent.
  void release();

  // REQUIRES: count is a power of two <= 32768. Returns 0 or a negative errno.
  int init(io_uring* ring, uint16_t group, uint32_t count, uint32_t size);

  uint16_t group() const { return group_; }
  uint8_t* data(uint16_t bid) const { return mem_ + static_cast<size_t>(bid) * size_; }
  uint32_t buffer_size() const { return size_; }

  // Returns buffer `bid` to the kernel; visible to it after commit().
  void recycle(uint16_t bid) {
    io_uring_buf_ring_add(br_, data(bid), size_, bid, mask_, pending_++);
  }
  // Publishes the recycled buffers (one tail store per batch).
  void commit() {
    if (pending_) {
      io_uring_buf_ring_advance(br_, pending_);
      pending_ = 0;
    }
  }

 private:
  io_uring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  uint8_t* mem_ = nullptr;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  int mask_ = 0;
  int pending_ = 0;
  uint16_t group_ = 0;
};

}  // namespace mqttd

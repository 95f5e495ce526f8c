#include "net/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>

#include "net/uring_compat.h"

namespace mqttd {

int BufferRing::init(io_uring* ring, uint16_t group, uint32_t count, uint32_t size) {
  int err = 0;
  br_ = uring::setup_buf_ring(ring, count, group, &err);
  if (!br_) return err;
  // Pages are touched only when the kernel first fills a buffer.
  void* mem = mmap(nullptr, static_cast<size_t>(count) * size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    err = -errno;
    uring::free_buf_ring(ring, br_, count, group);
    br_ = nullptr;
    return err;
  }
  ring_ = ring;
  mem_ = static_cast<uint8_t*>(mem);
  count_ = count;
  size_ = size;
  group_ = group;
  mask_ = io_uring_buf_ring_mask(count);
  for (uint32_t i = 0; i < count; ++i) recycle(static_cast<uint16_t>(i));
  commit();
  return 0;
}

void BufferRing::release() {
  if (!br_) return;
  uring::free_buf_ring(ring_, br_, count_, group_);
  munmap(mem_, static_cast<size_t>(count_) * size_);
  br_ = nullptr;
  mem_ = nullptr;
}

}  // namespace mqttd

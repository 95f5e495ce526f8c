// OutQueue: a connection's outbound packets, waiting for the socket. Owned by the
// connection's worker; not thread-safe.
//
// An OutItem is one packet, or part of one: up to kInline bytes stored in the item (acks,
// CONNACK, a PUBLISH header with its packet id) followed by an optional body that is
// referenced, not copied: a Message's payload or a SharedBytes block (an encoded packet
// shared by many connections). Items are gathered into a sendmsg iovec array; a short
// write leaves the queue positioned at the exact next byte.
//
// Items live in fixed chunks linked in a list and never move once queued, because a send
// in flight points the kernel at their inline bytes. An empty queue holds no memory.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/message.h"

namespace mqttd {

// Immutable, reference-counted bytes shared across connections and workers.
class SharedBytes {
 public:
  // The new block holds one reference; fill data() before sharing it.
  static SharedBytes* create(size_t size);
  void ref(uint32_t n = 1) const { refs_.fetch_add(n, std::memory_order_relaxed); }
  // acq_rel: the freeing thread must see every other thread's last read.
  void unref(uint32_t n = 1) const {
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) destroy();
  }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  uint32_t size() const { return size_; }

 private:
  SharedBytes() = default;
  void destroy() const;
  mutable std::atomic<uint32_t> refs_{1};
  uint32_t size_ = 0;
};

struct OutItem {
  static constexpr size_t kInline = 46;
  enum class Body : uint8_t { kNone, kPayload, kShared, kOwned };

  uint8_t head_len = 0;
  Body body = Body::kNone;
  uint32_t body_len = 0;
  const void* owner = nullptr;  // Message*, SharedBytes* or malloc'ed block; one reference held
  const uint8_t* body_ptr = nullptr;
  uint8_t head[kInline];

  size_t size() const { return head_len + body_len; }
};
static_assert(sizeof(OutItem) == 72);

class OutQueue {
 public:
  OutQueue() = default;
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;
  ~OutQueue() { clear(); }

  bool empty() const { return count_ == 0; }
  size_t bytes() const { return bytes_; }  // not yet sent
  uint32_t items() const { return count_; }

  // Appends `bytes` as inline items (split when longer than kInline; longer blocks are
  // better pushed with push_owned).
  void push_copy(std::span<const uint8_t> bytes);
  // Appends a packet whose first bytes are copied (head, at most kInline) and whose body
  // is a message's payload; takes a reference to `m`.
  void push_payload(std::span<const uint8_t> head, const Message* m);
  // Appends a shared block (one reference is taken).
  void push_shared(std::span<const uint8_t> head, const SharedBytes* b);
  // Appends a malloc'ed block that the queue frees after sending.
  void push_owned(uint8_t* block, size_t len);

  // Fills up to `max` iovecs with the unsent bytes, front first; returns the count.
  int gather(iovec* iov, int max) const;
  // Drops `n` sent bytes from the front, releasing completed items.
  void consume(size_t n);
  void clear();

 private:
  static constexpr uint32_t kChunkItems = 7;
  struct Chunk {
    Chunk* next;
    uint32_t begin;  // first unsent item
    uint32_t end;    // one past the last item
    OutItem items[kChunkItems];
  };

  OutItem& append();
  OutItem* tail_item();
  void release(OutItem& item);

  Chunk* head_ = nullptr;
  Chunk* tail_ = nullptr;
  uint32_t count_ = 0;
  uint32_t front_sent_ = 0;  // bytes of the front item already sent
  size_t bytes_ = 0;
};

}  // namespace mqttd

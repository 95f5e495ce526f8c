#include "net/out_queue.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace mqttd {

SharedBytes* SharedBytes::create(size_t size) {
  void* mem = std::malloc(sizeof(SharedBytes) + size);
  if (!mem) throw std::bad_alloc();
  auto* b = new (mem) SharedBytes();
  b->size_ = static_cast<uint32_t>(size);
  return b;
}

void SharedBytes::destroy() const {
  this->~SharedBytes();
  std::free(const_cast<SharedBytes*>(this));
}

OutItem& OutQueue::append() {
  if (!tail_ || tail_->end == kChunkItems) {
    auto* c = static_cast<Chunk*>(std::malloc(sizeof(Chunk)));
    if (!c) throw std::bad_alloc();
    c->next = nullptr;
    c->begin = c->end = 0;
    if (tail_) tail_->next = c;
    else head_ = c;
    tail_ = c;
  }
  OutItem& it = tail_->items[tail_->end++];
  ++count_;
  it.head_len = 0;
  it.body = OutItem::Body::kNone;
  it.body_len = 0;
  it.owner = nullptr;
  it.body_ptr = nullptr;
  return it;
}

OutItem* OutQueue::tail_item() {
  return count_ > 0 ? &tail_->items[tail_->end - 1] : nullptr;
}

void OutQueue::push_copy(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    // Fill the tail item's spare inline room first (several small acks, one item). Bytes
    // appended behind a send in flight are simply sent by the next one.
    OutItem* tail = tail_item();
    if (tail && tail->body == OutItem::Body::kNone && tail->head_len < OutItem::kInline) {
      size_t room = OutItem::kInline - tail->head_len;
      size_t n = bytes.size() < room ? bytes.size() : room;
      std::memcpy(tail->head + tail->head_len, bytes.data(), n);
      tail->head_len = static_cast<uint8_t>(tail->head_len + n);
      bytes_ += n;
      bytes = bytes.subspan(n);
      continue;
    }
    size_t n = bytes.size() < OutItem::kInline ? bytes.size() : OutItem::kInline;
    OutItem& it = append();
    std::memcpy(it.head, bytes.data(), n);
    it.head_len = static_cast<uint8_t>(n);
    bytes_ += n;
    bytes = bytes.subspan(n);
  }
}

void OutQueue::push_payload(std::span<const uint8_t> head, const Message* m) {
  OutItem& it = append();
  if (!head.empty()) std::memcpy(it.head, head.data(), head.size());  // data() may be null
  it.head_len = static_cast<uint8_t>(head.size());
  auto payload = m->payload();
  if (!payload.empty()) {
    m->ref();
    it.body = OutItem::Body::kPayload;
    it.owner = m;
    it.body_ptr = payload.data();
    it.body_len = static_cast<uint32_t>(payload.size());
  }
  bytes_ += it.size();
}

void OutQueue::push_shared(std::span<const uint8_t> head, const SharedBytes* b) {
  OutItem& it = append();
  if (!head.empty()) std::memcpy(it.head, head.data(), head.size());
  it.head_len = static_cast<uint8_t>(head.size());
  b->ref();
  it.body = OutItem::Body::kShared;
  it.owner = b;
  it.body_ptr = b->data();
  it.body_len = b->size();
  bytes_ += it.size();
}

void OutQueue::push_owned(uint8_t* block, size_t len) {
  OutItem& it = append();
  it.body = OutItem::Body::kOwned;
  it.owner = block;
  it.body_ptr = block;
  it.body_len = static_cast<uint32_t>(len);
  bytes_ += len;
}

int OutQueue::gather(iovec* iov, int max) const {
  int n = 0;
  uint32_t skip = front_sent_;
  for (const Chunk* c = head_; c && n < max; c = c->next) {
    for (uint32_t i = c->begin; i < c->end && n < max; ++i) {
      const OutItem& it = c->items[i];
      if (skip < it.head_len) {
        iov[n].iov_base = const_cast<uint8_t*>(it.head + skip);
        iov[n].iov_len = it.head_len - skip;
        ++n;
        skip = 0;
      } else {
        skip -= it.head_len;
      }
      if (it.body_len > 0 && n < max) {
        iov[n].iov_base = const_cast<uint8_t*>(it.body_ptr + skip);
        iov[n].iov_len = it.body_len - skip;
        ++n;
      }
      skip = 0;
    }
  }
  return n;
}

void OutQueue::release(OutItem& it) {
  switch (it.body) {
    case OutItem::Body::kNone: break;
    case OutItem::Body::kPayload: static_cast<const Message*>(it.owner)->unref(); break;
    case OutItem::Body::kShared: static_cast<const SharedBytes*>(it.owner)->unref(); break;
    case OutItem::Body::kOwned: std::free(const_cast<void*>(it.owner)); break;
  }
  it.body = OutItem::Body::kNone;
}

void OutQueue::consume(size_t n) {
  bytes_ -= n;
  while (n > 0 && count_ > 0) {
    OutItem& it = head_->items[head_->begin];
    size_t left = it.size() - front_sent_;
    if (n < left) {
      front_sent_ += static_cast<uint32_t>(n);
      return;
    }
    n -= left;
    release(it);
    front_sent_ = 0;
    --count_;
    if (++head_->begin == head_->end) {
      Chunk* done = head_;
      head_ = done->next;
      std::free(done);
      if (!head_) tail_ = nullptr;
    }
  }
}

void OutQueue::clear() {
  while (head_) {
    for (uint32_t i = head_->begin; i < head_->end; ++i) release(head_->items[i]);
    Chunk* next = head_->next;
    std::free(head_);
    head_ = next;
  }
  tail_ = nullptr;
  count_ = front_sent_ = 0;
  bytes_ = 0;
}

}  // namespace mqttd

// Message: one application message as the broker routes it (topic, payload, the MQTT 5
// properties that are forwarded unchanged, QoS, retain, expiry). Immutable after
// create(); reference counted, so one copy is shared by every worker and every
// subscriber that delivers it, and by the retained store.
//
// Thread-safe: ref()/unref() may be called from any thread (the count is atomic);
// everything else is read-only. The last unref() frees the single allocation that
// holds the header and all bytes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace mqttd {

class Message {
 public:
  // `properties` are raw MQTT 5 property bytes (without the length prefix) that travel
  // with the message unchanged: payload format, content type, response topic,
  // correlation data, user properties. `expiry_at_ms` is a CLOCK_MONOTONIC deadline in
  // milliseconds, 0 for none. The new message holds one reference.
  static Message* create(std::string_view topic, std::span<const uint8_t> payload,
                         std::span<const uint8_t> properties, uint8_t qos, bool retain,
                         uint64_t expiry_at_ms);

  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

  // relaxed: taking a reference publishes nothing; the caller already holds one.
  void ref(uint32_t n = 1) const { refs_.fetch_add(n, std::memory_order_relaxed); }
  // acq_rel: the thread that frees must see every other thread's last use.
  void unref(uint32_t n = 1) const {
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) destroy();
  }
  uint32_t ref_count_for_test() const { return refs_.load(std::memory_order_relaxed); }

  std::string_view topic() const {
    return {reinterpret_cast<const char*>(bytes()), topic_len_};
  }
  std::span<const uint8_t> properties() const { return {bytes() + topic_len_, props_len_}; }
  std::span<const uint8_t> payload() const {
    return {bytes() + topic_len_ + props_len_, payload_len_};
  }
  uint8_t qos() const { return qos_; }
  bool retain() const { return retain_; }
  uint64_t expiry_at_ms() const { return expiry_at_ms_; }
  // Bytes held by this message (for memory accounting).
  size_t footprint() const { return sizeof(Message) + topic_len_ + props_len_ + payload_len_; }

 private:
  Message() = default;
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(this + 1); }
  void destroy() const;

  mutable std::atomic<uint32_t> refs_{1};
  uint32_t payload_len_ = 0;
  uint32_t props_len_ = 0;
  uint16_t topic_len_ = 0;
  uint8_t qos_ = 0;
  bool retain_ = false;
  uint64_t expiry_at_ms_ = 0;
};

// An owning handle: one reference, released on destruction. Movable, copyable.
class MessageRef {
 public:
  MessageRef() = default;
  // Adopts a reference the caller already holds (e.g. from Message::create).
  static MessageRef adopt(const Message* m) {
    MessageRef r;
    r.m_ = m;
    return r;
  }
  // Takes a new reference.
  static MessageRef share(const Message* m) {
    if (m) m->ref();
    return adopt(m);
  }
  MessageRef(const MessageRef& o) : m_(o.m_) {
    if (m_) m_->ref();
  }
  MessageRef(MessageRef&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  MessageRef& operator=(MessageRef o) noexcept {
    std::swap(m_, o.m_);
    return *this;
  }
  ~MessageRef() {
    if (m_) m_->unref();
  }
  const Message* get() const { return m_; }
  const Message* operator->() const { return m_; }
  const Message& operator*() const { return *m_; }
  explicit operator bool() const { return m_ != nullptr; }
  // Gives up ownership without releasing: the caller now holds the reference.
  const Message* release() {
    const Message* m = m_;
    m_ = nullptr;
    return m;
  }

 private:
  const Message* m_ = nullptr;
};

}  // namespace mqttd

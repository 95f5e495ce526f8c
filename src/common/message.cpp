#include "common/message.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace mqttd {

Message* Message::create(std::string_view topic, std::span<const uint8_t> payload,
                         std::span<const uint8_t> properties, uint8_t qos, bool retain,
                         uint64_t expiry_at_ms) {
  size_t total = sizeof(Message) + topic.size() + properties.size() + payload.size();
  void* mem = std::malloc(total);
  if (!mem) throw std::bad_alloc();
  auto* m = new (mem) Message();
  m->topic_len_ = static_cast<uint16_t>(topic.size());
  m->props_len_ = static_cast<uint32_t>(properties.size());
  m->payload_len_ = static_cast<uint32_t>(payload.size());
  m->qos_ = qos;
  m->retain_ = retain;
  m->expiry_at_ms_ = expiry_at_ms;
  auto* p = reinterpret_cast<uint8_t*>(m + 1);
  if (!topic.empty()) std::memcpy(p, topic.data(), topic.size());
  if (!properties.empty()) std::memcpy(p + topic.size(), properties.data(), properties.size());
  if (!payload.empty()) {
    std::memcpy(p + topic.size() + properties.size(), payload.data(), payload.size());
  }
  return m;
}

void Message::destroy() const {
  this->~Message();
  std::free(const_cast<Message*>(this));
}

}  // namespace mqttd

#include "session/session.h"

namespace mqttd {

SessionTable::~SessionTable() {
  for (Session* s : slots_) delete s;
}

Session* SessionTable::create() {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(nullptr);
    gens_.push_back(1);
  }
  auto* s = new Session();
  s->handle = (static_cast<uint64_t>(slot) << 32) | gens_[slot];
  slots_[slot] = s;
  ++live_;
  return s;
}

void SessionTable::destroy(Session* s) {
  auto slot = static_cast<uint32_t>(s->handle >> 32);
  slots_[slot] = nullptr;
  ++gens_[slot];
  if (gens_[slot] == 0) gens_[slot] = 1;  // 0 never names a session
  free_.push_back(slot);
  --live_;
  delete s;
}

Session* SessionTable::get(uint64_t handle) const {
  auto slot = static_cast<uint32_t>(handle >> 32);
  if (slot >= slots_.size()) return nullptr;
  Session* s = slots_[slot];
  return s && s->handle == handle ? s : nullptr;
}

}  // namespace mqttd

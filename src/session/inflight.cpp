#include "session/inflight.h"

#include <algorithm>

namespace mqttd {

bool PacketIdSet::contains(uint16_t id) const {
  if (bits_) return (bits_[id >> 6] >> (id & 63)) & 1u;
  return std::find(small_.begin(), small_.end(), id) != small_.end();
}

bool PacketIdSet::insert(uint16_t id) {
  if (contains(id)) return false;
  if (!bits_ && small_.size() == kSmall) {
    bits_ = std::make_unique<uint64_t[]>(kWords);  // zeroed
    for (uint16_t x : small_) bits_[x >> 6] |= uint64_t{1} << (x & 63);
    small_ = std::vector<uint16_t>();  // give its memory back while the map is in use
  }
  if (bits_) {
    bits_[id >> 6] |= uint64_t{1} << (id & 63);
  } else {
    small_.push_back(id);
  }
  ++n_;
  return true;
}

bool PacketIdSet::erase(uint16_t id) {
  if (bits_) {
    uint64_t& w = bits_[id >> 6];
    const uint64_t bit = uint64_t{1} << (id & 63);
    if (!(w & bit)) return false;
    w &= ~bit;
    if (--n_ == 0) bits_.reset();
    return true;
  }
  auto it = std::find(small_.begin(), small_.end(), id);
  if (it == small_.end()) return false;
  *it = small_.back();  // order does not matter
  small_.pop_back();
  --n_;
  return true;
}

void PacketIdSet::clear() {
  small_.clear();
  bits_.reset();
  n_ = 0;
}

void InflightQueue::push(OutFlight f) {
  ids_.insert(f.packet_id);
  items_.push_back(std::move(f));
}

size_t InflightQueue::find(uint16_t packet_id) const {
  if (!ids_.contains(packet_id)) return kNone;  // O(1) for a stray acknowledgement too
  for (size_t i = head_; i < items_.size(); ++i) {
    if (items_[i].packet_id == packet_id) return i - head_;
  }
  return kNone;
}

void InflightQueue::erase_at(size_t k) {
  const size_t i = head_ + k;
  settle(k);
  ids_.erase(items_[i].packet_id);
  if (k != 0) {
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
    if (i < cursor_) --cursor_;
    return;
  }
  items_[i] = OutFlight{};  // release the message now
  ++head_;
  if (cursor_ < head_) cursor_ = head_;
  if (head_ == items_.size()) {
    items_.clear();
    head_ = cursor_ = 0;
  } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    cursor_ -= head_;
    head_ = 0;
  }
}

void InflightQueue::owe_all() {
  owed_ = 0;
  for (size_t i = head_; i < items_.size(); ++i) {
    OutFlight& f = items_[i];
    f.owed = f.stage == OutFlight::Stage::kAwaitAck;
    owed_ += f.owed;
  }
  cursor_ = head_;
}

size_t InflightQueue::oldest_owed() {
  while (!items_[cursor_].owed) ++cursor_;  // owed_ > 0: one lies ahead
  return cursor_ - head_;
}

void InflightQueue::settle(size_t k) {
  OutFlight& f = items_[head_ + k];
  if (f.owed) {
    f.owed = false;
    --owed_;
  }
}

}  // namespace mqttd

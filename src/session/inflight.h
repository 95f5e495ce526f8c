// What one session has in flight: PacketIdSet, the packet identifiers a side holds
// (inbound QoS 2 awaiting PUBREL), and InflightQueue, the QoS 1/2 messages sent to the
// client and not yet acknowledged, with the identifiers they hold. Owned by the session's
// worker; not thread-safe.
//
// Both stay small and cheap for the usual window (the default max_inflight is 64) and
// stay O(1) per operation at the protocol's limit of 65,535 identifiers in flight:
//   * PacketIdSet keeps up to kSmall identifiers in a vector it scans, and switches to a
//     65,536-bit map (8 KiB) while it holds more; it returns to the vector when emptied.
//   * InflightQueue keeps messages in send order. Clients acknowledge in that order
//     (MQTT-4.6.0-2..4), so find() looks from the oldest and erasing the oldest only
//     advances a head index; the vector is compacted when the dead prefix is at least
//     half of it (amortised O(1)). Erasing elsewhere (an out-of-order acknowledgement)
//     moves the later entries: O(n), and rare.
//   * On resumption every entry still awaiting PUBACK/PUBREC is "owed": its PUBLISH goes
//     out again (MQTT-4.4.0-1), oldest first, but only as the new connection's Receive
//     Maximum allows (MQTT-4.9.0-1: the send quota starts again from it). A cursor that
//     only moves forward finds the oldest owed entry in amortised O(1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/message.h"

namespace mqttd {

class PacketIdSet {
 public:
  static constexpr size_t kSmall = 64;

  PacketIdSet() = default;
  PacketIdSet(PacketIdSet&&) noexcept = default;
  PacketIdSet& operator=(PacketIdSet&&) noexcept = default;

  bool contains(uint16_t id) const;
  // Returns false when `id` was already present.
  bool insert(uint16_t id);
  // Returns false when `id` was absent.
  bool erase(uint16_t id);
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  void clear();

 private:
  static constexpr size_t kWords = 65536 / 64;
  std::vector<uint16_t> small_;       // unordered; used while bits_ is null
  std::unique_ptr<uint64_t[]> bits_;  // kWords words while more than kSmall are held
  size_t n_ = 0;
};

// A QoS 1/2 message sent to the client and not yet acknowledged.
struct OutFlight {
  enum class Stage : uint8_t { kAwaitAck, kAwaitComp };  // PUBACK/PUBREC; PUBCOMP
  uint16_t packet_id = 0;
  uint8_t qos = 0;
  Stage stage = Stage::kAwaitAck;
  bool retain = false;
  bool owed = false;   // to be sent again on this connection (InflightQueue::owe_all)
  MessageRef message;  // dropped once PUBREC arrives (only PUBREL/PUBCOMP remain)
  std::vector<uint32_t> ids;
};

class InflightQueue {
 public:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  size_t size() const { return items_.size() - head_; }
  bool empty() const { return size() == 0; }
  bool in_use(uint16_t packet_id) const { return ids_.contains(packet_id); }

  // Appends the newest entry. REQUIRES: !in_use(f.packet_id), f.packet_id != 0.
  void push(OutFlight f);
  // The position (0: oldest) of the entry holding `packet_id`, or kNone.
  size_t find(uint16_t packet_id) const;
  // REQUIRES: k < size().
  OutFlight& at(size_t k) { return items_[head_ + k]; }
  // Removes the entry at position k; the later ones move up by one. REQUIRES: k < size().
  void erase_at(size_t k);

  // A new connection resumed the session: every entry awaiting PUBACK/PUBREC is owed.
  void owe_all();
  // Entries owed; size() - owed() is what the current connection has in flight.
  size_t owed() const { return owed_; }
  // Position of the oldest owed entry. REQUIRES: owed() > 0.
  size_t oldest_owed();
  // The entry at k is no longer owed (sent again, or acknowledged). REQUIRES: k < size().
  void settle(size_t k);

 private:
  std::vector<OutFlight> items_;  // [head_, size) are live, in send order
  size_t head_ = 0;
  size_t cursor_ = 0;  // index into items_: no owed entry before it
  size_t owed_ = 0;
  PacketIdSet ids_;
};

}  // namespace mqttd

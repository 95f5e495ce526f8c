// Tag: the one definition of what a completion's user_data carries: the operation, the
// connection slot it belongs to and that slot's generation. A slot's generation changes
// when its connection is freed, so a late completion for a reused slot is recognised.
#pragma once

#include <cstdint>

namespace mqttd {

enum class Op : uint8_t {
  kAccept = 1,     // multishot accept on listener `slot` (index into the worker's listeners)
  kRecv,           // multishot recv of connection `slot`
  kSend,           // sendmsg of connection `slot`
  kCancel,         // cancellation request (result ignored)
  kClose,          // close of a direct descriptor (result ignored)
  kWake,           // MSG_RING data message: the inbox has items
  kHandoffIn,      // MSG_RING descriptor passed to us: res is the new slot
  kHandoffOut,     // completion of our MSG_RING descriptor pass; slot = the passed slot
  kMoveIn,         // MSG_RING descriptor of a moved connection: res is the new slot,
                   // the tag carries a MoveState pointer (pack_ptr)
  kMoveOut,        // completion of our move of connection `slot`
  kHttp,           // the HTTP endpoint's own operations (HttpServer decodes the rest)
};

struct Tag {
  Op op;
  uint32_t slot;  // 24 bits used
  uint32_t gen;

  static constexpr uint32_t kSlotBits = 24;
  static constexpr uint32_t kMaxSlot = (1u << kSlotBits) - 1;

  uint64_t pack() const {
    return (static_cast<uint64_t>(op) << 56) | (static_cast<uint64_t>(slot & kMaxSlot) << 32) | gen;
  }
  // An operation plus a pointer, for messages that carry an object to another ring.
  // User-space pointers fit in 56 bits on x86-64 and arm64.
  static uint64_t pack_ptr(Op op, const void* p) {
    return (static_cast<uint64_t>(op) << 56) | (reinterpret_cast<uintptr_t>(p) & kPtrMask);
  }
  static void* unpack_ptr(uint64_t v) { return reinterpret_cast<void*>(v & kPtrMask); }
  static constexpr uint64_t kPtrMask = (uint64_t{1} << 56) - 1;

  static Tag unpack(uint64_t v) {
    return Tag{static_cast<Op>(v >> 56), static_cast<uint32_t>(v >> 32) & kMaxSlot,
               static_cast<uint32_t>(v)};
  }
};

}  // namespace mqttd

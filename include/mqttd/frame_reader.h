// FrameReader: splits a connection's byte stream into MQTT packets (frames). One per
// connection, owned by its worker; not thread-safe.
//
// A packet that lies whole inside the bytes handed to next() is returned as a view into
// them (no copy). Only a packet split across calls is reassembled into the reader's own
// buffer, which grows with the bytes that actually arrive (a peer announcing a huge
// packet and sending one byte costs little) and is freed on the next call after that
// packet has been returned, so an idle reader holds no heap memory. sizeof(FrameReader)
// is 24 bytes.
//
// The reader checks the fixed header only (packet type not 0, the fixed flag bits, QoS
// not 3, a well-formed remaining length, the maximum packet size); the decoders check
// the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mqttd/reason_code.h"
#include "mqttd/types.h"

namespace mqttd {

struct FixedHeader {
  PacketType type = PacketType::reserved;
  uint8_t flags = 0;              // the low four bits of the first byte
  uint32_t remaining_length = 0;  // bytes of body
};

struct Frame {
  FixedHeader header;
  std::span<const uint8_t> body;  // remaining_length bytes
  // Bytes of the whole packet on the wire (fixed header included).
  size_t wire_size() const;
};

enum class ParseStatus : uint8_t {
  ok,         // `frame` holds one complete packet
  need_more,  // everything given has been consumed; `needed` more bytes at least (what the
              // bytes so far imply: a partial length already tells the smallest packet)
  error,      // the stream is broken: `reason` says why; the connection must end
};

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  ReasonCode reason = ReasonCode::success;  // error: malformed_packet or packet_too_large
  uint32_t needed = 0;  // need_more: bytes known to be missing (>= 1)
};

// The check the reader applies to a fixed header's first byte: malformed_packet for
// type 0, fixed flag bits other than the spec's (0010 for PUBREL, SUBSCRIBE,
// UNSUBSCRIBE; 0000 for the rest but PUBLISH), or PUBLISH with QoS 3; else success.
// PUBREL, SUBSCRIBE and UNSUBSCRIBE may also have 1010: MQTT 3.1 retransmits them with
// DUP set. The reader does not know the level; the decoders refuse 1010 at levels 4, 5.
ReasonCode check_fixed_header(uint8_t first_byte);

class FrameReader {
 public:
  // Packets whose wire size exceeds `max_packet_size` are refused with
  // packet_too_large (MQTT 5 3.1.2.11); 0 means kMaxPacketSize.
  explicit FrameReader(uint32_t max_packet_size);
  ~FrameReader();
  FrameReader(FrameReader&& other) noexcept;
  FrameReader& operator=(FrameReader&& other) noexcept;
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Takes bytes from the front of `in` (advancing it) until one packet is complete
  // (ok: `frame` views either `in`'s bytes or the reader's buffer, valid until the next
  // call to next() or reset() and as long as `in`'s bytes), all of `in` is consumed
  // (need_more), or the stream is broken (error; the reader must not be used again
  // before reset()). Call it again after ok: more packets may follow in `in`.
  ParseResult next(std::span<const uint8_t>& in, Frame& frame);

  // Forgets any partial packet and frees the buffer (invalidates the last frame).
  void reset();

  // Bytes of a partial packet held (0 when idle); heap bytes held.
  uint32_t buffered() const { return have_; }
  uint32_t capacity() const { return cap_; }
  uint32_t max_packet_size() const { return max_packet_size_; }

 private:
  ParseResult accumulate(std::span<const uint8_t>& in, Frame& frame);
  bool reserve(uint32_t size);

  uint8_t* buf_ = nullptr;   // partial packet (fixed header included), or null
  uint32_t have_ = 0;        // bytes in buf_
  uint32_t cap_ = 0;         // bytes allocated at buf_
  uint32_t total_ = 0;       // wire size of the partial packet once its header is known
  uint32_t max_packet_size_;
};

}  // namespace mqttd

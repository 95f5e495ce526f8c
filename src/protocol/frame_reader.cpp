// FrameReader: zero-copy framing of whole packets, reassembly of split ones.
#include "mqttd/frame_reader.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "mqttd/varint.h"

namespace mqttd {
namespace {

constexpr uint32_t kMinBuffer = 64;

struct HeaderScan {
  ParseStatus status;
  ReasonCode reason;
  uint32_t remaining;
  uint32_t header_len;
  uint32_t needed;  // need_more: bytes missing at least
};

// The fewest bytes still missing from a packet whose first `len` bytes (the type byte and
// len - 1 continuation bytes of the length, len <= 4) are known. A length ends on a
// non-zero byte (MQTT-1.5.5-1), so the next byte is at least 1: the smallest packet
// these bytes can begin has a length of partial + 128^(len-1) and one more length byte.
uint32_t header_needed(const uint8_t* p, size_t len) {
  if (len == 1) return 1;
  uint32_t partial = 0;
  for (size_t i = 1; i < len; ++i) partial |= static_cast<uint32_t>(p[i] & 0x7F) << (7 * (i - 1));
  const uint32_t smallest = static_cast<uint32_t>(len + 1) + partial + (uint32_t{1} << (7 * (len - 1)));
  return smallest - static_cast<uint32_t>(len);
}

// Reads a fixed header from [p, p + len) (len >= 1).
HeaderScan scan_header(const uint8_t* p, size_t len, uint32_t max_packet_size) {
  ReasonCode rc = check_fixed_header(p[0]);
  if (rc != ReasonCode::success) return {ParseStatus::error, rc, 0, 0, 0};
  uint32_t remaining = 0;
  size_t used = 0;
  switch (decode_varint(p + 1, len - 1, remaining, used)) {
    case VarintStatus::need_more:
      return {ParseStatus::need_more, ReasonCode::success, 0, 0, header_needed(p, len)};
    case VarintStatus::malformed:
      return {ParseStatus::error, ReasonCode::malformed_packet, 0, 0, 0};
    case VarintStatus::ok:
      break;
  }
  const auto header_len = static_cast<uint32_t>(1 + used);
  if (uint64_t{header_len} + remaining > max_packet_size) {
    return {ParseStatus::error, ReasonCode::packet_too_large, 0, 0, 0};
  }
  return {ParseStatus::ok, ReasonCode::success, remaining, header_len, 0};
}

void fill(Frame& f, const uint8_t* p, uint32_t header_len, uint32_t remaining) {
  f.header.type = static_cast<PacketType>(p[0] >> 4);
  f.header.flags = p[0] & 0x0F;
  f.header.remaining_length = remaining;
  f.body = {p + header_len, remaining};
}

}  // namespace

ReasonCode check_fixed_header(uint8_t first_byte) {
  const auto type = static_cast<PacketType>(first_byte >> 4);
  const uint8_t flags = first_byte & 0x0F;
  switch (type) {
    case PacketType::reserved:
      return ReasonCode::malformed_packet;
    case PacketType::publish:
      return ((flags >> 1) & 3) == 3 ? ReasonCode::malformed_packet : ReasonCode::success;
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe:
      // 1010 is MQTT 3.1's retry with DUP; the decoders refuse it at levels 4 and 5.
      return flags == 0x2 || flags == 0xA ? ReasonCode::success : ReasonCode::malformed_packet;
    default:
      return flags == 0 ? ReasonCode::success : ReasonCode::malformed_packet;
  }
}

size_t Frame::wire_size() const {
  return 1 + varint_size(header.remaining_length) + header.remaining_length;
}

FrameReader::FrameReader(uint32_t max_packet_size)
    : max_packet_size_(max_packet_size == 0 || max_packet_size > kMaxPacketSize ? kMaxPacketSize
                                                                                 : max_packet_size) {}

FrameReader::~FrameReader() { std::free(buf_); }

FrameReader::FrameReader(FrameReader&& o) noexcept
    : buf_(std::exchange(o.buf_, nullptr)),
      have_(std::exchange(o.have_, 0)),
      cap_(std::exchange(o.cap_, 0)),
      total_(std::exchange(o.total_, 0)),
      max_packet_size_(o.max_packet_size_) {}

FrameReader& FrameReader::operator=(FrameReader&& o) noexcept {
  if (this != &o) {
    std::free(buf_);
    buf_ = std::exchange(o.buf_, nullptr);
    have_ = std::exchange(o.have_, 0);
    cap_ = std::exchange(o.cap_, 0);
    total_ = std::exchange(o.total_, 0);
    max_packet_size_ = o.max_packet_size_;
  }
  return *this;
}

void FrameReader::reset() {
  std::free(buf_);
  buf_ = nullptr;
  have_ = cap_ = total_ = 0;
}

bool FrameReader::reserve(uint32_t size) {
  if (size <= cap_) return true;
  // Grow geometrically, but never past the packet: the buffer follows the bytes that
  // actually arrived, not the length a peer announced.
  uint32_t cap = cap_ < kMinBuffer ? kMinBuffer : cap_;
  while (cap < size) cap = cap > (UINT32_MAX / 2) ? UINT32_MAX : cap * 2;
  if (total_ != 0 && cap > total_) cap = total_;
  if (cap < size) cap = size;
  void* p = std::realloc(buf_, cap);
  if (!p) return false;
  buf_ = static_cast<uint8_t*>(p);
  cap_ = cap;
  return true;
}

ParseResult FrameReader::next(std::span<const uint8_t>& in, Frame& frame) {
  if (total_ != 0 && have_ == total_) reset();  // the reassembled packet was delivered
  if (have_ == 0) {
    // Fast path: a whole packet at the front of `in` is returned in place.
    if (in.empty()) return {ParseStatus::need_more, ReasonCode::success, 1};
    HeaderScan h = scan_header(in.data(), in.size(), max_packet_size_);
    if (h.status == ParseStatus::error) return {ParseStatus::error, h.reason, 0};
    if (h.status == ParseStatus::ok && in.size() - h.header_len >= h.remaining) {
      fill(frame, in.data(), h.header_len, h.remaining);
      in = in.subspan(h.header_len + size_t{h.remaining});
      return {ParseStatus::ok, ReasonCode::success, 0};
    }
    // Split: keep what there is.
  }
  return accumulate(in, frame);
}

ParseResult FrameReader::accumulate(std::span<const uint8_t>& in, Frame& frame) {
  if (total_ == 0) {
    // The fixed header is still incomplete: take bytes one at a time up to its end (at
    // most 5), so nothing past it is copied before the size is known.
    uint32_t needed = have_ == 0 ? 1 : header_needed(buf_, have_);
    while (!in.empty()) {
      if (!reserve(have_ + 1)) return {ParseStatus::error, ReasonCode::implementation_specific_error, 0};
      buf_[have_++] = in[0];
      in = in.subspan(1);
      HeaderScan h = scan_header(buf_, have_, max_packet_size_);
      if (h.status == ParseStatus::error) return {ParseStatus::error, h.reason, 0};
      if (h.status == ParseStatus::ok) {
        total_ = h.header_len + h.remaining;
        break;
      }
      needed = h.needed;
    }
    if (total_ == 0) return {ParseStatus::need_more, ReasonCode::success, needed};
  }
  const uint32_t want = total_ - have_;
  const auto take = static_cast<uint32_t>(in.size() < want ? in.size() : want);
  if (take) {
    if (!reserve(have_ + take)) return {ParseStatus::error, ReasonCode::implementation_specific_error, 0};
    std::memcpy(buf_ + have_, in.data(), take);
    have_ += take;
    in = in.subspan(take);
  }
  if (have_ < total_) return {ParseStatus::need_more, ReasonCode::success, total_ - have_};
  uint32_t remaining = 0;
  size_t used = 0;
  decode_varint(buf_ + 1, have_ - 1, remaining, used);
  fill(frame, buf_, static_cast<uint32_t>(1 + used), remaining);
  return {ParseStatus::ok, ReasonCode::success, 0};
}

}  // namespace mqttd

// libFuzzer target for the codec: arbitrary bytes through FrameReader, whole and split
// where the input says, and the decoder of every framed packet type, for the protocol
// version the first input byte selects. What it checks:
//   - nothing reads outside a packet: each frame is decoded from a heap copy of exactly
//     its body, so ASan catches a read one byte past it;
//   - whatever decodes re-encodes (encoded_size exact), re-frames and decodes again to an
//     equal packet: decode(encode(decode(x))) == decode(x); at level 4, where every
//     packet has one encoding, encode(decode(x)) == x byte for byte; at level 3 the size
//     is the same; at level 5 no larger (properties may come out in another order, an
//     omittable reason code or empty property block is omitted);
//   - a decoded PUBLISH re-sent through the per-receiver header (encode_publish_header
//     with forwarded properties, expiry, alias and subscription ids) decodes the same;
//   - the stream framed whole and in pieces gives the same frames, a need-more count is
//     never more than the bytes that actually complete the next packet, and each frame's
//     wire_size() is what the reader consumed for it.
// Built with -Dfuzz=true (clang; ASan+UBSan with -Dsanitize=address).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "mqttd/codec.h"

using namespace mqttd;

namespace {

[[noreturn]] void fail() { std::abort(); }

// The frame's bytes on the wire, rebuilt from its header and body.
std::vector<uint8_t> wire_of(const Frame& f) {
  std::vector<uint8_t> out(1 + varint_size(f.header.remaining_length));
  out[0] = static_cast<uint8_t>((static_cast<uint8_t>(f.header.type) << 4) | f.header.flags);
  encode_varint(f.header.remaining_length, out.data() + 1);
  out.insert(out.end(), f.body.begin(), f.body.end());
  return out;
}

template <typename P, typename Decode>
void check_round_trip(const Frame& original, const P& p, ProtocolVersion v, Decode decode) {
  std::vector<uint8_t> buf(encoded_size(p, v));
  if (buf.empty() || encode(p, v, buf) != buf.size()) fail();
  const size_t wire = original.wire_size();
  if (v == ProtocolVersion::v4 && buf != wire_of(original)) fail();
  if (v == ProtocolVersion::v3 && buf.size() != wire) fail();
  if (v == ProtocolVersion::v5 && buf.size() > wire) fail();
  Frame f;
  if (parse_frame(buf, f) != ReasonCode::success) fail();
  P again;
  if (decode(f, again) != ReasonCode::success) fail();
  if (!(again == p)) fail();
}

// The broker's delivery path: the same PUBLISH as a per-receiver header plus the payload.
void check_publish_header(const Publish& p, ProtocolVersion v, Side side) {
  PublishHeader h;
  h.topic = p.topic;
  h.qos = p.qos;
  h.packet_id = p.packet_id;
  h.retain = p.retain;
  h.dup = p.dup;
  std::vector<uint8_t> fwd;
  if (v == ProtocolVersion::v5) {
    const Properties& pr = p.properties;
    fwd.resize(forwarded_properties_size(pr));
    if (encode_forwarded_properties(pr, fwd) != fwd.size()) fail();
    h.forwarded_properties = fwd;
    if (pr.has(PropertyId::message_expiry_interval)) h.message_expiry = pr.message_expiry_interval;
    if (pr.has(PropertyId::topic_alias)) h.topic_alias = pr.topic_alias;
    h.subscription_ids = pr.subscription_ids;
  }
  const size_t head = publish_header_size(h, v, p.payload.size());
  if (head == 0) fail();
  std::vector<uint8_t> wire(head);
  if (encode_publish_header(h, v, p.payload.size(), wire) != head) fail();
  wire.insert(wire.end(), p.payload.begin(), p.payload.end());
  Frame g;
  Publish q;
  if (parse_frame(wire, g) != ReasonCode::success || decode_publish(g, v, side, q) != ReasonCode::success) fail();
  if (!(q == p)) fail();
  // Retransmission: DUP set in place on the same header.
  if (p.qos != 0) {
    set_publish_dup({wire.data(), head});
    if (parse_frame(wire, g) != ReasonCode::success || decode_publish(g, v, side, q) != ReasonCode::success ||
        !q.dup) {
      fail();
    }
  }
}

void decode_frame(const Frame& f, ProtocolVersion v) {
  switch (f.header.type) {
    case PacketType::connect: {
      Connect p;
      if (decode_connect(f, p) == ReasonCode::success) {
        check_round_trip(f, p, p.version, [](const Frame& g, Connect& o) { return decode_connect(g, o); });
      }
      break;
    }
    case PacketType::connack: {
      ConnAck p;
      auto d = [v](const Frame& g, ConnAck& o) { return decode_connack(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::publish: {
      for (Side side : {Side::client, Side::server}) {
        Publish p;
        auto d = [v, side](const Frame& g, Publish& o) { return decode_publish(g, v, side, o); };
        if (d(f, p) == ReasonCode::success) {
          check_round_trip(f, p, v, d);
          check_publish_header(p, v, side);
        }
      }
      break;
    }
    case PacketType::puback: {
      PubAck p;
      auto d = [v](const Frame& g, PubAck& o) { return decode_puback(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::pubrec: {
      PubRec p;
      auto d = [v](const Frame& g, PubRec& o) { return decode_pubrec(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::pubrel: {
      PubRel p;
      auto d = [v](const Frame& g, PubRel& o) { return decode_pubrel(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::pubcomp: {
      PubComp p;
      auto d = [v](const Frame& g, PubComp& o) { return decode_pubcomp(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::subscribe: {
      Subscribe p;
      auto d = [v](const Frame& g, Subscribe& o) { return decode_subscribe(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::suback: {
      SubAck p;
      auto d = [v](const Frame& g, SubAck& o) { return decode_suback(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::unsubscribe: {
      Unsubscribe p;
      auto d = [v](const Frame& g, Unsubscribe& o) { return decode_unsubscribe(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::unsuback: {
      UnsubAck p;
      auto d = [v](const Frame& g, UnsubAck& o) { return decode_unsuback(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::pingreq:
      if (decode_pingreq(f) == ReasonCode::success) {
        check_round_trip(f, PingReq{}, v, [](const Frame& g, PingReq&) { return decode_pingreq(g); });
      }
      break;
    case PacketType::pingresp:
      if (decode_pingresp(f) == ReasonCode::success) {
        check_round_trip(f, PingResp{}, v, [](const Frame& g, PingResp&) { return decode_pingresp(g); });
      }
      break;
    case PacketType::disconnect: {
      for (Side side : {Side::client, Side::server}) {
        Disconnect p;
        auto d = [v, side](const Frame& g, Disconnect& o) { return decode_disconnect(g, v, side, o); };
        if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      }
      break;
    }
    case PacketType::auth: {
      Auth p;
      auto d = [v](const Frame& g, Auth& o) { return decode_auth(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(f, p, v, d);
      break;
    }
    case PacketType::reserved:
      fail();  // the reader never frames type 0
  }
}

// Decodes `f` from a heap block of exactly its body's size.
void decode_isolated(const Frame& f, ProtocolVersion v) {
  const size_t n = f.body.size();
  std::unique_ptr<uint8_t[]> copy(new uint8_t[n ? n : 1]);
  if (n) std::memcpy(copy.get(), f.body.data(), n);
  Frame g = f;
  g.body = {copy.get(), n};
  decode_frame(g, v);
}

}  // namespace

// Input: [version selector][split seed][stream bytes...].
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const ProtocolVersion v = static_cast<ProtocolVersion>(3 + data[0] % 3);
  uint32_t split = data[1];
  std::span<const uint8_t> stream(data + 2, size - 2);
  // The same stream framed whole and in pieces must give the same frames.
  std::vector<std::vector<uint8_t>> whole;
  {
    FrameReader r(1 << 20);
    std::span<const uint8_t> in = stream;
    Frame f;
    for (;;) {
      const size_t before = in.size();
      ParseResult res = r.next(in, f);
      if (res.status != ParseStatus::ok) break;
      if (before - in.size() != f.wire_size()) fail();
      whole.emplace_back(f.body.begin(), f.body.end());
      decode_isolated(f, v);
    }
  }
  FrameReader r(1 << 20);
  size_t pos = 0, n = 0;
  uint64_t owed = 0, fed = 0;  // the last need-more count, and the bytes given since
  bool broken = false;
  while (pos < stream.size() && !broken) {
    size_t chunk = 1 + (split * 7 + pos) % 13;
    split = split * 1103515245u + 12345u;
    if (chunk > stream.size() - pos) chunk = stream.size() - pos;
    std::span<const uint8_t> in = stream.subspan(pos, chunk);
    pos += chunk;
    Frame f;
    for (;;) {
      const size_t before = in.size();
      ParseResult res = r.next(in, f);
      fed += before - in.size();
      if (res.status == ParseStatus::error) {
        broken = true;
        break;
      }
      if (res.status == ParseStatus::need_more) {
        if (!in.empty() || res.needed == 0) fail();
        owed = res.needed;
        fed = 0;
        break;
      }
      if (fed < owed) fail();  // it said more bytes were needed than the packet took
      owed = fed = 0;
      if (n >= whole.size() || whole[n].size() != f.body.size() ||
          !std::equal(f.body.begin(), f.body.end(), whole[n].begin())) {
        fail();
      }
      ++n;
    }
  }
  if (!broken && n != whole.size()) fail();
  return 0;
}

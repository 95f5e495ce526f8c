// libFuzzer target for the codec: arbitrary bytes through FrameReader (split where the
// input says) and the decoder of every framed packet type, for the protocol version the
// first input byte selects. Whatever decodes is re-encoded, re-framed and decoded again,
// and must come back equal. Built with -Dfuzz=true (clang; ASan+UBSan with
// -Dsanitize=address).
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "mqttd/codec.h"

using namespace mqttd;

namespace {

[[noreturn]] void fail() { std::abort(); }

template <typename P, typename Decode>
void check_round_trip(const P& p, ProtocolVersion v, Decode decode) {
  std::vector<uint8_t> buf(encoded_size(p, v));
  if (encode(p, v, buf) != buf.size()) fail();
  Frame f;
  if (parse_frame(buf, f) != ReasonCode::success) fail();
  P again;
  if (decode(f, again) != ReasonCode::success) fail();
  if (!(again == p)) fail();
}

void decode_frame(const Frame& f, ProtocolVersion v) {
  switch (f.header.type) {
    case PacketType::connect: {
      Connect p;
      if (decode_connect(f, p) == ReasonCode::success) {
        check_round_trip(p, p.version, [](const Frame& g, Connect& o) { return decode_connect(g, o); });
      }
      break;
    }
    case PacketType::connack: {
      ConnAck p;
      auto d = [v](const Frame& g, ConnAck& o) { return decode_connack(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::publish: {
      for (Side side : {Side::client, Side::server}) {
        Publish p;
        auto d = [v, side](const Frame& g, Publish& o) { return decode_publish(g, v, side, o); };
        if (d(f, p) == ReasonCode::success) {
          check_round_trip(p, v, d);
          // The zero-copy header must produce the same packet.
          PublishHeader h;
          h.topic = p.topic;
          h.qos = p.qos;
          h.packet_id = p.packet_id;
          h.retain = p.retain;
          h.dup = p.dup;
          uint8_t head[64];
          if (v != ProtocolVersion::v5 && p.topic.size() < 40) {
            size_t n = encode_publish_header(h, v, p.payload.size(), head);
            if (n == 0 || n != publish_header_size(h, v, p.payload.size())) fail();
            std::vector<uint8_t> wire(head, head + n);
            wire.insert(wire.end(), p.payload.begin(), p.payload.end());
            Frame g;
            Publish q;
            if (parse_frame(wire, g) != ReasonCode::success || d(g, q) != ReasonCode::success || !(q == p)) fail();
          }
        }
      }
      break;
    }
    case PacketType::puback: {
      PubAck p;
      auto d = [v](const Frame& g, PubAck& o) { return decode_puback(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::pubrec: {
      PubRec p;
      auto d = [v](const Frame& g, PubRec& o) { return decode_pubrec(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::pubrel: {
      PubRel p;
      auto d = [v](const Frame& g, PubRel& o) { return decode_pubrel(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::pubcomp: {
      PubComp p;
      auto d = [v](const Frame& g, PubComp& o) { return decode_pubcomp(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::subscribe: {
      Subscribe p;
      auto d = [v](const Frame& g, Subscribe& o) { return decode_subscribe(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::suback: {
      SubAck p;
      auto d = [v](const Frame& g, SubAck& o) { return decode_suback(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::unsubscribe: {
      Unsubscribe p;
      auto d = [v](const Frame& g, Unsubscribe& o) { return decode_unsubscribe(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::unsuback: {
      UnsubAck p;
      auto d = [v](const Frame& g, UnsubAck& o) { return decode_unsuback(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::pingreq:
      if (decode_pingreq(f) == ReasonCode::success) {
        check_round_trip(PingReq{}, v, [](const Frame& g, PingReq&) { return decode_pingreq(g); });
      }
      break;
    case PacketType::pingresp:
      if (decode_pingresp(f) == ReasonCode::success) {
        check_round_trip(PingResp{}, v, [](const Frame& g, PingResp&) { return decode_pingresp(g); });
      }
      break;
    case PacketType::disconnect: {
      for (Side side : {Side::client, Side::server}) {
        Disconnect p;
        auto d = [v, side](const Frame& g, Disconnect& o) { return decode_disconnect(g, v, side, o); };
        if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      }
      break;
    }
    case PacketType::auth: {
      Auth p;
      auto d = [v](const Frame& g, Auth& o) { return decode_auth(g, v, o); };
      if (d(f, p) == ReasonCode::success) check_round_trip(p, v, d);
      break;
    }
    case PacketType::reserved:
      fail();  // the reader never frames type 0
  }
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
      ParseResult res = r.next(in, f);
      if (res.status != ParseStatus::ok) break;
      whole.emplace_back(f.body.begin(), f.body.end());
      decode_frame(f, v);
    }
  }
  FrameReader r(1 << 20);
  size_t pos = 0, n = 0;
  bool broken = false;
  while (pos < stream.size() && !broken) {
    size_t chunk = 1 + (split * 7 + pos) % 13;
    split = split * 1103515245u + 12345u;
    if (chunk > stream.size() - pos) chunk = stream.size() - pos;
    std::span<const uint8_t> in = stream.subspan(pos, chunk);
    pos += chunk;
    Frame f;
    for (;;) {
      ParseResult res = r.next(in, f);
      if (res.status == ParseStatus::error) {
        broken = true;
        break;
      }
      if (res.status == ParseStatus::need_more) {
        if (!in.empty() || res.needed == 0) fail();
        break;
      }
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

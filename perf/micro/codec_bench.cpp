// Codec micro-benchmarks: decode and encode of a QoS 1 PUBLISH with a 38-byte topic and a
// 64-byte payload (one packet, 64 coalesced in one buffer, and the per-receiver header
// used for zero-copy delivery), and of an MQTT 5 CONNECT with properties and a will.
// items_per_second is packets per second on one core.
#include <benchmark/benchmark.h>

#include <vector>

#include "mqttd/codec.h"

using namespace mqttd;

namespace {

const std::vector<uint8_t> kPayload(64, 'x');

std::vector<uint8_t> publish_bytes(ProtocolVersion v) {
  Publish p;
  p.topic = "sensors/building-1/floor-2/temperature";
  p.payload = kPayload;
  p.qos = 1;
  p.packet_id = 4242;
  std::vector<uint8_t> out(encoded_size(p, v));
  encode(p, v, out);
  return out;
}

Connect sample_connect() {
  Connect c;
  c.version = ProtocolVersion::v5;
  c.client_id = "bench-client-000001";
  c.keep_alive = 60;
  c.has_username = true;
  c.username = "user";
  c.properties.set_session_expiry_interval(3600);
  c.properties.set_receive_maximum(100);
  c.properties.set_maximum_packet_size(1 << 20);
  c.properties.set_topic_alias_maximum(16);
  c.properties.add_user_property("region", "eu-west");
  c.has_will = true;
  c.will.topic = "clients/bench-client-000001/status";
  c.will.payload = kPayload;
  c.will.qos = 1;
  c.will.properties.set_will_delay_interval(5);
  return c;
}

void BM_DecodePublish(benchmark::State& state) {
  const auto v = static_cast<ProtocolVersion>(state.range(0));
  const std::vector<uint8_t> bytes = publish_bytes(v);
  FrameReader reader(1 << 20);
  Publish p;
  for (auto _ : state) {
    std::span<const uint8_t> in = bytes;
    Frame f;
    reader.next(in, f);
    ReasonCode rc = decode_publish(f, v, Side::server, p);
    benchmark::DoNotOptimize(rc);
    benchmark::DoNotOptimize(p.payload.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodePublish)->Arg(4)->Arg(5);

// What a receive completion looks like under load: many PUBLISHes coalesced in one
// buffer, framed in place and decoded one after the other.
void BM_DecodePublishStream(benchmark::State& state) {
  const auto v = static_cast<ProtocolVersion>(state.range(0));
  const std::vector<uint8_t> one = publish_bytes(v);
  constexpr size_t kPackets = 64;
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < kPackets; ++i) bytes.insert(bytes.end(), one.begin(), one.end());
  FrameReader reader(1 << 20);
  Publish p;
  for (auto _ : state) {
    std::span<const uint8_t> in = bytes;
    Frame f;
    while (reader.next(in, f).status == ParseStatus::ok) {
      ReasonCode rc = decode_publish(f, v, Side::server, p);
      benchmark::DoNotOptimize(rc);
      benchmark::DoNotOptimize(p.payload.data());
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kPackets));
}
BENCHMARK(BM_DecodePublishStream)->Arg(4)->Arg(5);

void BM_EncodePublish(benchmark::State& state) {
  const auto v = static_cast<ProtocolVersion>(state.range(0));
  Publish p;
  p.topic = "sensors/building-1/floor-2/temperature";
  p.payload = kPayload;
  p.qos = 1;
  p.packet_id = 4242;
  uint8_t buf[256];
  for (auto _ : state) {
    size_t n = encode(p, v, buf);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodePublish)->Arg(4)->Arg(5);

// The broker's outbound path: a header per receiver, payload sent from the shared buffer.
void BM_EncodePublishHeader(benchmark::State& state) {
  const auto v = static_cast<ProtocolVersion>(state.range(0));
  const uint32_t ids[] = {7};
  PublishHeader h;
  h.topic = "sensors/building-1/floor-2/temperature";
  h.qos = 1;
  if (v == ProtocolVersion::v5) h.subscription_ids = ids;
  uint8_t buf[64];
  uint16_t id = 1;
  for (auto _ : state) {
    h.packet_id = id++;
    if (id == 0) id = 1;
    size_t n = encode_publish_header(h, v, kPayload.size(), buf);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodePublishHeader)->Arg(4)->Arg(5);

void BM_DecodeConnect(benchmark::State& state) {
  const Connect c = sample_connect();
  std::vector<uint8_t> bytes(encoded_size(c, c.version));
  encode(c, c.version, bytes);
  FrameReader reader(1 << 20);
  Connect out;
  for (auto _ : state) {
    std::span<const uint8_t> in = bytes;
    Frame f;
    reader.next(in, f);
    ReasonCode rc = decode_connect(f, out);
    benchmark::DoNotOptimize(rc);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeConnect);

void BM_EncodeConnect(benchmark::State& state) {
  const Connect c = sample_connect();
  uint8_t buf[512];
  for (auto _ : state) {
    size_t n = encode(c, c.version, buf);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeConnect);

}  // namespace

BENCHMARK_MAIN();

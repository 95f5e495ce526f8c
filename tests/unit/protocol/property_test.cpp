// Property test: random valid packets of every type and version, encoded into one
// stream, fed to a FrameReader split at random points, decode to what was encoded.
#include <deque>
#include <random>
#include <variant>

#include "test_util.h"

using namespace mqttd;
using namespace mqttd::test;

namespace {

using Any = std::variant<Connect, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck,
                         Unsubscribe, UnsubAck, PingReq, PingResp, Disconnect, Auth>;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  uint32_t num(uint32_t lo, uint32_t hi) { return std::uniform_int_distribution<uint32_t>(lo, hi)(rng_); }
  bool coin() { return num(0, 1) == 1; }

  std::string_view text(size_t max_len) {
    static const char* kPieces[] = {"a", "b", "z", "0", " ", "-", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "/"};
    std::string s;
    size_t n = num(0, static_cast<uint32_t>(max_len));
    for (size_t i = 0; i < n; ++i) s += kPieces[num(0, 9)];
    return keep(std::move(s));
  }
  std::string_view topic() {
    std::string s;
    size_t levels = num(1, 4);
    for (size_t i = 0; i < levels; ++i) {
      if (i) s += '/';
      s += std::string(num(0, 5), static_cast<char>('a' + num(0, 25)));
    }
    if (s.empty() || s == "/" ) s = "t";
    return keep(std::move(s));
  }
  std::string_view filter() {
    std::string s = num(0, 5) == 0 ? "$share/g" + std::to_string(num(0, 9)) + "/" : "";
    size_t levels = num(1, 4);
    for (size_t i = 0; i < levels; ++i) {
      if (i) s += '/';
      uint32_t k = num(0, 5);
      if (k == 0) {
        s += '+';
      } else if (k == 1 && i + 1 == levels) {
        s += '#';
      } else {
        s += std::string(num(1, 4), static_cast<char>('a' + num(0, 25)));
      }
    }
    return keep(std::move(s));
  }
  std::span<const uint8_t> blob(size_t max_len) {
    std::string s(num(0, static_cast<uint32_t>(max_len)), '\0');
    for (char& c : s) c = static_cast<char>(num(0, 255));
    return bytes_of(keep(std::move(s)));
  }

  Properties props(PacketType t, ProtocolVersion v) {
    Properties p;
    if (v != ProtocolVersion::v5) return p;
    auto pick = [&](PropertyId id) { return property_allowed(id, t) && num(0, 2) == 0; };
    if (pick(PropertyId::payload_format_indicator)) p.set_payload_format_indicator(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::message_expiry_interval)) p.set_message_expiry_interval(num(0, UINT32_MAX));
    if (pick(PropertyId::content_type)) p.set_content_type(text(10));
    if (pick(PropertyId::response_topic)) p.set_response_topic(topic());
    if (pick(PropertyId::correlation_data)) p.set_correlation_data(blob(10));
    if (pick(PropertyId::subscription_identifier)) {
      size_t n = t == PacketType::publish ? num(1, 3) : 1;
      for (size_t i = 0; i < n; ++i) p.add_subscription_id(num(1, kMaxVarint));
    }
    if (pick(PropertyId::session_expiry_interval) && t != PacketType::disconnect) {
      p.set_session_expiry_interval(num(0, UINT32_MAX));
    }
    if (pick(PropertyId::assigned_client_identifier)) p.set_assigned_client_identifier(text(8));
    if (pick(PropertyId::server_keep_alive)) p.set_server_keep_alive(static_cast<uint16_t>(num(0, 65535)));
    if (pick(PropertyId::authentication_method) || t == PacketType::auth) p.set_authentication_method(text(8));
    if (pick(PropertyId::authentication_data) && p.has(PropertyId::authentication_method)) {
      p.set_authentication_data(blob(8));
    }
    if (pick(PropertyId::request_problem_information)) p.set_request_problem_information(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::will_delay_interval)) p.set_will_delay_interval(num(0, UINT32_MAX));
    if (pick(PropertyId::request_response_information)) p.set_request_response_information(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::response_information)) p.set_response_information(text(8));
    if (pick(PropertyId::server_reference)) p.set_server_reference(text(8));
    if (pick(PropertyId::reason_string)) p.set_reason_string(text(12));
    if (pick(PropertyId::receive_maximum)) p.set_receive_maximum(static_cast<uint16_t>(num(1, 65535)));
    if (pick(PropertyId::topic_alias_maximum)) p.set_topic_alias_maximum(static_cast<uint16_t>(num(0, 65535)));
    if (pick(PropertyId::topic_alias)) p.set_topic_alias(static_cast<uint16_t>(num(1, 65535)));
    if (pick(PropertyId::maximum_qos)) p.set_maximum_qos(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::retain_available)) p.set_retain_available(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::maximum_packet_size)) p.set_maximum_packet_size(num(1, UINT32_MAX));
    if (pick(PropertyId::wildcard_subscription_available)) p.set_wildcard_subscription_available(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::subscription_identifier_available)) p.set_subscription_identifier_available(static_cast<uint8_t>(num(0, 1)));
    if (pick(PropertyId::shared_subscription_available)) p.set_shared_subscription_available(static_cast<uint8_t>(num(0, 1)));
    if (num(0, 2) == 0) {
      size_t n = num(1, 3);
      for (size_t i = 0; i < n; ++i) p.add_user_property(text(5), text(5));
    }
    return p;
  }

  Any packet(ProtocolVersion v) {
    const bool v5 = v == ProtocolVersion::v5;
    auto id = [&] { return static_cast<uint16_t>(num(1, 65535)); };
    switch (num(1, v5 ? 15 : 14)) {
      case 1: {
        Connect c;
        c.version = v;
        c.clean_start = coin();
        c.keep_alive = static_cast<uint16_t>(num(0, 65535));
        c.client_id = v == ProtocolVersion::v5 || c.clean_start ? text(10) : "id";
        if (v == ProtocolVersion::v3) c.client_id = "c3";
        c.has_will = coin();
        if (c.has_will) {
          c.will.topic = topic();
          c.will.payload = blob(20);
          c.will.qos = static_cast<uint8_t>(num(0, 2));
          c.will.retain = coin();
          c.will.properties = props(kWillProperties, v);
        }
        c.has_username = coin();
        if (c.has_username) c.username = text(6);
        c.has_password = (v5 || c.has_username) && coin();
        if (c.has_password) c.password = blob(6);
        c.properties = props(PacketType::connect, v);
        return c;
      }
      case 2: {
        ConnAck a;
        static const ReasonCode kV3[] = {ReasonCode::success, ReasonCode::unsupported_protocol_version,
                                          ReasonCode::client_identifier_not_valid, ReasonCode::server_unavailable,
                                          ReasonCode::bad_user_name_or_password, ReasonCode::not_authorized};
        a.reason = v5 && coin() ? ReasonCode::quota_exceeded : kV3[num(0, 5)];
        a.session_present = v != ProtocolVersion::v3 && a.reason == ReasonCode::success && coin();
        a.properties = props(PacketType::connack, v);
        return a;
      }
      case 3: {
        Publish p;
        p.qos = static_cast<uint8_t>(num(0, 2));
        p.packet_id = p.qos ? id() : 0;
        p.dup = p.qos && coin();
        p.retain = coin();
        p.topic = topic();
        p.payload = blob(num(0, 4) == 0 ? 2000 : 30);
        p.properties = props(PacketType::publish, v);
        if (p.properties.has(PropertyId::topic_alias) && coin()) p.topic = {};
        return p;
      }
      case 4: case 5: case 6: case 7: {
        PublishResponse r;
        r.packet_id = id();
        if (v5) {
          static const ReasonCode kAck[] = {ReasonCode::success, ReasonCode::no_matching_subscribers,
                                            ReasonCode::not_authorized, ReasonCode::quota_exceeded};
          r.reason = kAck[num(0, 3)];
        }
        uint32_t k = num(4, 7);
        if (k >= 6 && v5) r.reason = coin() ? ReasonCode::success : ReasonCode::packet_identifier_not_found;
        if (k == 4) { PubAck a; static_cast<PublishResponse&>(a) = r; a.properties = props(PacketType::puback, v); return a; }
        if (k == 5) { PubRec a; static_cast<PublishResponse&>(a) = r; a.properties = props(PacketType::pubrec, v); return a; }
        if (k == 6) { PubRel a; static_cast<PublishResponse&>(a) = r; a.properties = props(PacketType::pubrel, v); return a; }
        PubComp a; static_cast<PublishResponse&>(a) = r; a.properties = props(PacketType::pubcomp, v); return a;
      }
      case 8: {
        Subscribe s;
        s.packet_id = id();
        size_t n = num(1, 4);
        for (size_t i = 0; i < n; ++i) {
          Subscription x;
          x.filter = filter();
          x.qos = static_cast<uint8_t>(num(0, 2));
          if (v5) {
            x.no_local = !x.filter.starts_with("$share/") && coin();
            x.retain_as_published = coin();
            x.retain_handling = static_cast<uint8_t>(num(0, 2));
          }
          s.subscriptions.push_back(x);
        }
        s.properties = props(PacketType::subscribe, v);
        return s;
      }
      case 9: {
        SubAck a;
        a.packet_id = id();
        size_t n = num(1, 5);
        static const ReasonCode kR[] = {ReasonCode::granted_qos_0, ReasonCode::granted_qos_1,
                                        ReasonCode::granted_qos_2, ReasonCode::unspecified_error,
                                        ReasonCode::topic_filter_invalid};
        for (size_t i = 0; i < n; ++i) a.reasons.push_back(kR[num(0, v5 ? 4 : 3)]);
        a.properties = props(PacketType::suback, v);
        return a;
      }
      case 10: {
        Unsubscribe u;
        u.packet_id = id();
        size_t n = num(1, 4);
        for (size_t i = 0; i < n; ++i) u.filters.push_back(filter());
        u.properties = props(PacketType::unsubscribe, v);
        return u;
      }
      case 11: {
        UnsubAck a;
        a.packet_id = id();
        if (v5) {
          size_t n = num(1, 4);
          for (size_t i = 0; i < n; ++i) a.reasons.push_back(coin() ? ReasonCode::success : ReasonCode::no_subscription_existed);
        }
        a.properties = props(PacketType::unsuback, v);
        return a;
      }
      case 12: return PingReq{};
      case 13: return PingResp{};
      case 14: {
        Disconnect d;
        if (v5) {
          static const ReasonCode kR[] = {ReasonCode::normal_disconnection, ReasonCode::server_shutting_down,
                                          ReasonCode::session_taken_over, ReasonCode::keep_alive_timeout};
          d.reason = kR[num(0, 3)];
        }
        d.properties = props(PacketType::disconnect, v);
        return d;
      }
      default: {
        Auth a;
        static const ReasonCode kR[] = {ReasonCode::success, ReasonCode::continue_authentication,
                                        ReasonCode::re_authenticate};
        a.reason = kR[num(0, 2)];
        a.properties = props(PacketType::auth, v);
        return a;
      }
    }
  }

 private:
  std::string_view keep(std::string s) {
    pool_.push_back(std::move(s));
    return pool_.back();
  }
  std::mt19937_64 rng_;
  std::deque<std::string> pool_;
};

}  // namespace

TEST_CASE("random valid packets, split at random points, decode identically") {
  size_t packets = 0, frames_copied = 0, frames_in_place = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    Gen g(seed);
    const ProtocolVersion v = kAllVersions[seed % 3];
    std::vector<Any> sent;
    std::vector<uint8_t> stream;
    size_t n = g.num(1, 40);
    for (size_t i = 0; i < n; ++i) {
      sent.push_back(g.packet(v));
      std::visit([&](const auto& p) {
        auto bytes = encode_vec(p, v);
        stream.insert(stream.end(), bytes.begin(), bytes.end());
      }, sent.back());
    }
    FrameReader reader(0);
    size_t got = 0;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t chunk = g.num(0, 3) == 0 ? 1 : g.num(1, 200);
      chunk = std::min(chunk, stream.size() - pos);
      std::span<const uint8_t> in(stream.data() + pos, chunk);
      pos += chunk;
      Frame f;
      for (;;) {
        ParseResult r = reader.next(in, f);
        REQUIRE(r.status != ParseStatus::error);
        if (r.status == ParseStatus::need_more) {
          CHECK(r.needed >= 1);
          break;
        }
        bool in_place = f.body.empty() || (f.body.data() >= stream.data() && f.body.data() < stream.data() + stream.size());
        (in_place ? frames_in_place : frames_copied) += 1;
        REQUIRE(got < sent.size());
        std::visit([&](const auto& want) {
          using P = std::decay_t<decltype(want)>;
          P out;
          ReasonCode rc = decode_as(f, v, out);
          CAPTURE(seed);
          CAPTURE(packet_type_name(f.header.type));
          REQUIRE_MESSAGE(rc == ReasonCode::success, reason_name(rc));
          CHECK(out == want);
        }, sent[got]);
        ++got;
      }
    }
    CHECK(got == sent.size());
    CHECK(reader.buffered() == 0);
    Frame f;
    std::span<const uint8_t> none;
    reader.next(none, f);
    CHECK(reader.capacity() == 0);
    packets += got;
  }
  MESSAGE("packets: ", packets, " in place: ", frames_in_place, " reassembled: ", frames_copied);
  CHECK(frames_copied > 0);
  CHECK(frames_in_place > 0);
}

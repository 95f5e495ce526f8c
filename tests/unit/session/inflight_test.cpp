#include "session/inflight.h"

#include <doctest/doctest.h>

#include <set>
#include <vector>

namespace mqttd {
namespace {

OutFlight flight(uint16_t id, uint8_t qos = 1) {
  OutFlight f;
  f.packet_id = id;
  f.qos = qos;
  return f;
}

TEST_CASE("PacketIdSet: insert, erase, contains across the switch to the bitmap and back") {
  PacketIdSet s;
  std::set<uint16_t> model;
  for (uint32_t i = 1; i <= 65535; i += 7) {
    CHECK(s.insert(static_cast<uint16_t>(i)));
    model.insert(static_cast<uint16_t>(i));
  }
  CHECK_FALSE(s.insert(8));  // already there
  CHECK(s.size() == model.size());
  for (uint32_t i = 0; i <= 65535; ++i) {
    CHECK(s.contains(static_cast<uint16_t>(i)) == (model.count(static_cast<uint16_t>(i)) == 1));
  }
  for (uint16_t id : model) CHECK(s.erase(id));
  CHECK(s.empty());
  CHECK_FALSE(s.erase(1));
  // Back to the small form: still a working set.
  CHECK(s.insert(65535));
  CHECK(s.contains(65535));
  CHECK_FALSE(s.contains(1));
}

TEST_CASE("PacketIdSet: the small form near its limit") {
  PacketIdSet s;
  for (uint16_t i = 1; i <= PacketIdSet::kSmall; ++i) CHECK(s.insert(i));
  CHECK(s.erase(3));
  CHECK(s.insert(1000));  // still small
  CHECK(s.insert(1001));  // the switch
  CHECK(s.size() == PacketIdSet::kSmall + 1);
  CHECK(s.contains(1000));
  CHECK(s.contains(1001));
  CHECK_FALSE(s.contains(3));
  CHECK(s.contains(PacketIdSet::kSmall));
}

TEST_CASE("InflightQueue: in-order acknowledgement of a full 65535 window") {
  InflightQueue q;
  for (uint32_t i = 1; i <= 65535; ++i) q.push(flight(static_cast<uint16_t>(i)));
  CHECK(q.size() == 65535);
  for (uint32_t i = 1; i <= 65535; ++i) CHECK(q.in_use(static_cast<uint16_t>(i)));
  for (uint32_t i = 1; i <= 65535; ++i) {
    size_t k = q.find(static_cast<uint16_t>(i));
    REQUIRE(k == 0);
    CHECK(q.at(0).packet_id == i);
    q.erase_at(k);
    CHECK_FALSE(q.in_use(static_cast<uint16_t>(i)));
  }
  CHECK(q.empty());
  CHECK(q.find(1) == InflightQueue::kNone);
}

TEST_CASE("InflightQueue: out-of-order erase keeps send order") {
  InflightQueue q;
  for (uint16_t i = 1; i <= 100; ++i) q.push(flight(i));
  q.erase_at(q.find(50));
  q.erase_at(q.find(1));
  q.erase_at(q.find(100));
  std::vector<uint16_t> left;
  for (size_t k = 0; k < q.size(); ++k) left.push_back(q.at(k).packet_id);
  REQUIRE(left.size() == 97);
  CHECK(left.front() == 2);
  CHECK(left.back() == 99);
  for (size_t k = 1; k < left.size(); ++k) CHECK(left[k - 1] < left[k]);
  CHECK(q.find(50) == InflightQueue::kNone);
  CHECK(q.find(51) == 48);
}

TEST_CASE("InflightQueue: owed entries after a resumption, settled oldest first") {
  InflightQueue q;
  for (uint16_t i = 1; i <= 6; ++i) q.push(flight(i, 2));
  q.at(1).stage = OutFlight::Stage::kAwaitComp;  // id 2: only PUBREL remains
  q.owe_all();
  CHECK(q.owed() == 5);
  CHECK(q.oldest_owed() == 0);
  q.settle(0);                  // id 1 sent again
  CHECK(q.oldest_owed() == 2);  // id 2 is not owed: id 3 is next
  q.erase_at(q.find(4));        // id 4 acknowledged before it was sent again
  CHECK(q.owed() == 3);
  CHECK(q.at(q.oldest_owed()).packet_id == 3);
  q.settle(q.oldest_owed());
  CHECK(q.at(q.oldest_owed()).packet_id == 5);
  q.erase_at(0);  // id 1 acknowledged
  q.erase_at(0);  // id 2 completed
  CHECK(q.at(q.oldest_owed()).packet_id == 5);
  q.settle(q.oldest_owed());
  CHECK(q.at(q.oldest_owed()).packet_id == 6);
  q.settle(q.oldest_owed());
  CHECK(q.owed() == 0);
}

TEST_CASE("InflightQueue: compaction keeps positions and the owed cursor right") {
  InflightQueue q;
  for (uint16_t i = 1; i <= 200; ++i) q.push(flight(i));
  q.owe_all();
  for (uint16_t i = 1; i <= 150; ++i) {
    q.settle(q.oldest_owed());
    q.erase_at(0);
  }
  CHECK(q.size() == 50);
  CHECK(q.owed() == 50);
  CHECK(q.at(q.oldest_owed()).packet_id == 151);
  CHECK(q.find(200) == 49);
}

}  // namespace
}  // namespace mqttd

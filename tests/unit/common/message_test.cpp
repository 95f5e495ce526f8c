#include "common/message.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

using mqttd::Message;
using mqttd::MessageRef;

TEST_CASE("a message holds its topic, properties and payload in one block") {
  std::string payload = "hello";
  uint8_t props[] = {0x01, 0x01};  // payload format indicator = 1
  MessageRef m = MessageRef::adopt(Message::create(
      "a/b", {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()}, props, 1, true, 77));
  CHECK(m->topic() == "a/b");
  CHECK(std::string(reinterpret_cast<const char*>(m->payload().data()), m->payload().size()) == "hello");
  CHECK(m->properties().size() == 2);
  CHECK(m->qos() == 1);
  CHECK(m->retain());
  CHECK(m->expiry_at_ms() == 77);
  CHECK(m->footprint() == sizeof(Message) + 3 + 2 + 5);
}

TEST_CASE("references are counted across copies and threads") {
  MessageRef m = MessageRef::adopt(Message::create("t", {}, {}, 0, false, 0));
  CHECK(m->ref_count_for_test() == 1);
  {
    MessageRef copy = m;
    CHECK(m->ref_count_for_test() == 2);
    MessageRef moved = std::move(copy);
    CHECK(m->ref_count_for_test() == 2);
  }
  CHECK(m->ref_count_for_test() == 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      for (int i = 0; i < 10000; ++i) MessageRef r = m;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(m->ref_count_for_test() == 1);
}

#include "net/out_queue.h"

#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace mqttd {
namespace {

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Everything gather() offers, concatenated.
std::string gathered(const OutQueue& q, int max_iov = 64) {
  iovec iov[64];
  int n = q.gather(iov, max_iov);
  std::string out;
  for (int i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  return out;
}

// Drains the queue as a socket taking `chunk` bytes per send would.
std::string drain(OutQueue& q, size_t chunk) {
  std::string out;
  while (!q.empty()) {
    std::string g = gathered(q);
    size_t n = std::min(chunk, g.size());
    out += g.substr(0, n);
    q.consume(n);
  }
  return out;
}

TEST_CASE("an empty queue holds nothing and gathers nothing") {
  OutQueue q;
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
  iovec iov[4];
  CHECK(q.gather(iov, 4) == 0);
}

TEST_CASE("small copies share inline room; long copies split") {
  OutQueue q;
  q.push_copy(bytes_of("ab"));
  q.push_copy(bytes_of("cd"));
  CHECK(q.items() == 1);
  std::string big(200, 'x');
  q.push_copy(bytes_of(big));
  CHECK(q.bytes() == 204);
  CHECK(gathered(q) == "abcd" + big);
}

TEST_CASE("payloads are referenced, not copied, and released when sent") {
  std::string payload = "hello payload";
  const Message* m = Message::create("t", bytes_of(payload), {}, 0, false, 0);
  {
    OutQueue q;
    q.push_payload(bytes_of(std::string("\x30\x10", 2)), m);
    CHECK(m->ref_count_for_test() == 2);
    iovec iov[4];
    REQUIRE(q.gather(iov, 4) == 2);
    CHECK(iov[1].iov_base == static_cast<const void*>(m->payload().data()));
    q.consume(q.bytes());
    CHECK(q.empty());
    CHECK(m->ref_count_for_test() == 1);
    q.push_payload(bytes_of(std::string("\x30\x10", 2)), m);
    CHECK(m->ref_count_for_test() == 2);
  }  // destroyed with the item queued: the reference goes too
  CHECK(m->ref_count_for_test() == 1);
  m->unref();
}

TEST_CASE("short writes resume at the exact byte, across items and bodies") {
  std::string expect;
  OutQueue q;
  SharedBytes* b = SharedBytes::create(100);
  for (int i = 0; i < 100; ++i) b->data()[i] = static_cast<uint8_t>('A' + i % 26);
  for (int i = 0; i < 20; ++i) {
    std::string head = "h";  // not "h" + std::to_string(i): GCC 12 -Wrestrict false positive
    head += std::to_string(i);
    q.push_shared(bytes_of(head), b);
    expect += head + std::string(reinterpret_cast<const char*>(b->data()), 100);
    q.push_copy(bytes_of("ack"));
    expect += "ack";
    auto* owned = static_cast<uint8_t*>(std::malloc(7));
    std::memcpy(owned, "owned!!", 7);
    q.push_owned(owned, 7);
    expect += "owned!!";
  }
  CHECK(q.bytes() == expect.size());
  for (size_t chunk : {1, 3, 7, 64, 101, 1000}) {
    OutQueue copy;
    // Rebuild the same queue for each chunk size.
    for (int i = 0; i < 20; ++i) {
      std::string head = "h";  // not "h" + std::to_string(i): GCC 12 -Wrestrict false positive
      head += std::to_string(i);
      copy.push_shared(bytes_of(head), b);
      copy.push_copy(bytes_of("ack"));
      auto* owned = static_cast<uint8_t*>(std::malloc(7));
      std::memcpy(owned, "owned!!", 7);
      copy.push_owned(owned, 7);
    }
    CHECK(drain(copy, chunk) == expect);
    CHECK(copy.bytes() == 0);
  }
  q.clear();
  CHECK(q.empty());
  b->unref();  // the last reference: ASan reports a leak if the queue kept one
}

TEST_CASE("gather respects the iovec limit and continues after consume") {
  OutQueue q;
  std::string expect;
  std::string payload(10, 'p');
  const Message* m = Message::create("t", bytes_of(payload), {}, 0, false, 0);
  for (int i = 0; i < 50; ++i) {
    std::string head(1, static_cast<char>('a' + i % 26));
    q.push_payload(bytes_of(head), m);
    expect += head + payload;
  }
  std::string out;
  while (!q.empty()) {
    std::string g = gathered(q, 5);
    CHECK(g.size() <= 3 * 11);
    out += g;
    q.consume(g.size());
  }
  CHECK(out == expect);
  CHECK(m->ref_count_for_test() == 1);
  m->unref();
}

}  // namespace
}  // namespace mqttd

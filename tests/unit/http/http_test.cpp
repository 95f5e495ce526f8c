#include <doctest/doctest.h>

#include "http/http_server.h"

namespace mqttd {
namespace {

TEST_CASE("request lines are parsed; the query string is dropped") {
  std::string_view method, path;
  REQUIRE(parse_http_request("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", method, path));
  CHECK(method == "GET");
  CHECK(path == "/metrics");
  REQUIRE(parse_http_request("HEAD /readyz?verbose=1 HTTP/1.0\r\n\r\n", method, path));
  CHECK(method == "HEAD");
  CHECK(path == "/readyz");
}

TEST_CASE("what is not an HTTP/1.x request line is refused") {
  std::string_view method, path;
  CHECK_FALSE(parse_http_request("\r\n\r\n", method, path));
  CHECK_FALSE(parse_http_request("GET\r\n\r\n", method, path));
  CHECK_FALSE(parse_http_request("GET  HTTP/1.1\r\n\r\n", method, path));
  CHECK_FALSE(parse_http_request("GET metrics HTTP/1.1\r\n\r\n", method, path));
  CHECK_FALSE(parse_http_request("GET /metrics SPDY/3\r\n\r\n", method, path));
  CHECK_FALSE(parse_http_request("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c", method, path));
}

TEST_CASE("responses carry status, type, length and Connection: close") {
  HttpResponse r;
  r.status = 503;
  r.body = "not ready\n";
  std::string out = format_http_response(r, false);
  CHECK(out.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0) == 0);
  CHECK(out.find("Content-Length: 10\r\n") != std::string::npos);
  CHECK(out.find("Connection: close\r\n\r\nnot ready\n") != std::string::npos);
  std::string head = format_http_response(r, true);
  CHECK(head.find("Content-Length: 10\r\n") != std::string::npos);
  CHECK(head.size() == out.size() - r.body.size());
}

}  // namespace
}  // namespace mqttd

// HttpServer: the operators' endpoint (/metrics, /healthz, /readyz), served on one
// worker's io_uring like everything else: a multishot accept, one recv and one send per
// request, Connection: close. It is a control-plane service: a few scrapes a minute, at
// most kMaxConnections at once, each bounded in size and time.
//
// Owned by one worker and driven only from its thread (the worker passes every
// completion tagged Op::kHttp to on_cqe()). The Responder runs on that thread too.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mqttd {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  // Answers a GET/HEAD for `path` (the query string removed).
  using Responder = std::function<HttpResponse(std::string_view path)>;

  static constexpr uint32_t kMaxConnections = 64;
  static constexpr size_t kMaxRequest = 8192;   // request line and headers
  static constexpr uint64_t kTimeoutMs = 5000;  // per request, from accept to last byte

  // `listen_fd` is a listening socket this server now owns. `tag_op` is the operation
  // byte of the worker's completion tags reserved for this server.
  HttpServer(io_uring* ring, int listen_fd, uint8_t tag_op, Responder responder);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Arms the accept. Call once the ring is ready.
  void start();
  // Stops accepting (the listening socket is closed); requests in progress finish.
  void stop_accepting();
  // `now_ms`: CLOCK_MONOTONIC when the completion is handled (request deadlines count
  // from it).
  void on_cqe(const io_uring_cqe* cqe, uint64_t now_ms);
  // Closes requests older than kTimeoutMs. Cheap when there are none.
  void expire(uint64_t now_ms);
  bool idle() const { return live_ == 0; }

 private:
  enum class Step : uint8_t { kAccept = 1, kRecv, kSend, kClose };
  struct Conn;

  uint64_t tag(Step step, uint32_t slot, uint32_t gen) const;
  io_uring_sqe* sqe();
  void arm_accept();
  void arm_recv(Conn& c);
  void arm_send(Conn& c);
  void on_accept(const io_uring_cqe* cqe);
  void on_recv(Conn& c, int res);
  void on_send(Conn& c, int res);
  void respond(Conn& c);

  io_uring* ring_;
  int listen_fd_;
  uint8_t tag_op_;
  bool accepting_ = false;
  Responder responder_;
  std::vector<std::unique_ptr<Conn>> conns_;  // by slot; null when free
  uint32_t live_ = 0;
  uint32_t next_gen_ = 0;
  uint64_t now_ms_ = 0;
};

// Parses the request line of an HTTP/1.x request held whole in `head` (up to the blank
// line). Returns false when it is not one; sets `method` and `path` (query removed).
bool parse_http_request(std::string_view head, std::string_view& method, std::string_view& path);

// The whole response: status line, headers (Content-Length, Connection: close) and,
// unless `head_only`, the body.
std::string format_http_response(const HttpResponse& r, bool head_only);

}  // namespace mqttd

#include "http/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/log.h"

namespace mqttd {

struct HttpServer::Conn {
  int fd = -1;
  uint32_t slot = 0;
  uint32_t gen = 0;
  uint64_t deadline_ms = 0;
  bool busy = false;  // a recv or send is in flight
  bool done = false;  // the response is out (or the peer is gone): close when idle
  std::string in;
  std::string out;
  size_t sent = 0;
  char buf[1024];
};

namespace {

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

bool parse_http_request(std::string_view head, std::string_view& method, std::string_view& path) {
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  if (line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) return false;
  method = line.substr(0, sp1);
  path = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (path.front() != '/') return false;
  size_t q = path.find('?');
  if (q != std::string_view::npos) path = path.substr(0, q);
  return true;
}

std::string format_http_response(const HttpResponse& r, bool head_only) {
  std::string out;
  out.reserve(128 + (head_only ? 0 : r.body.size()));
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += status_text(r.status);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(r.body.size());
  out += "\r\nConnection: close\r\n\r\n";
  if (!head_only) out += r.body;
  return out;
}

HttpServer::HttpServer(io_uring* ring, int listen_fd, uint8_t tag_op, Responder responder)
    : ring_(ring), listen_fd_(listen_fd), tag_op_(tag_op), responder_(std::move(responder)) {
  conns_.resize(kMaxConnections);
}

HttpServer::~HttpServer() {
  for (auto& c : conns_) {
    if (c && c->fd >= 0) ::close(c->fd);
  }
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

// The tag: operation byte, slot in bits 32..55, and the step (8 bits) plus the slot's
// generation (24 bits) in the low word, so a late completion for a reused slot is
// recognised.
uint64_t HttpServer::tag(Step step, uint32_t slot, uint32_t gen) const {
  return (uint64_t{tag_op_} << 56) | (uint64_t{slot & 0xFFFFFF} << 32) |
         (uint64_t{static_cast<uint8_t>(step)} << 24) | (gen & 0xFFFFFF);
}

io_uring_sqe* HttpServer::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(ring_);
  while (s == nullptr) {
    io_uring_submit(ring_);
    s = io_uring_get_sqe(ring_);
  }
  return s;
}

void HttpServer::start() { arm_accept(); }

void HttpServer::stop_accepting() {
  if (listen_fd_ < 0) return;
  if (accepting_) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, tag(Step::kAccept, 0, 0), 0);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(s, tag(Step::kClose, 0, 0));
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void HttpServer::arm_accept() {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, tag(Step::kAccept, 0, 0));
  accepting_ = true;
}

void HttpServer::arm_recv(Conn& c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv(s, c.fd, c.buf, sizeof c.buf, 0);
  io_uring_sqe_set_data64(s, tag(Step::kRecv, c.slot, c.gen));
  c.busy = true;
}

void HttpServer::on_cqe(const io_uring_cqe* cqe, uint64_t now_ms) {
  now_ms_ = now_ms;
  const uint64_t ud = cqe->user_data;
  const auto step = static_cast<Step>((ud >> 24) & 0xFF);
  const auto slot = static_cast<uint32_t>((ud >> 32) & 0xFFFFFF);
  const auto gen = static_cast<uint32_t>(ud & 0xFFFFFF);
  if (step == Step::kAccept) {
    on_accept(cqe);
    return;
  }
  if (step == Step::kClose || slot >= conns_.size()) return;
  Conn* c = conns_[slot].get();
  if (!c || (c->gen & 0xFFFFFF) != gen) return;
  c->busy = false;
  if (step == Step::kRecv) {
    on_recv(*c, cqe->res);
  } else {
    on_send(*c, cqe->res);
  }
  if (c->done && !c->busy) {
    ::close(c->fd);
    conns_[slot].reset();
    --live_;
  }
}

void HttpServer::on_accept(const io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) {
    accepting_ = false;
    if (listen_fd_ >= 0) arm_accept();
  }
  if (cqe->res < 0) {
    if (cqe->res != -ECANCELED) LOG_WARN("http: accept failed: %s", std::strerror(-cqe->res));
    return;
  }
  int fd = cqe->res;
  uint32_t slot = 0;
  while (slot < conns_.size() && conns_[slot]) ++slot;
  if (slot == conns_.size()) {
    ::close(fd);  // too many at once: a scraper retries
    return;
  }
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->slot = slot;
  c->gen = ++next_gen_;
  c->deadline_ms = now_ms_ + kTimeoutMs;
  Conn& ref = *c;
  conns_[slot] = std::move(c);
  ++live_;
  arm_recv(ref);
}

void HttpServer::on_recv(Conn& c, int res) {
  if (res <= 0) {
    c.done = true;
    return;
  }
  c.in.append(c.buf, static_cast<size_t>(res));
  if (c.in.find("\r\n\r\n") == std::string::npos) {
    if (c.in.size() > kMaxRequest) {
      HttpResponse r;
      r.status = 431;
      r.body = "request too large\n";
      c.out = format_http_response(r, false);
      c.in.clear();
      arm_send(c);
      return;
    }
    arm_recv(c);
    return;
  }
  respond(c);
}

void HttpServer::respond(Conn& c) {
  std::string_view method, path;
  HttpResponse r;
  bool head_only = false;
  if (!parse_http_request(c.in, method, path)) {
    r.status = 400;
    r.body = "bad request\n";
  } else if (method != "GET" && method != "HEAD") {
    r.status = 405;
    r.body = "only GET and HEAD\n";
  } else {
    head_only = method == "HEAD";
    r = responder_(path);
  }
  c.out = format_http_response(r, head_only);
  c.in.clear();
  c.in.shrink_to_fit();
  arm_send(c);
}

void HttpServer::arm_send(Conn& c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_send(s, c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
  io_uring_sqe_set_data64(s, tag(Step::kSend, c.slot, c.gen));
  c.busy = true;
}

void HttpServer::on_send(Conn& c, int res) {
  if (res <= 0) {
    c.done = true;
    return;
  }
  c.sent += static_cast<size_t>(res);
  if (c.sent < c.out.size()) {
    arm_send(c);
  } else {
    c.done = true;
  }
}

void HttpServer::expire(uint64_t now_ms) {
  now_ms_ = now_ms;
  if (live_ == 0) return;
  for (auto& c : conns_) {
    if (c && !c->done && now_ms > c->deadline_ms) {
      // shutdown() ends the recv/send in flight; its completion frees the slot.
      ::shutdown(c->fd, SHUT_RDWR);
      c->done = true;
    }
  }
}

}  // namespace mqttd

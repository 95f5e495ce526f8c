#include "net/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mqttd {
namespace {

bool make_addr(const ListenerConfig& l, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, l.bind.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(l.port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, l.bind.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(l.port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

std::string where(const ListenerConfig& l) {
  return (l.bind.find(':') != std::string::npos ? "[" + l.bind + "]" : l.bind) + ":" +
         std::to_string(l.port);
}

std::string bind_error(const ListenerConfig& l, int err) {
  switch (err) {
    case EADDRINUSE:
      return "cannot listen on " + where(l) +
             ": the port is already in use (is another broker running?); stop it or choose "
             "another port with [[listener]] port / --port";
    case EADDRNOTAVAIL:
      return "cannot listen on " + where(l) + ": the address " + l.bind +
             " is not assigned to any interface of this host; fix [[listener]] bind / --bind";
    case EACCES:
      return "cannot listen on " + where(l) +
             ": ports below 1024 need root or CAP_NET_BIND_SERVICE; use a higher port or grant "
             "the capability";
    case EAFNOSUPPORT:
      return "cannot listen on " + where(l) + ": this host has no IPv6 support; bind an IPv4 address";
    default:
      return "cannot listen on " + where(l) + ": " + std::strerror(err);
  }
}

}  // namespace

std::string probe_listener(const ListenerConfig& l) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(l, ss, len)) return "listener address '" + l.bind + "' is not an IP address";
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return bind_error(l, errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::string error;
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) error = bind_error(l, errno);
  close(fd);
  return error;
}

int open_listener(const ListenerConfig& l, std::string& error) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(l, ss, len)) {
    error = "listener address '" + l.bind + "' is not an IP address";
    return -1;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = bind_error(l, errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  // Accepted sockets inherit TCP_NODELAY: MQTT packets are small and latency matters.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 65535) != 0) {
    error = bind_error(l, errno);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace mqttd

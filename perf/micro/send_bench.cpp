// Which io_uring send variant the broker should use: the engine sends each connection's
// queue with one gathering IORING_OP_SENDMSG per turn (a PUBLISH is a small per-receiver
// header plus the shared payload). This compares, over a loopback TCP connection drained
// by another thread, for payloads of 64 B to 64 KiB, 16 packets per send:
//   Sendmsg         IORING_OP_SENDMSG, 32 iovecs (header, payload) - what mqttd does
//   SendmsgZc       IORING_OP_SENDMSG_ZC, the same iovecs, pages pinned instead of copied
//   SendZcFixed     IORING_OP_SEND_ZC from one registered (fixed) buffer holding the 16
//                   packets contiguously: no gathering, no per-send pinning
//   SendCopy        IORING_OP_SEND of the same contiguous buffer, copied by the kernel
// Time is wall time; CPU is the whole process (sender and drain thread) per packet.
// Caveat: over loopback the kernel copies zero-copy data when it reaches the receiving
// socket, so this measures the cost of the zero-copy machinery, not a NIC's gain.
#include <benchmark/benchmark.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kPackets = 16;
constexpr size_t kHeader = 8;
// MSG_WAITALL: the kernel itself retries a short write of a stream socket, so one
// completion covers the whole batch.
constexpr int kFlags = MSG_NOSIGNAL | MSG_WAITALL;

enum class Variant { kSendmsg, kSendmsgZc, kSendZcFixed, kSendCopy };

// A connected loopback TCP pair; a thread reads and discards everything the server end
// receives, as a fast subscriber would.
class LoopbackPair {
 public:
  LoopbackPair() {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (ls < 0 || bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(ls, 1) != 0 ||
        getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("loopback listener");
    }
    client_ = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("loopback connect");
    }
    server_ = accept(ls, nullptr, nullptr);
    close(ls);
    int one = 1;
    setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    drain_ = std::thread([this] {
      std::vector<char> buf(1 << 20);
      while (recv(server_, buf.data(), buf.size(), 0) > 0) {
      }
    });
  }
  ~LoopbackPair() {
    shutdown(client_, SHUT_RDWR);
    drain_.join();
    close(client_);
    close(server_);
  }
  int fd() const { return client_; }

 private:
  int client_ = -1;
  int server_ = -1;
  std::thread drain_;
};

void BM_Send(benchmark::State& state, Variant variant) {
  const size_t payload = static_cast<size_t>(state.range(0));
  LoopbackPair pair;
  io_uring ring;
  if (io_uring_queue_init(64, &ring, 0) != 0) {
    state.SkipWithError("io_uring_queue_init failed");
    return;
  }
  // The payload is shared by the 16 packets of a send (as a fan-out shares it); headers
  // differ per packet.
  std::vector<uint8_t> body(payload, 'p');
  std::vector<uint8_t> headers(kPackets * kHeader, 'h');
  iovec iov[2 * kPackets];
  for (int i = 0; i < kPackets; ++i) {
    iov[2 * i] = {headers.data() + i * kHeader, kHeader};
    iov[2 * i + 1] = {body.data(), payload};
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2 * kPackets;
  const size_t batch = kPackets * (kHeader + payload);
  std::vector<uint8_t> flat(batch, 'f');
  if (variant == Variant::kSendZcFixed) {
    iovec reg{flat.data(), flat.size()};
    if (io_uring_register_buffers(&ring, &reg, 1) != 0) {
      state.SkipWithError("io_uring_register_buffers failed");
      io_uring_queue_exit(&ring);
      return;
    }
  }

  for (auto _ : state) {
    size_t sent = 0;
    while (sent < batch) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      const bool zc = variant == Variant::kSendmsgZc || variant == Variant::kSendZcFixed;
      switch (variant) {
        case Variant::kSendmsg:
          io_uring_prep_sendmsg(sqe, pair.fd(), &msg, kFlags);
          break;
        case Variant::kSendmsgZc:
          io_uring_prep_sendmsg_zc(sqe, pair.fd(), &msg, kFlags);
          break;
        case Variant::kSendZcFixed:
          io_uring_prep_send_zc_fixed(sqe, pair.fd(), flat.data() + sent, batch - sent, kFlags,
                                      0, 0);
          break;
        case Variant::kSendCopy:
          io_uring_prep_send(sqe, pair.fd(), flat.data() + sent, batch - sent, kFlags);
          break;
      }
      io_uring_submit(&ring);
      // A zero-copy send completes twice: the result (with F_MORE), then the notification
      // that the kernel is done with the pages, after which they may be reused.
      int waiting = zc ? 2 : 1;
      int res = 0;
      while (waiting > 0) {
        io_uring_cqe* cqe;
        if (io_uring_wait_cqe(&ring, &cqe) != 0) break;
        if (!(cqe->flags & IORING_CQE_F_NOTIF)) {
          res = cqe->res;
          if (!(cqe->flags & IORING_CQE_F_MORE)) waiting = 1;
        }
        --waiting;
        io_uring_cqe_seen(&ring, cqe);
      }
      if (res <= 0) {
        state.SkipWithError(("send failed: " + std::string(std::strerror(-res))).c_str());
        io_uring_queue_exit(&ring);
        return;
      }
      sent += static_cast<size_t>(res);
      if (sent < batch && (variant == Variant::kSendmsg || variant == Variant::kSendmsgZc)) {
        state.SkipWithError("short gathered send despite MSG_WAITALL");
        io_uring_queue_exit(&ring);
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * kPackets);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch));
  io_uring_queue_exit(&ring);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int s : {64, 1024, 16384, 65536}) b->Arg(s);
  b->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);
}

BENCHMARK_CAPTURE(BM_Send, Sendmsg, Variant::kSendmsg)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Send, SendmsgZc, Variant::kSendmsgZc)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Send, SendZcFixed, Variant::kSendZcFixed)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Send, SendCopy, Variant::kSendCopy)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();

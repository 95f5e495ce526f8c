#include "cli.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace mqttd::bench {
namespace {

constexpr uint32_t kClientsPerSourceAddress = 25000;  // below the default ephemeral range

constexpr const char* kUsage = R"(usage: mqttd-bench MODE [options]

modes:
  conn     open --connections idle connections and hold them (keep-alive pings)
  pub      --publishers clients publishing to --topic
  sub      --subscribers clients subscribing to --sub-topic (default --topic)
  pubsub   publishers and subscribers in one process; counts losses exactly

connection:
  -H, --host ADDR         broker address (default 127.0.0.1)
  -p, --port N            broker port (default 1883)
  -b, --bind RANGES       source addresses, e.g. 127.0.0.1-127.0.0.40,127.0.1.1; clients
                          take them round robin. Default for loopback brokers and more
                          than 25000 clients: as many 127.0.0.x as needed
  -V, --mqtt 3|4|5        protocol: 3/4 = MQTT 3.1.1, 5 = MQTT 5.0 (default 4)
  -k, --keepalive S       keep-alive seconds (default 60)
  -i, --client-id PAT     client id pattern (default bench-%m-%i; %m = process, %i = index)
      --no-clean          persistent sessions (clean session/start = 0)
      --session-expiry S  MQTT 5 session expiry interval
  -R, --connect-rate N    new connections per second in total (default unlimited)
      --connect-window N  connection attempts in flight per ring (default 512)

clients and traffic:
  -c, --connections N     conn: connections to open
  -P, --publishers N      pub/pubsub: publishers
  -S, --subscribers N     sub/pubsub: subscribers
  -t, --topic PAT         publish topic; %i = publisher index, %r = random per message
  -T, --sub-topic PAT     subscription filter; %i = subscriber index (default --topic)
  -q, --qos 0|1|2         publish QoS (default 0)
      --sub-qos 0|1|2     subscription QoS (default --qos)
  -s, --size BYTES        payload size, at least 24 (sequence + timestamp; default 64)
  -r, --rate N            messages per second per publisher (default unlimited)
      --total-rate N      messages per second over all publishers
  -n, --count N           messages per publisher (default: until --duration ends)
  -d, --duration S        seconds of publishing; conn: seconds to hold (0 = until ^C)
      --drain S           seconds subscribers wait for stragglers (default 3)
      --inflight N        unacknowledged QoS 1/2 publishes per publisher (default 16)
      --retain           publish with the retain flag
      --id-base N         first publisher id (separate pub processes need distinct ones)

engine and output:
  -j, --threads N         rings (threads); default 2, or enough for the descriptor limit
      --recv-buffers N    provided receive buffers per ring (power of two)
      --recv-buffer-size B
      --no-nodelay        leave Nagle's algorithm on
      --json FILE         write the summary as JSON (- = stdout)
      --quiet             no live progress line
  -h, --help
)";

bool parse_u64(const char* s, uint64_t& out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || end == s || *end != '\0' || s[0] == '-') return false;
  out = v;
  return true;
}

bool parse_double(const char* s, double& out) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s, &end);
  if (errno || end == s || *end != '\0' || !(v >= 0) || !std::isfinite(v)) return false;
  out = v;
  return true;
}

// "a.b.c.d" or "a.b.c.d-e.f.g.h", comma separated.
bool parse_sources(std::string_view text, std::vector<in_addr>& out) {
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const size_t dash = item.find('-');
    const std::string first(item.substr(0, dash));
    const std::string last(dash == std::string_view::npos ? first
                                                          : std::string(item.substr(dash + 1)));
    in_addr a{}, b{};
    if (inet_pton(AF_INET, first.c_str(), &a) != 1 || inet_pton(AF_INET, last.c_str(), &b) != 1)
      return false;
    const uint32_t lo = ntohl(a.s_addr), hi = ntohl(b.s_addr);
    if (hi < lo || hi - lo > 65535) return false;
    for (uint32_t v = lo; v <= hi; ++v) out.push_back(in_addr{htonl(v)});
  }
  return !out.empty();
}

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kConn:
      return "conn";
    case Mode::kPub:
      return "pub";
    case Mode::kSub:
      return "sub";
    case Mode::kPubSub:
      return "pubsub";
  }
  return "?";
}

uint32_t BenchConfig::total_clients() const {
  switch (mode) {
    case Mode::kConn:
      return connections;
    case Mode::kPub:
      return publishers;
    case Mode::kSub:
      return subscribers;
    case Mode::kPubSub:
      return publishers + subscribers;
  }
  return 0;
}

std::optional<BenchConfig> parse_command_line(int argc, char** argv) {
  auto fail = [](const std::string& why) -> std::optional<BenchConfig> {
    std::fprintf(stderr, "mqttd-bench: %s\n\n%s", why.c_str(), kUsage);
    return std::nullopt;
  };
  if (argc < 2) return fail("missing MODE");
  const std::string_view mode = argv[1];
  if (mode == "-h" || mode == "--help") {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  BenchConfig c;
  if (mode == "conn")
    c.mode = Mode::kConn;
  else if (mode == "pub")
    c.mode = Mode::kPub;
  else if (mode == "sub")
    c.mode = Mode::kSub;
  else if (mode == "pubsub")
    c.mode = Mode::kPubSub;
  else
    return fail("unknown mode '" + std::string(mode) + "'");

  enum LongOnly {
    kNoClean = 1000,
    kSessionExpiry,
    kConnectWindow,
    kSubQos,
    kTotalRate,
    kDrain,
    kInflight,
    kRetain,
    kIdBase,
    kRecvBuffers,
    kRecvBufferSize,
    kNoNodelay,
    kJson,
    kQuiet,
  };
  static const option kOptions[] = {
      {"host", required_argument, nullptr, 'H'},
      {"port", required_argument, nullptr, 'p'},
      {"bind", required_argument, nullptr, 'b'},
      {"mqtt", required_argument, nullptr, 'V'},
      {"keepalive", required_argument, nullptr, 'k'},
      {"client-id", required_argument, nullptr, 'i'},
      {"no-clean", no_argument, nullptr, kNoClean},
      {"session-expiry", required_argument, nullptr, kSessionExpiry},
      {"connect-rate", required_argument, nullptr, 'R'},
      {"connect-window", required_argument, nullptr, kConnectWindow},
      {"connections", required_argument, nullptr, 'c'},
      {"publishers", required_argument, nullptr, 'P'},
      {"subscribers", required_argument, nullptr, 'S'},
      {"topic", required_argument, nullptr, 't'},
      {"sub-topic", required_argument, nullptr, 'T'},
      {"qos", required_argument, nullptr, 'q'},
      {"sub-qos", required_argument, nullptr, kSubQos},
      {"size", required_argument, nullptr, 's'},
      {"rate", required_argument, nullptr, 'r'},
      {"total-rate", required_argument, nullptr, kTotalRate},
      {"count", required_argument, nullptr, 'n'},
      {"duration", required_argument, nullptr, 'd'},
      {"drain", required_argument, nullptr, kDrain},
      {"inflight", required_argument, nullptr, kInflight},
      {"retain", no_argument, nullptr, kRetain},
      {"id-base", required_argument, nullptr, kIdBase},
      {"threads", required_argument, nullptr, 'j'},
      {"recv-buffers", required_argument, nullptr, kRecvBuffers},
      {"recv-buffer-size", required_argument, nullptr, kRecvBufferSize},
      {"no-nodelay", no_argument, nullptr, kNoNodelay},
      {"json", required_argument, nullptr, kJson},
      {"quiet", no_argument, nullptr, kQuiet},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  optind = 2;
  int opt;
  uint64_t u = 0;
  std::string bind_text;
  auto num = [&](uint64_t max) { return parse_u64(optarg, u) && u <= max; };
  while ((opt = getopt_long(argc, argv, "H:p:b:V:k:i:R:c:P:S:t:T:q:s:r:n:d:j:h", kOptions,
                            nullptr)) != -1) {
    const std::string arg = optarg ? optarg : "";
    switch (opt) {
      case 'H':
        c.host = arg;
        break;
      case 'p':
        if (!num(65535) || u == 0) return fail("bad --port");
        c.port = uint16_t(u);
        break;
      case 'b':
        bind_text = arg;
        break;
      case 'V':
        if (arg == "3" || arg == "4" || arg == "3.1.1")
          c.mqtt_version = 4;
        else if (arg == "5")
          c.mqtt_version = 5;
        else
          return fail("--mqtt takes 3, 4 or 5");
        break;
      case 'k':
        if (!num(65535)) return fail("bad --keepalive");
        c.keepalive = uint16_t(u);
        break;
      case 'i':
        c.client_id = arg;
        break;
      case kNoClean:
        c.clean = false;
        break;
      case kSessionExpiry:
        if (!num(0xFFFFFFFFu)) return fail("bad --session-expiry");
        c.session_expiry = uint32_t(u);
        break;
      case 'R':
        if (!parse_double(optarg, c.connect_rate)) return fail("bad --connect-rate");
        break;
      case kConnectWindow:
        if (!num(1u << 20) || u == 0) return fail("bad --connect-window");
        c.connect_window = uint32_t(u);
        break;
      case 'c':
        if (!num(50'000'000)) return fail("bad --connections");
        c.connections = uint32_t(u);
        break;
      case 'P':
        if (!num(50'000'000)) return fail("bad --publishers");
        c.publishers = uint32_t(u);
        break;
      case 'S':
        if (!num(50'000'000)) return fail("bad --subscribers");
        c.subscribers = uint32_t(u);
        break;
      case 't':
        c.topic = arg;
        break;
      case 'T':
        c.sub_topic = arg;
        break;
      case 'q':
        if (!num(2)) return fail("--qos takes 0, 1 or 2");
        c.qos = int(u);
        break;
      case kSubQos:
        if (!num(2)) return fail("--sub-qos takes 0, 1 or 2");
        c.sub_qos = int(u);
        break;
      case 's':
        if (!num(256u << 20)) return fail("bad --size");
        c.payload = uint32_t(u);
        break;
      case 'r':
        if (!parse_double(optarg, c.rate)) return fail("bad --rate");
        break;
      case kTotalRate:
        if (!parse_double(optarg, c.total_rate)) return fail("bad --total-rate");
        break;
      case 'n':
        if (!num(UINT64_MAX)) return fail("bad --count");
        c.count = u;
        break;
      case 'd':
        if (!parse_double(optarg, c.duration)) return fail("bad --duration");
        break;
      case kDrain:
        if (!parse_double(optarg, c.drain)) return fail("bad --drain");
        break;
      case kInflight:
        if (!num(65535) || u == 0) return fail("bad --inflight");
        c.inflight = uint32_t(u);
        break;
      case kRetain:
        c.retain = true;
        break;
      case kIdBase:
        if (!num(0x7FFFFFFF)) return fail("bad --id-base");
        c.id_base = uint32_t(u);
        break;
      case 'j':
        if (!num(4096) || u == 0) return fail("bad --threads");
        c.threads = uint32_t(u);
        break;
      case kRecvBuffers:
        if (!num(32768) || u < 16 || (u & (u - 1)))
          return fail("--recv-buffers: a power of two, 16..32768");
        c.recv_buffers = uint32_t(u);
        break;
      case kRecvBufferSize:
        if (!num(1u << 20) || u < 512) return fail("--recv-buffer-size: 512..1048576");
        c.recv_buffer_size = uint32_t(u);
        break;
      case kNoNodelay:
        c.nodelay = false;
        break;
      case kJson:
        c.json_path = arg;
        break;
      case kQuiet:
        c.quiet = true;
        break;
      case 'h':
        std::fputs(kUsage, stdout);
        std::exit(0);
      default:
        return fail("bad option");
    }
  }
  if (optind < argc) return fail(std::string("unexpected argument '") + argv[optind] + "'");

  switch (c.mode) {
    case Mode::kConn:
      if (c.connections == 0) c.connections = 1000;
      break;
    case Mode::kPub:
      if (c.publishers == 0) c.publishers = 1;
      break;
    case Mode::kSub:
      if (c.subscribers == 0) c.subscribers = 1;
      break;
    case Mode::kPubSub:
      if (c.publishers == 0) c.publishers = 1;
      if (c.subscribers == 0) c.subscribers = 1;
      break;
  }
  if (c.mode != Mode::kConn && c.payload < 24)
    return fail("--size must be at least 24 (the payload carries sequence and timestamp)");
  if (c.sub_topic.empty()) c.sub_topic = c.topic;
  if (c.total_rate > 0) c.rate = c.total_rate / std::max<uint32_t>(1, c.publishers);

  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(c.host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr)
    return fail("cannot resolve --host " + c.host);
  c.server = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  c.server.sin_port = htons(c.port);
  freeaddrinfo(res);

  if (!bind_text.empty()) {
    if (!parse_sources(bind_text, c.sources)) return fail("bad --bind '" + bind_text + "'");
  } else if ((ntohl(c.server.sin_addr.s_addr) >> 24) == 127 &&
             c.total_clients() > kClientsPerSourceAddress) {
    const uint32_t n =
        (c.total_clients() + kClientsPerSourceAddress - 1) / kClientsPerSourceAddress;
    for (uint32_t i = 1; i <= n; ++i) c.sources.push_back(in_addr{htonl((127u << 24) | i)});
  }
  c.run_id = static_cast<uint32_t>(getpid());
  return c;
}

}  // namespace mqttd::bench

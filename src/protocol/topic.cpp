// UTF-8 validation (MQTT 1.5.4) and topic name / filter rules (MQTT 4.7, 4.8.2).
#include <cstring>

#include "mqttd/topic.h"

namespace mqttd {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

// Whether any byte of `w` is zero (exact: no false positives once combined with &kHigh).
constexpr uint64_t zero_bytes(uint64_t w) { return (w - kOnes) & ~w & kHigh; }

// Non-zero when some byte of `w` is 0 or not ASCII (the cases valid_utf8 must look at).
constexpr uint64_t not_plain_ascii(uint64_t w) { return (w | ((w - kOnes) & ~w)) & kHigh; }

// Non-zero when some byte of `w` is '+' (0x2B) or '#' (0x23): they differ only in bit 3,
// and no other byte becomes 0x2B when that bit is set.
constexpr uint64_t wildcard_bytes(uint64_t w) { return zero_bytes((w | (0x08 * kOnes)) ^ ('+' * kOnes)); }

uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* end = p + s.size();
  while (p < end) {
    // Fast path: eight ASCII bytes, none of them 0.
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (((w | ((w - kOnes) & ~w)) & kHigh) == 0) {
        p += 8;
        continue;
      }
    }
    uint8_t c = *p;
    if (c < 0x80) {
      if (c == 0) return false;  // MQTT-1.5.4-2
      ++p;
      continue;
    }
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (C0, C1) or above F4
    }
    if (end - p < static_cast<ptrdiff_t>(n)) return false;
    for (size_t i = 1; i < n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogates (MQTT-1.5.4-1)
    p += n;
  }
  return true;
}

bool valid_topic_name(std::string_view topic) {
  if (topic.empty()) return false;
  // Eight bytes at a time: no byte equal to '+' or '#'.
  const char* p = topic.data();
  const char* end = p + topic.size();
  for (; end - p >= 8; p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (zero_bytes(w ^ ('+' * kOnes)) | zero_bytes(w ^ ('#' * kOnes))) return false;
  }
  for (; p < end; ++p) {
    if (*p == '+' || *p == '#') return false;
  }
  return true;
}

ReasonCode check_topic_name(std::string_view topic) {
  const char* p = topic.data();
  const size_t n = topic.size();
  uint64_t odd = 0, wild = 0;
  if (n >= 8) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      const uint64_t w = load8(p + i);
      odd |= not_plain_ascii(w);
      wild |= wildcard_bytes(w);
    }
    if (i < n) {  // the tail, as the last eight bytes (some seen twice)
      const uint64_t w = load8(p + n - 8);
      odd |= not_plain_ascii(w);
      wild |= wildcard_bytes(w);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      const auto c = static_cast<uint8_t>(p[i]);
      odd |= c == 0 || c >= 0x80;
      wild |= c == '+' || c == '#';
    }
  }
  if (odd) {
    // Multi-byte characters or a NUL: the full UTF-8 check decides first.
    if (!valid_utf8(topic)) return ReasonCode::malformed_packet;
    return valid_topic_name(topic) ? ReasonCode::success : ReasonCode::topic_name_invalid;
  }
  return n == 0 || wild ? ReasonCode::topic_name_invalid : ReasonCode::success;
}

namespace {

constexpr std::string_view kSharePrefix = "$share/";

bool valid_plain_filter(std::string_view f) {
  if (f.empty()) return false;
  size_t level_start = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '/') {
      level_start = i + 1;
    } else if (c == '+') {
      // Alone in its level: preceded by start or '/', followed by end or '/'.
      if (i != level_start || (i + 1 < f.size() && f[i + 1] != '/')) return false;
    } else if (c == '#') {
      // Alone in the last level.
      if (i != level_start || i + 1 != f.size()) return false;
    }
  }
  return true;
}

}  // namespace

bool valid_topic_filter(std::string_view filter) {
  if (!filter.starts_with(kSharePrefix)) return valid_plain_filter(filter);
  std::string_view rest = filter.substr(kSharePrefix.size());
  size_t slash = rest.find('/');
  if (slash == 0 || slash == std::string_view::npos) return false;  // empty name, no filter
  std::string_view name = rest.substr(0, slash);
  if (name.find_first_of("+#") != std::string_view::npos) return false;
  return valid_plain_filter(rest.substr(slash + 1));
}

}  // namespace mqttd

// Helpers shared by the routing tests: a flat view of a finalized MatchResult and the
// brute-force reference matcher of MQTT 5.0 4.7.
#pragma once

#include <algorithm>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "routing/match_result.h"
#include "routing/topic_index.h"

namespace mqttd::test {

struct Hit {
  uint16_t worker;
  uint64_t handle;
  uint8_t qos;
  bool shared;
  bool rap;
  std::vector<uint32_t> ids;
  auto key() const { return std::tie(worker, handle, shared, qos, rap, ids); }
  bool operator<(const Hit& o) const { return key() < o.key(); }
  bool operator==(const Hit& o) const { return key() == o.key(); }
};

inline std::vector<Hit> hits(const MatchResult& r) {
  std::vector<Hit> out;
  for (uint16_t w : r.workers()) {
    for (const MatchResult::Entry& e : r.entries(w)) {
      auto ids = r.subscription_ids(e);
      out.push_back(Hit{w, e.subscriber, e.qos, e.shared(), e.retain_as_published(),
                        std::vector<uint32_t>(ids.begin(), ids.end())});
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<Hit> match(const TopicIndex& ix, std::string_view topic,
                              std::optional<SubscriberKey> publisher = std::nullopt) {
  MatchResult r;
  ix.match(topic, r);
  r.finalize(publisher);
  return hits(r);
}

inline std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t start = 0;;) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? s.npos : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

// Does plain (non-shared) filter `f` match topic `t`, both split into levels? Straight
// from the spec's words (MQTT 5.0 4.7).
inline bool reference_matches(std::span<const std::string_view> f, std::span<const std::string_view> t) {
  // MQTT-4.7.2-1: a wildcard first level does not match a topic starting with `$`.
  if (!t[0].empty() && t[0][0] == '$' && (f[0] == "+" || f[0] == "#")) return false;
  size_t i = 0;
  for (; i < f.size(); ++i) {
    if (f[i] == "#") return true;  // matches the parent level and any number below
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return i == t.size();
}

inline bool reference_matches(std::string_view filter, std::string_view topic) {
  return reference_matches(split(filter), split(topic));
}

}  // namespace mqttd::test

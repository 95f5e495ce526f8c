// Subscription vocabulary shared by the subscription index and the session layer: the
// options stored with each subscription, the key that names a subscriber across workers,
// and the `$share/<group>/<filter>` syntax. Plain values; safe on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mqttd {

// What a SUBSCRIBE asked for, stored with each subscription in the index (MQTT 5.0
// 3.8.3.1). For MQTT 3.x subscriptions only `qos` is meaningful; the rest stay default.
struct SubscriptionOptions {
  uint8_t qos = 0;                   // maximum QoS granted, 0..2
  bool no_local = false;             // never deliver the subscriber's own publishes
  bool retain_as_published = false;  // keep the RETAIN flag on forwarded messages
  uint8_t retain_handling = 0;       // 0: send retained, 1: only if new, 2: never

  friend bool operator==(const SubscriptionOptions&, const SubscriptionOptions&) = default;
};

// A subscriber as the index knows it: the worker that owns its session and the session's
// handle on that worker. The index never interprets the handle.
struct SubscriberKey {
  uint16_t worker = 0;
  uint64_t handle = 0;

  friend bool operator==(const SubscriberKey&, const SubscriberKey&) = default;
};

inline constexpr std::string_view kSharePrefix = "$share/";

// True when `filter` is a shared subscription, `$share/<group>/<filter>` (MQTT 5.0 4.8.2).
inline bool is_shared_filter(std::string_view filter) {
  return filter.substr(0, kSharePrefix.size()) == kSharePrefix;
}

// The parts of a shared subscription's filter. `group` is empty for a plain filter.
struct ParsedFilter {
  std::string_view group;
  std::string_view filter;
};

// Splits `$share/<group>/<filter>`; a plain filter comes back with an empty group.
// Returns nullopt for a malformed shared filter (empty group, a group holding `+` or `#`,
// or no filter after the group).
inline std::optional<ParsedFilter> parse_filter(std::string_view f) {
  if (!is_shared_filter(f)) return ParsedFilter{{}, f};
  std::string_view rest = f.substr(kSharePrefix.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) return std::nullopt;
  std::string_view group = rest.substr(0, slash);
  if (group.find_first_of("+#") != std::string_view::npos) return std::nullopt;
  return ParsedFilter{group, rest.substr(slash + 1)};
}

}  // namespace mqttd

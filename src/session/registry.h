// ClientRegistry: client identifier -> where its session lives (worker and session handle).
// The only global per-client map; consulted on CONNECT and when a session ends, never on
// the publish path. Thread-safe: sharded, each shard behind its own mutex, reachable only
// through the methods below (control plane: tens of thousands of operations per second
// at most, never on the message path).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mqttd {

struct SessionLocation {
  uint16_t worker = 0;
  uint64_t handle = 0;  // the session in that worker's session table
  bool operator==(const SessionLocation&) const = default;
};

class ClientRegistry {
 public:
  ClientRegistry();
  ~ClientRegistry();
  ClientRegistry(const ClientRegistry&) = delete;
  ClientRegistry& operator=(const ClientRegistry&) = delete;

  std::optional<SessionLocation> find(std::string_view client_id) const;

  // Maps `client_id` to `loc` if its current mapping is `expected` (nullopt: absent).
  // On failure returns false and stores the current mapping in `expected`.
  bool compare_and_set(std::string_view client_id, std::optional<SessionLocation>& expected,
                       const SessionLocation& loc);

  // Removes the mapping if it is still `expected` (a session ending must not remove the
  // entry of a newer session with the same id). Returns whether it removed it.
  bool erase_if(std::string_view client_id, const SessionLocation& expected);

  size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mu;  // guards map
    std::unordered_map<std::string, SessionLocation, Hash, std::equal_to<>> map;
  };
  static constexpr size_t kShards = 64;
  Shard& shard(std::string_view id) const;

  std::unique_ptr<Shard[]> shards_;
};

}  // namespace mqttd

#include "session/registry.h"

namespace mqttd {

ClientRegistry::ClientRegistry() : shards_(new Shard[kShards]) {}
ClientRegistry::~ClientRegistry() = default;

ClientRegistry::Shard& ClientRegistry::shard(std::string_view id) const {
  return shards_[Hash{}(id) % kShards];
}

std::optional<SessionLocation> ClientRegistry::find(std::string_view client_id) const {
  Shard& s = shard(client_id);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(client_id);
  if (it == s.map.end()) return std::nullopt;
  return it->second;
}

bool ClientRegistry::compare_and_set(std::string_view client_id,
                                     std::optional<SessionLocation>& expected,
                                     const SessionLocation& loc) {
  Shard& s = shard(client_id);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(client_id);
  std::optional<SessionLocation> current;
  if (it != s.map.end()) current = it->second;
  if (current != expected) {
    expected = current;
    return false;
  }
  if (it == s.map.end()) {
    s.map.emplace(std::string(client_id), loc);
  } else {
    it->second = loc;
  }
  return true;
}

bool ClientRegistry::erase_if(std::string_view client_id, const SessionLocation& expected) {
  Shard& s = shard(client_id);
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.map.find(client_id);
  if (it == s.map.end() || !(it->second == expected)) return false;
  s.map.erase(it);
  return true;
}

size_t ClientRegistry::size() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::lock_guard<std::mutex> lock(shards_[i].mu);
    n += shards_[i].map.size();
  }
  return n;
}

}  // namespace mqttd

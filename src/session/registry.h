// ClientRegistry: client identifier -> where its session lives (worker and session handle).
// The only global per-client map; consulted on CONNECT and when a session ends, never on
// the publish path. Thread-safe: any thread may call any method; the map is sharded, each
// shard behind its own mutex and reachable only with it held (control plane: tens of
// thousands of operations per second at most, never on the message path).
//
// ClientId: a client identifier stored once, shared by the registry entry and the
// sessions of that id. Immutable and reference-counted; any thread may copy, read or drop
// one.
//
// Memory. A big broker holds one entry per client, a million of them, so an entry is kept
// small: each shard is an open-addressing table (linear probing, Robin Hood order,
// backward-shift deletion, so no tombstones) of 24-byte slots {key, handle, 32-bit hash,
// worker}, at most 80% full and, once past its minimum size, at least 25%. The key bytes
// are not in the slot but in the ClientId the session also holds: one allocation of
// 6 + length bytes per client for both. An insert or erase that grows or shrinks a table
// moves every entry of that shard (n/64 of them) while holding its lock; amortised O(1).
//
// Why the key is reference-counted rather than borrowed from one owner. Several sessions
// of one id can be alive at once, on different workers: a clean start on worker B replaces
// worker A's entry (compare_and_set) and A's session ends only when B's kick reaches A's
// inbox, by which time B's session may have ended too and erased the entry; a session
// torn down at shutdown never erases its entry at all. Neither the registry nor any one
// session outlives all the others, so the bytes belong to whoever lets go last. The bytes
// are written once, before the ClientId is first shared (under a shard lock), and never
// again; the count is the only thing that changes. Another worker reads them only under
// the shard lock; the last reference may be dropped on any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

namespace mqttd {

class ClientId {
 public:
  ClientId() = default;  // holds no id
  // REQUIRES: id.size() <= 65535 (an MQTT string). Copies the bytes.
  explicit ClientId(std::string_view id);
  ClientId(const ClientId& o) noexcept : rep_(o.rep_) {
    // relaxed: a new reference publishes nothing (the bytes reached this thread with `o`).
    if (rep_) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  ClientId(ClientId&& o) noexcept : rep_(o.rep_) { o.rep_ = nullptr; }
  ClientId& operator=(const ClientId& o) noexcept {
    ClientId copy(o);
    std::swap(rep_, copy.rep_);
    return *this;
  }
  ClientId& operator=(ClientId&& o) noexcept {
    if (this != &o) {
      release();
      rep_ = std::exchange(o.rep_, nullptr);
    }
    return *this;
  }
  ~ClientId() { release(); }

  explicit operator bool() const { return rep_ != nullptr; }
  std::string_view view() const {
    return rep_ ? std::string_view(rep_->bytes(), rep_->size) : std::string_view();
  }
  // Bytes of the shared allocation (0 when holding no id).
  size_t allocated_bytes() const { return rep_ ? Rep::alloc_size(rep_->size) : 0; }
  bool same_allocation(const ClientId& o) const { return rep_ == o.rep_; }

 private:
  // One allocation: a 6-byte header, then the bytes (no terminator), so an id of up to
  // 18 bytes fits the allocator's 24-byte class.
  struct Rep {
    static constexpr size_t kHeader = 6;
    std::atomic<uint32_t> refs;
    uint16_t size;
    char* bytes() { return reinterpret_cast<char*>(this) + kHeader; }
    static size_t alloc_size(size_t n) {
      return n < sizeof(Rep) - kHeader ? sizeof(Rep) : kHeader + n;
    }
  };
  static_assert(offsetof(Rep, size) + sizeof(uint16_t) == Rep::kHeader);
  void release() noexcept;

  Rep* rep_ = nullptr;
};

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
  // On failure returns false and stores the current mapping in `expected`. On success
  // the entry shares `client_id`'s bytes (it takes a reference). A ClientId holding no
  // id stands for the empty id.
  bool compare_and_set(const ClientId& client_id, std::optional<SessionLocation>& expected,
                       const SessionLocation& loc);

  // Removes the mapping if it is still `expected` (a session ending must not remove the
  // entry of a newer session with the same id). Returns whether it removed it.
  bool erase_if(std::string_view client_id, const SessionLocation& expected);

  size_t size() const;
  // Bytes the registry holds: every shard's slot array plus the keys of its entries
  // (which the entries' sessions share, so they are not counted again there).
  size_t memory_bytes() const;

 private:
  class Table;
  class Shard;
  static constexpr size_t kShardBits = 6;
  static constexpr size_t kShards = size_t{1} << kShardBits;
  Shard& shard_for(uint64_t hash) const;  // by the hash's top bits

  std::unique_ptr<Shard[]> shards_;
};

}  // namespace mqttd

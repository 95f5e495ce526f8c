#include "session/registry.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <functional>
#include <mutex>
#include <new>

namespace mqttd {

ClientId::ClientId(std::string_view id) {
  assert(id.size() <= UINT16_MAX);
  rep_ = new (::operator new(Rep::alloc_size(id.size()))) Rep{};
  rep_->refs.store(1, std::memory_order_relaxed);  // not shared yet
  rep_->size = static_cast<uint16_t>(id.size());
  if (!id.empty()) std::memcpy(rep_->bytes(), id.data(), id.size());  // data() may be null
}

void ClientId::release() noexcept {
  if (!rep_) return;
  // acq_rel: every other owner's reads happen before the last owner frees the bytes.
  if (rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    rep_->~Rep();
    ::operator delete(rep_);
  }
  rep_ = nullptr;
}

namespace {

static_assert(sizeof(size_t) == 8, "the hash's top bits pick the shard, its low 32 the slot");

uint64_t hash_of(std::string_view id) { return std::hash<std::string_view>{}(id); }
uint32_t slot_hash(uint64_t h) { return static_cast<uint32_t>(h); }

}  // namespace

// One shard's map: open addressing with linear probing in Robin Hood order (along a run
// of occupied slots, each entry's distance from its home slot is at most one more than
// its predecessor's), so a lookup stops at the first slot whose entry is nearer its home
// than the key would be, and deletion shifts the rest of the run back instead of leaving
// a tombstone. The home slot is the 32-bit hash scaled to the capacity (multiply-shift),
// so the capacity need not be a power of two and grows by half: the table is 53-80% full
// after growing, which a million entries spread over 64 shards would otherwise miss
// (15,625 a shard: just under 16 Ki, too full for that power of two).
// Never full (at most 80%), so every probe ends at an empty slot.
class ClientRegistry::Table {
 public:
  struct Slot {
    ClientId key;  // holds no id: the slot is empty
    uint64_t handle = 0;
    uint32_t hash = 0;
    uint16_t worker = 0;
  };
  static_assert(sizeof(Slot) == 24);

  Table() = default;
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  size_t size() const { return size_; }
  size_t memory_bytes() const { return size_t{cap_} * sizeof(Slot) + key_bytes_; }

  const Slot* find(std::string_view id, uint32_t h) const {
    if (size_ == 0) return nullptr;
    uint32_t pos = home(h);
    for (uint32_t d = 0;; ++d) {
      const Slot& s = slots_[pos];
      if (!s.key || distance(pos, s.hash) < d) return nullptr;
      if (s.hash == h && s.key.view() == id) return &s;
      if (++pos == cap_) pos = 0;
    }
  }
  Slot* find(std::string_view id, uint32_t h) {
    return const_cast<Slot*>(std::as_const(*this).find(id, h));
  }

  // REQUIRES: no entry for `key`.
  void insert(const ClientId& key, uint32_t h, const SessionLocation& loc) {
    if ((uint64_t{size_} + 1) * 5 > uint64_t{cap_} * 4) {
      uint64_t grown = cap_ < kMinCapacity ? kMinCapacity : uint64_t{cap_} + cap_ / 2;
      assert(grown <= UINT32_MAX);
      resize(static_cast<uint32_t>(grown));
    }
    place(Slot{key, loc.handle, h, loc.worker});
    ++size_;
    key_bytes_ += key.allocated_bytes();
  }

  void replace(Slot& s, const ClientId& key, const SessionLocation& loc) {
    // The entry takes the newest session's copy of the (equal) bytes: once the older
    // session ends, one copy is left.
    if (!s.key.same_allocation(key)) {
      key_bytes_ -= s.key.allocated_bytes();
      s.key = key;
      key_bytes_ += s.key.allocated_bytes();
    }
    s.handle = loc.handle;
    s.worker = loc.worker;
  }

  void erase(Slot& victim) {
    key_bytes_ -= victim.key.allocated_bytes();
    victim.key = ClientId();
    // Backward shift: pull the rest of the run one slot nearer home, up to an empty slot
    // or an entry already at home.
    auto pos = static_cast<uint32_t>(&victim - slots_.get());
    for (;;) {
      uint32_t next = pos + 1 == cap_ ? 0 : pos + 1;
      Slot& n = slots_[next];
      if (!n.key || distance(next, n.hash) == 0) break;
      slots_[pos] = std::move(n);  // leaves n empty
      pos = next;
    }
    --size_;
    if (cap_ > kMinCapacity && uint64_t{size_} * 4 < cap_) {
      resize(std::max(kMinCapacity, cap_ / 2));  // under 50% full afterwards
    }
  }

 private:
  static constexpr uint32_t kMinCapacity = 8;

  uint32_t home(uint32_t h) const { return static_cast<uint32_t>((uint64_t{h} * cap_) >> 32); }
  uint32_t distance(uint32_t pos, uint32_t h) const {
    uint32_t o = home(h);
    return pos >= o ? pos - o : pos + cap_ - o;
  }

  // Robin Hood insertion: an entry farther from its home takes the slot of one nearer
  // its own, which then moves on.
  void place(Slot&& e) {
    uint32_t pos = home(e.hash);
    for (uint32_t d = 0;; ++d) {
      Slot& s = slots_[pos];
      if (!s.key) {
        s = std::move(e);
        return;
      }
      uint32_t sd = distance(pos, s.hash);
      if (sd < d) {
        std::swap(s, e);
        d = sd;
      }
      if (++pos == cap_) pos = 0;
    }
  }

  void resize(uint32_t cap) {
    std::unique_ptr<Slot[]> old = std::move(slots_);
    uint32_t old_cap = cap_;
    slots_ = std::make_unique<Slot[]>(cap);
    cap_ = cap;
    for (uint32_t i = 0; i < old_cap; ++i) {
      if (old[i].key) place(std::move(old[i]));
    }
  }

  std::unique_ptr<Slot[]> slots_;
  uint32_t cap_ = 0;
  uint32_t size_ = 0;
  size_t key_bytes_ = 0;  // allocated_bytes() of the entries' keys
};

// A shard's table is reachable only through locked(), with the shard's mutex held.
// Cache-line sized so that workers taking neighbouring shards do not share a line.
class alignas(64) ClientRegistry::Shard {
 public:
  template <typename Fn>
  auto locked(Fn&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    return fn(table_);
  }
  template <typename Fn>
  auto locked(Fn&& fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    return fn(std::as_const(table_));
  }

 private:
  mutable std::mutex mu_;
  Table table_;
};

ClientRegistry::ClientRegistry() : shards_(new Shard[kShards]) {
  static_assert(sizeof(Shard) == 64);
}
ClientRegistry::~ClientRegistry() = default;

ClientRegistry::Shard& ClientRegistry::shard_for(uint64_t hash) const {
  return shards_[hash >> (64 - kShardBits)];
}

std::optional<SessionLocation> ClientRegistry::find(std::string_view client_id) const {
  uint64_t h = hash_of(client_id);
  return std::as_const(shard_for(h)).locked([&](const Table& t) -> std::optional<SessionLocation> {
    const Table::Slot* s = t.find(client_id, slot_hash(h));
    if (!s) return std::nullopt;
    return SessionLocation{s->worker, s->handle};
  });
}

bool ClientRegistry::compare_and_set(const ClientId& client_id,
                                     std::optional<SessionLocation>& expected,
                                     const SessionLocation& loc) {
  if (!client_id) return compare_and_set(ClientId(std::string_view()), expected, loc);
  std::string_view id = client_id.view();
  uint64_t h = hash_of(id);
  return shard_for(h).locked([&](Table& t) {
    Table::Slot* s = t.find(id, slot_hash(h));
    std::optional<SessionLocation> current;
    if (s) current = SessionLocation{s->worker, s->handle};
    if (current != expected) {
      expected = current;
      return false;
    }
    if (s) {
      t.replace(*s, client_id, loc);
    } else {
      t.insert(client_id, slot_hash(h), loc);
    }
    return true;
  });
}

bool ClientRegistry::erase_if(std::string_view client_id, const SessionLocation& expected) {
  uint64_t h = hash_of(client_id);
  return shard_for(h).locked([&](Table& t) {
    Table::Slot* s = t.find(client_id, slot_hash(h));
    if (!s || !(SessionLocation{s->worker, s->handle} == expected)) return false;
    t.erase(*s);
    return true;
  });
}

size_t ClientRegistry::size() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    n += std::as_const(shards_[i]).locked([](const Table& t) { return t.size(); });
  }
  return n;
}

size_t ClientRegistry::memory_bytes() const {
  size_t n = kShards * sizeof(Shard);
  for (size_t i = 0; i < kShards; ++i) {
    n += std::as_const(shards_[i]).locked([](const Table& t) { return t.memory_bytes(); });
  }
  return n;
}

}  // namespace mqttd

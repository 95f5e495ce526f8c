// The retained-message store. Invariants are stated in retained_store.h.
#include "routing/retained_store.h"

#include <cstring>
#include <new>
#include <random>

#include "common/clock.h"
#include "routing/hamt.h"
#include "routing/subscription.h"

namespace mqttd {

struct RetainedStore::Node {
  // release/acquire, both: what is stored is complete before it is reachable.
  std::atomic<const hamt::Node*> children{nullptr};
  std::atomic<const Message*> message{nullptr};  // one reference held by the store
  uint32_t hash_ = 0;
  uint16_t len_ = 0;  // the level's bytes follow the node

  uint32_t hash() const { return hash_; }
  std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), len_}; }
  static size_t bytes(size_t len) { return sizeof(Node) + len; }
};

namespace {
using Trie = hamt::Trie<RetainedStore::Node>;

void free_node(void* p) {
  auto* n = static_cast<RetainedStore::Node*>(p);
  n->~Node();
  ::operator delete(n);
}
void drop_message(void* p) { static_cast<const Message*>(p)->unref(); }

void split(std::string_view s, std::vector<std::string_view>& out) {
  out.clear();
  for (size_t start = 0;;) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? s.npos : slash - start));
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

}  // namespace

// One write operation. What it unlinks goes to ctx.retired and is handed to Qsbr in the
// destructor, after every store the operation made.
struct RetainedStore::Writer {
  RetainedStore& rs;
  hamt::WriteCtx ctx;
  int64_t nodes = 0;
  int64_t messages = 0;
  std::vector<std::string_view> levels;
  std::vector<Node*> path;

  explicit Writer(RetainedStore& r) : rs(r) {}
  ~Writer() {
    // relaxed: statistics, and a hint (see next_expiry_ms_).
    rs.bytes_.fetch_add(ctx.bytes, std::memory_order_relaxed);
    rs.nodes_.fetch_add(static_cast<uint64_t>(nodes), std::memory_order_relaxed);
    rs.messages_.fetch_add(static_cast<uint64_t>(messages), std::memory_order_relaxed);
    rs.next_expiry_ms_.store(rs.expiring_.empty() ? UINT64_MAX : rs.expiring_.begin()->first,
                             std::memory_order_relaxed);
    rs.qsbr_.retire(ctx.retired);
    rs.qsbr_.reclaim();
  }

  Node* child(Node* n, std::string_view level, bool create) {
    uint32_t h = hamt::hash_level(level, rs.seed_);
    const hamt::Node* root = n->children.load(std::memory_order_relaxed);
    Node* c = Trie::find(root, h, level);
    if (c == nullptr && create) {
      c = new (::operator new(Node::bytes(level.size()))) Node;
      c->hash_ = h;
      c->len_ = static_cast<uint16_t>(level.size());
      std::memcpy(reinterpret_cast<char*>(c + 1), level.data(), level.size());
      ctx.bytes += static_cast<int64_t>(Node::bytes(level.size()));
      ++nodes;
      // release: the node and the new HAMT path are built before they are reachable.
      n->children.store(Trie::insert(root, c, ctx), std::memory_order_release);
    }
    return c;
  }

  // Bookkeeping for a message the store starts or stops holding (under mu_).
  void hold(const Message* m) {
    ctx.bytes += static_cast<int64_t>(m->footprint());
    ++messages;
    if (m->expiry_at_ms() != 0) {
      rs.expiring_.emplace(m->expiry_at_ms(), m);
      ctx.bytes += kExpiryEntryBytes;
    }
  }
  void release(const Message* m) {
    if (m->expiry_at_ms() != 0) {
      rs.expiring_.erase({m->expiry_at_ms(), m});
      ctx.bytes -= kExpiryEntryBytes;
    }
    --messages;
    ctx.retire(m, m->footprint(), drop_message);
  }
  // A std::set node holding one expiry entry, roughly.
  static constexpr int64_t kExpiryEntryBytes = 48;

  void set(std::string_view topic, MessageRef m) {
    split(topic, levels);
    Node* n = rs.root_;
    for (std::string_view lv : levels) n = child(n, lv, true);
    const Message* old = n->message.load(std::memory_order_relaxed);
    const Message* fresh = m.release();
    // release: publishes nothing of ours (the message is immutable and was built before
    // the caller shared it), but keeps readers' acquire loads paired with a release.
    n->message.store(fresh, std::memory_order_release);
    if (old != nullptr) release(old);  // first: `old` may be `fresh` set again
    hold(fresh);
  }

  bool clear(std::string_view topic) {
    split(topic, levels);
    path.assign(1, rs.root_);
    for (std::string_view lv : levels) {
      Node* c = child(path.back(), lv, false);
      if (c == nullptr) return false;
      path.push_back(c);
    }
    const Message* old = path.back()->message.load(std::memory_order_relaxed);
    if (old == nullptr) return false;
    path.back()->message.store(nullptr, std::memory_order_release);  // release: as in set()
    release(old);
    // Unlink nodes left with neither a message nor children.
    while (path.size() > 1) {
      Node* n = path.back();
      if (n->children.load(std::memory_order_relaxed) != nullptr ||
          n->message.load(std::memory_order_relaxed) != nullptr) {
        break;
      }
      path.pop_back();
      Node* parent = path.back();
      const hamt::Node* root = parent->children.load(std::memory_order_relaxed);
      // release: the new HAMT path is built before it is reachable.
      parent->children.store(Trie::erase(root, n, ctx), std::memory_order_release);
      --nodes;
      ctx.retire(n, Node::bytes(n->len_), free_node);
    }
    return true;
  }
};

RetainedStore::RetainedStore(Qsbr& qsbr)
    : qsbr_(qsbr),
      seed_((uint64_t{std::random_device{}()} << 32) | std::random_device{}()),
      root_(new (::operator new(Node::bytes(0))) Node) {
  bytes_.store(static_cast<int64_t>(Node::bytes(0)), std::memory_order_relaxed);
}

RetainedStore::~RetainedStore() {
  std::vector<Node*> todo{root_};
  while (!todo.empty()) {
    Node* n = todo.back();
    todo.pop_back();
    Trie::destroy(n->children.load(std::memory_order_relaxed), [&](Node* c) { todo.push_back(c); });
    if (const Message* m = n->message.load(std::memory_order_relaxed)) m->unref();
    free_node(n);
  }
}

void RetainedStore::set(std::string_view topic, MessageRef m) {
  if (m->payload().empty()) {
    clear(topic);
    return;
  }
  std::lock_guard lock(mu_);
  Writer w(*this);
  w.set(topic, std::move(m));
}

void RetainedStore::clear(std::string_view topic) {
  std::lock_guard lock(mu_);
  Writer w(*this);
  w.clear(topic);
}

size_t RetainedStore::expire(uint64_t now_ms, size_t max) {
  // relaxed: a hint; a stale value only delays the sweep to the next call or skips a lock.
  if (now_ms < next_expiry_ms_.load(std::memory_order_relaxed)) return 0;
  std::lock_guard lock(mu_);
  Writer w(*this);
  size_t n = 0;
  while (n < max && !expiring_.empty() && expiring_.begin()->first <= now_ms) {
    const Message* m = expiring_.begin()->second;  // held by the store: its topic is valid
    // The entry exists exactly while the store holds m under m's topic, so this clears
    // it and erases the entry; the erase below only guards the loop against a caller
    // that broke set()'s REQUIRES.
    if (!w.clear(m->topic())) expiring_.erase(expiring_.begin());
    ++n;
  }
  return n;
}

void RetainedStore::match(std::string_view filter, std::vector<MessageRef>& out) const {
  match(filter, out, monotonic_ms());
}

void RetainedStore::match(std::string_view filter, std::vector<MessageRef>& out,
                          uint64_t now_ms) const {
  if (std::optional<ParsedFilter> pf = parse_filter(filter)) {
    filter = pf->filter;
  } else {
    return;
  }
  std::vector<std::string_view> levels;
  split(filter, levels);
  const uint32_t depth = static_cast<uint32_t>(levels.size());
  auto take = [&](const Node* n) {
    // acquire: pairs with set()'s release store.
    const Message* m = n->message.load(std::memory_order_acquire);
    if (m == nullptr) return;
    if (m->expiry_at_ms() != 0 && m->expiry_at_ms() <= now_ms) return;
    out.push_back(MessageRef::share(m));  // safe: the store's reference outlives our section
  };
  // acquire (every children load below): the HAMT path and its nodes are fully built.
  struct Frame {
    const Node* n;
    uint32_t d;
  };
  std::vector<Frame> stack{{root_, 0}};
  std::vector<const Node*> subtree;
  while (!stack.empty()) {
    // Not a structured binding: the lambdas below capture n and d, which clang < 16
    // rejects for structured bindings (C++20 P1091R3/P1381R1, implemented in clang 16).
    const Node* const n = stack.back().n;
    const uint32_t d = stack.back().d;
    stack.pop_back();
    if (d == depth) {
      take(n);
      continue;
    }
    const std::string_view lv = levels[d];
    // MQTT-4.7.2-1: wildcards in the first level do not match topics starting with `$`.
    auto skip = [&](const Node* c) { return d == 0 && !c->key().empty() && c->key()[0] == '$'; };
    if (lv == "#") {
      if (d > 0) take(n);  // `sport/#` matches `sport`
      Trie::for_each(n->children.load(std::memory_order_acquire), [&](const Node* c) {
        if (!skip(c)) subtree.push_back(c);
      });
      while (!subtree.empty()) {
        const Node* s = subtree.back();
        subtree.pop_back();
        take(s);
        Trie::for_each(s->children.load(std::memory_order_acquire),
                       [&](const Node* c) { subtree.push_back(c); });
      }
    } else if (lv == "+") {
      Trie::for_each(n->children.load(std::memory_order_acquire), [&](const Node* c) {
        if (!skip(c)) stack.push_back({c, d + 1});
      });
    } else if (const Node* c = Trie::find(n->children.load(std::memory_order_acquire),
                                          hamt::hash_level(lv, seed_), lv)) {
      stack.push_back({c, d + 1});
    }
  }
}

}  // namespace mqttd

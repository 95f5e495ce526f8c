// The subscription index. The essay on its invariants is in topic_index.h.
#include "routing/topic_index.h"

#include <algorithm>
#include <new>
#include <random>
#include <span>

#include "routing/hamt.h"

namespace mqttd {

namespace {

// One subscription as a node stores it: 16 bytes.
struct SubRec {
  uint64_t handle;
  uint32_t sub_id;
  uint16_t worker;
  uint8_t qos;
  uint8_t flags;  // MatchResult::kNoLocal | kRetainAsPublished, retain handling << 4
};
static_assert(sizeof(SubRec) == 16);

constexpr uint8_t kMatchFlags = MatchResult::kNoLocal | MatchResult::kRetainAsPublished;

bool rec_less(const SubRec& r, uint16_t worker, uint64_t handle) {
  return r.worker != worker ? r.worker < worker : r.handle < handle;
}

SubRec make_rec(uint16_t worker, uint64_t handle, const SubscriptionOptions& o, uint32_t sub_id) {
  uint8_t flags = static_cast<uint8_t>((o.no_local ? MatchResult::kNoLocal : 0) |
                                       (o.retain_as_published ? MatchResult::kRetainAsPublished : 0) |
                                       ((o.retain_handling & 3) << 4));
  return SubRec{handle, sub_id, worker, o.qos, flags};
}

// Inserts or replaces; returns true when (worker, handle) was there.
bool upsert(std::vector<SubRec>& v, const SubRec& r) {
  auto it = std::lower_bound(v.begin(), v.end(), r,
                             [](const SubRec& a, const SubRec& b) { return rec_less(a, b.worker, b.handle); });
  if (it != v.end() && it->worker == r.worker && it->handle == r.handle) {
    *it = r;
    return true;
  }
  v.insert(it, r);
  return false;
}

bool remove(std::vector<SubRec>& v, uint16_t worker, uint64_t handle) {
  auto it = std::lower_bound(v.begin(), v.end(), SubRec{handle, 0, worker, 0, 0},
                             [](const SubRec& a, const SubRec& b) { return rec_less(a, b.worker, b.handle); });
  if (it == v.end() || it->worker != worker || it->handle != handle) return false;
  v.erase(it);
  return true;
}

}  // namespace

struct TopicIndex::Node {
  // release/acquire, all three: the stored object is fully built before it is reachable.
  std::atomic<const hamt::Node*> children{nullptr};
  std::atomic<Node*> plus{nullptr};
  std::atomic<const SubBlock*> subs{nullptr};
  uint32_t hash_ = 0;
  uint16_t len_ = 0;  // the level's bytes follow the node

  uint32_t hash() const { return hash_; }
  std::string_view key() const { return {reinterpret_cast<const char*>(this + 1), len_}; }
  static size_t bytes(size_t len) { return sizeof(Node) + len; }
  // Writer-side (relaxed loads: only the writer under mu_ stores these fields).
  bool empty() const {
    return children.load(std::memory_order_relaxed) == nullptr &&
           plus.load(std::memory_order_relaxed) == nullptr &&
           subs.load(std::memory_order_relaxed) == nullptr;
  }
};

// Immutable members of one `$share/<name>/<filter>`, plus a cursor readers advance.
struct alignas(8) TopicIndex::SharedGroup {
  mutable std::atomic<uint32_t> next{0};  // relaxed: round-robin position, publishes nothing
  uint32_t count = 0;
  uint16_t name_len = 0;
  bool multi = false;  // the filter ends in `#` (lives in the multi section)

  SubRec* members() { return reinterpret_cast<SubRec*>(this + 1); }
  const SubRec* members() const { return reinterpret_cast<const SubRec*>(this + 1); }
  std::string_view name() const {
    return {reinterpret_cast<const char*>(members() + count), name_len};
  }
  static size_t bytes(size_t count, size_t name_len) {
    return sizeof(SharedGroup) + count * sizeof(SubRec) + name_len;
  }
};

// Immutable: n_exact records (filter ends here), n_multi records (<here>/#), n_groups
// shared-group pointers. Owns nothing: groups are retired on their own when replaced.
struct alignas(8) TopicIndex::SubBlock {
  uint32_t n_exact = 0;
  uint32_t n_multi = 0;
  uint32_t n_groups = 0;
  uint32_t unused = 0;

  const SubRec* recs() const { return reinterpret_cast<const SubRec*>(this + 1); }
  SubRec* recs() { return reinterpret_cast<SubRec*>(this + 1); }
  const SharedGroup* const* groups() const {
    return reinterpret_cast<const SharedGroup* const*>(recs() + n_exact + n_multi);
  }
  const SharedGroup** groups() {
    return reinterpret_cast<const SharedGroup**>(recs() + n_exact + n_multi);
  }
  static size_t bytes(size_t recs, size_t groups) {
    return sizeof(SubBlock) + recs * sizeof(SubRec) + groups * sizeof(void*);
  }
};

namespace {
using Trie = hamt::Trie<TopicIndex::Node>;

void free_node(void* p) {
  auto* n = static_cast<TopicIndex::Node*>(p);
  n->~Node();
  ::operator delete(n);
}
void free_raw(void* p) { ::operator delete(p); }
}  // namespace

// One write operation: allocation, byte accounting and retirement in one place.
struct TopicIndex::Writer {
  TopicIndex& ix;
  hamt::WriteCtx ctx;
  int64_t nodes = 0;
  int64_t subscriptions = 0;

  explicit Writer(TopicIndex& i) : ix(i), ctx{i.qsbr_} {}
  ~Writer() {
    // relaxed: statistics.
    ix.bytes_.fetch_add(ctx.bytes, std::memory_order_relaxed);
    ix.nodes_.fetch_add(static_cast<uint64_t>(nodes), std::memory_order_relaxed);
    ix.subscriptions_.fetch_add(static_cast<uint64_t>(subscriptions), std::memory_order_relaxed);
    ix.qsbr_.reclaim();
  }

  Node* new_node(std::string_view level, uint32_t hash) {
    void* mem = ::operator new(Node::bytes(level.size()));
    Node* n = new (mem) Node;
    n->hash_ = hash;
    n->len_ = static_cast<uint16_t>(level.size());
    std::memcpy(reinterpret_cast<char*>(n + 1), level.data(), level.size());
    ctx.bytes += static_cast<int64_t>(Node::bytes(level.size()));
    ++nodes;
    return n;
  }
  void retire_node(Node* n) {
    ctx.bytes -= static_cast<int64_t>(Node::bytes(n->len_));
    --nodes;
    ix.qsbr_.retire(n, free_node);
  }

  // The child of `n` for `level`, created (and published empty) when `create`.
  Node* child(Node* n, std::string_view level, bool create) {
    if (level == "+") {
      Node* p = n->plus.load(std::memory_order_relaxed);
      if (p == nullptr && create) {
        p = new_node(level, 0);
        n->plus.store(p, std::memory_order_release);  // release: p is built
      }
      return p;
    }
    uint32_t h = hamt::hash_level(level, ix.seed_);
    const hamt::Node* root = n->children.load(std::memory_order_relaxed);
    Node* c = Trie::find(root, h, level);
    if (c == nullptr && create) {
      c = new_node(level, h);
      // release: the new HAMT path and the node are built before they are reachable.
      n->children.store(Trie::insert(root, c, ctx), std::memory_order_release);
    }
    return c;
  }

  // Replaces n's block with one made of the given parts (nullptr when all are empty).
  void set_block(Node* n, std::span<const SubRec> exact, std::span<const SubRec> multi,
                 std::span<const SharedGroup* const> groups) {
    const SubBlock* old = n->subs.load(std::memory_order_relaxed);
    SubBlock* b = nullptr;
    if (!exact.empty() || !multi.empty() || !groups.empty()) {
      size_t sz = SubBlock::bytes(exact.size() + multi.size(), groups.size());
      b = new (::operator new(sz)) SubBlock;
      b->n_exact = static_cast<uint32_t>(exact.size());
      b->n_multi = static_cast<uint32_t>(multi.size());
      b->n_groups = static_cast<uint32_t>(groups.size());
      std::copy(exact.begin(), exact.end(), b->recs());
      std::copy(multi.begin(), multi.end(), b->recs() + exact.size());
      std::copy(groups.begin(), groups.end(), b->groups());
      ctx.bytes += static_cast<int64_t>(sz);
    }
    n->subs.store(b, std::memory_order_release);  // release: b is fully built
    if (old != nullptr) {
      ctx.bytes -= static_cast<int64_t>(SubBlock::bytes(old->n_exact + old->n_multi, old->n_groups));
      ix.qsbr_.retire(const_cast<SubBlock*>(old), free_raw);
    }
  }

  const SharedGroup* new_group(std::string_view name, bool multi, std::span<const SubRec> members,
                               uint32_t next) {
    size_t sz = SharedGroup::bytes(members.size(), name.size());
    auto* g = new (::operator new(sz)) SharedGroup;
    g->next.store(next, std::memory_order_relaxed);
    g->count = static_cast<uint32_t>(members.size());
    g->name_len = static_cast<uint16_t>(name.size());
    g->multi = multi;
    std::copy(members.begin(), members.end(), g->members());
    std::memcpy(reinterpret_cast<char*>(g->members() + g->count), name.data(), name.size());
    ctx.bytes += static_cast<int64_t>(sz);
    return g;
  }
  void retire_group(const SharedGroup* g) {
    ctx.bytes -= static_cast<int64_t>(SharedGroup::bytes(g->count, g->name_len));
    ix.qsbr_.retire(const_cast<SharedGroup*>(g), free_raw);
  }

  // Unlinks empty nodes from the end of `path` upwards (path[0] is the root).
  void prune(std::vector<Node*>& path) {
    while (path.size() > 1) {
      Node* n = path.back();
      if (!n->empty()) return;
      path.pop_back();
      Node* parent = path.back();
      if (parent->plus.load(std::memory_order_relaxed) == n) {
        parent->plus.store(nullptr, std::memory_order_release);  // release: for symmetry; publishes no data
      } else {
        const hamt::Node* root = parent->children.load(std::memory_order_relaxed);
        // release: the new HAMT path is built before it is reachable.
        parent->children.store(Trie::erase(root, n, ctx), std::memory_order_release);
      }
      retire_node(n);
    }
  }
};

namespace {
std::span<const SubRec> exact_of(const TopicIndex::SubBlock* b) {
  return b ? std::span<const SubRec>(b->recs(), b->n_exact) : std::span<const SubRec>();
}
std::span<const SubRec> multi_of(const TopicIndex::SubBlock* b) {
  return b ? std::span<const SubRec>(b->recs() + b->n_exact, b->n_multi) : std::span<const SubRec>();
}
std::span<const TopicIndex::SharedGroup* const> groups_of(const TopicIndex::SubBlock* b) {
  return b ? std::span<const TopicIndex::SharedGroup* const>(b->groups(), b->n_groups)
           : std::span<const TopicIndex::SharedGroup* const>();
}

// Splits a filter's levels; `multi` when it ends in `#` (which is then not a level).
bool split_filter(std::string_view f, std::vector<std::string_view>& levels, bool& multi) {
  levels.clear();
  multi = false;
  size_t start = 0;
  for (;;) {
    size_t slash = f.find('/', start);
    std::string_view lv = f.substr(start, slash == std::string_view::npos ? f.npos : slash - start);
    if (lv == "#") {
      if (slash != std::string_view::npos) return false;  // `#` must be last
      multi = true;
      return true;
    }
    if (lv.size() > 1 && lv.find_first_of("+#") != std::string_view::npos) return false;
    levels.push_back(lv);
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}
}  // namespace

TopicIndex::TopicIndex(Qsbr& qsbr)
    : qsbr_(qsbr),
      seed_((uint64_t{std::random_device{}()} << 32) | std::random_device{}()),
      root_(new (::operator new(Node::bytes(0))) Node) {
  bytes_.store(static_cast<int64_t>(Node::bytes(0)), std::memory_order_relaxed);
}

TopicIndex::~TopicIndex() {
  std::vector<Node*> todo{root_};
  while (!todo.empty()) {
    Node* n = todo.back();
    todo.pop_back();
    if (Node* p = n->plus.load(std::memory_order_relaxed)) todo.push_back(p);
    Trie::destroy(n->children.load(std::memory_order_relaxed), [&](Node* c) { todo.push_back(c); });
    if (const SubBlock* b = n->subs.load(std::memory_order_relaxed)) {
      for (const SharedGroup* g : groups_of(b)) ::operator delete(const_cast<SharedGroup*>(g));
      ::operator delete(const_cast<SubBlock*>(b));
    }
    free_node(n);
  }
}

bool TopicIndex::subscribe(std::string_view filter, uint16_t worker, uint64_t handle,
                           const SubscriptionOptions& options, uint32_t sub_id) {
  std::optional<ParsedFilter> pf = parse_filter(filter);
  std::vector<std::string_view> levels;
  bool multi;
  if (!pf || pf->filter.empty() || !split_filter(pf->filter, levels, multi)) return false;

  std::lock_guard lock(mu_);
  Writer w(*this);
  Node* n = root_;
  for (std::string_view lv : levels) n = w.child(n, lv, true);

  const SubBlock* old = n->subs.load(std::memory_order_relaxed);
  const SubRec rec = make_rec(worker, handle, options, sub_id);
  bool existed;
  if (pf->group.empty()) {
    std::span<const SubRec> src = multi ? multi_of(old) : exact_of(old);
    std::vector<SubRec> sec(src.begin(), src.end());
    existed = upsert(sec, rec);
    w.set_block(n, multi ? exact_of(old) : std::span<const SubRec>(sec),
                multi ? std::span<const SubRec>(sec) : multi_of(old), groups_of(old));
  } else {
    std::vector<const SharedGroup*> groups(groups_of(old).begin(), groups_of(old).end());
    auto it = std::find_if(groups.begin(), groups.end(), [&](const SharedGroup* g) {
      return g->multi == multi && g->name() == pf->group;
    });
    std::vector<SubRec> members;
    uint32_t next = 0;
    if (it != groups.end()) {
      members.assign((*it)->members(), (*it)->members() + (*it)->count);
      next = (*it)->next.load(std::memory_order_relaxed);
    }
    existed = upsert(members, rec);
    const SharedGroup* g = w.new_group(pf->group, multi, members, next);
    const SharedGroup* replaced = nullptr;
    if (it != groups.end()) {
      replaced = *it;
      *it = g;
    } else {
      groups.push_back(g);
    }
    w.set_block(n, exact_of(old), multi_of(old), groups);
    if (replaced) w.retire_group(replaced);  // after the store that unlinked it
  }
  if (!existed) ++w.subscriptions;
  return existed;
}

bool TopicIndex::unsubscribe(std::string_view filter, uint16_t worker, uint64_t handle) {
  std::optional<ParsedFilter> pf = parse_filter(filter);
  std::vector<std::string_view> levels;
  bool multi;
  if (!pf || pf->filter.empty() || !split_filter(pf->filter, levels, multi)) return false;

  std::lock_guard lock(mu_);
  Writer w(*this);
  std::vector<Node*> path{root_};
  for (std::string_view lv : levels) {
    Node* c = w.child(path.back(), lv, false);
    if (c == nullptr) return false;
    path.push_back(c);
  }
  Node* n = path.back();
  const SubBlock* old = n->subs.load(std::memory_order_relaxed);
  if (old == nullptr) return false;
  if (pf->group.empty()) {
    std::span<const SubRec> src = multi ? multi_of(old) : exact_of(old);
    std::vector<SubRec> sec(src.begin(), src.end());
    if (!remove(sec, worker, handle)) return false;
    w.set_block(n, multi ? exact_of(old) : std::span<const SubRec>(sec),
                multi ? std::span<const SubRec>(sec) : multi_of(old), groups_of(old));
  } else {
    std::vector<const SharedGroup*> groups(groups_of(old).begin(), groups_of(old).end());
    auto it = std::find_if(groups.begin(), groups.end(), [&](const SharedGroup* g) {
      return g->multi == multi && g->name() == pf->group;
    });
    if (it == groups.end()) return false;
    const SharedGroup* replaced = *it;
    std::vector<SubRec> members(replaced->members(), replaced->members() + replaced->count);
    if (!remove(members, worker, handle)) return false;
    if (members.empty()) {
      groups.erase(it);
    } else {
      *it = w.new_group(pf->group, multi, members, replaced->next.load(std::memory_order_relaxed));
    }
    w.set_block(n, exact_of(old), multi_of(old), groups);
    w.retire_group(replaced);
  }
  --w.subscriptions;
  w.prune(path);
  return true;
}

namespace {
void emit(std::span<const SubRec> recs, MatchResult& out) {
  if (recs.empty()) return;
  out.begin_run();
  for (const SubRec& r : recs) {
    out.add(r.worker, r.handle, r.qos, r.flags & kMatchFlags, r.sub_id);
  }
}
void emit_groups(const TopicIndex::SubBlock* b, bool multi, MatchResult& out) {
  for (const TopicIndex::SharedGroup* g : groups_of(b)) {
    if (g->multi != multi) continue;
    // relaxed: the cursor only spreads deliveries; it orders nothing.
    uint32_t i = g->next.fetch_add(1, std::memory_order_relaxed) % g->count;
    const SubRec& r = g->members()[i];
    out.begin_run();
    out.add(r.worker, r.handle, r.qos,
            static_cast<uint8_t>((r.flags & MatchResult::kRetainAsPublished) | MatchResult::kShared),
            r.sub_id);
  }
}
}  // namespace

void TopicIndex::match(std::string_view topic, MatchResult& out) const {
  out.reset();
  auto& levels = out.levels_;
  levels.clear();
  for (size_t start = 0;;) {
    size_t slash = topic.find('/', start);
    std::string_view lv = topic.substr(start, slash == std::string_view::npos ? topic.npos : slash - start);
    levels.push_back({lv, hamt::hash_level(lv, seed_)});
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  const uint32_t depth = static_cast<uint32_t>(levels.size());
  // MQTT-4.7.2-1: a topic starting with `$` is not matched by a filter starting with a
  // wildcard, i.e. not by the root's `#` section nor by its `+` child.
  const bool dollar = !topic.empty() && topic[0] == '$';
  auto& stack = out.stack_;
  stack.clear();
  stack.push_back({root_, 0});
  while (!stack.empty()) {
    const auto [vn, d] = stack.back();
    stack.pop_back();
    const Node* n = static_cast<const Node*>(vn);
    // acquire (here and below): pairs with the writer's release store; the block, the
    // node or the HAMT path it points to is fully built.
    const SubBlock* b = n->subs.load(std::memory_order_acquire);
    if (d == depth) {
      if (b != nullptr) {
        emit(exact_of(b), out);
        emit_groups(b, false, out);
        emit(multi_of(b), out);  // MQTT-4.7.1-2: `sport/#` matches `sport` too
        emit_groups(b, true, out);
      }
      continue;
    }
    const bool wild_ok = !(dollar && d == 0);
    if (b != nullptr && wild_ok) {
      emit(multi_of(b), out);
      emit_groups(b, true, out);
    }
    if (wild_ok) {
      if (const Node* p = n->plus.load(std::memory_order_acquire)) stack.push_back({p, d + 1});
    }
    const MatchResult::Level& lv = levels[d];
    if (const Node* c = Trie::find(n->children.load(std::memory_order_acquire), lv.hash, lv.text)) {
      stack.push_back({c, d + 1});
    }
  }
}

}  // namespace mqttd

// The subscription index. The essay on its invariants is in topic_index.h.
#include "routing/topic_index.h"

#include <algorithm>
#include <new>
#include <random>
#include <span>

#include "routing/hamt.h"
#include "routing/sub_tree.h"

namespace mqttd {

namespace {

using subtree::SubRec;
using subtree::rec_less;

constexpr uint8_t kMatchFlags = MatchResult::kNoLocal | MatchResult::kRetainAsPublished;

SubRec make_rec(uint16_t worker, uint64_t handle, const SubscriptionOptions& o, uint32_t sub_id) {
  uint8_t flags = static_cast<uint8_t>((o.no_local ? MatchResult::kNoLocal : 0) |
                                       (o.retain_as_published ? MatchResult::kRetainAsPublished : 0) |
                                       ((o.retain_handling & 3) << 4));
  return SubRec{handle, sub_id, worker, o.qos, flags};
}

// One sorted section as stored in a block or a group: `n` records, either inline
// (`flat`) or in a tree. A tree takes one inline cell, a SubRec whose `handle` holds the
// root pointer.
struct Section {
  const SubRec* flat = nullptr;
  const subtree::Node* tree = nullptr;
  uint32_t n = 0;

  uint32_t cells() const { return tree ? 1 : n; }
  std::span<const SubRec> recs() const { return {flat, n}; }  // REQUIRES: !tree

  static Section at(const SubRec* cells, uint32_t n, bool tree) {
    if (!tree) return {cells, nullptr, n};
    const uintptr_t root = static_cast<uintptr_t>(cells->handle);
    return {nullptr, reinterpret_cast<const subtree::Node*>(root), n};
  }
  SubRec* put(SubRec* cells) const {
    if (tree == nullptr) return std::copy(flat, flat + n, cells);
    *cells = SubRec{reinterpret_cast<uintptr_t>(tree), 0, 0, 0, 0};
    return cells + 1;
  }
};

}  // namespace

// Immutable once reachable (see the essay): a level, its children, its subscribers. The
// root of the children's HAMT is embedded (`kids`, its slots right after it), saving a
// dependent load per level on the match path and an allocation per inner node: path
// copying replaces a node and that root together anyway.
struct TopicIndex::Node {
  const Node* plus = nullptr;      // the `+` child
  const SubBlock* subs = nullptr;  // nullptr when nobody subscribed here
  uint32_t hash_ = 0;
  uint16_t len_ = 0;
  uint16_t unused_ = 0;
  hamt::Node kids{0, 0};  // LAST: its kids.count slots follow, then the level's len_ bytes

  // The children's HAMT root (the `+` child excluded), nullptr when there are none.
  const hamt::Node* children() const { return kids.count ? &kids : nullptr; }
  uint32_t hash() const { return hash_; }
  std::string_view key() const {
    return {reinterpret_cast<const char*>(kids.slots() + kids.count), len_};
  }
  size_t size() const { return bytes(kids.count, len_); }
  static size_t bytes(size_t slots, size_t len) { return sizeof(Node) + slots * sizeof(uintptr_t) + len; }
};
static_assert(sizeof(TopicIndex::Node) == 32 && alignof(TopicIndex::Node) == 8,
              "kids must end the node so that its slots follow it");

// Immutable members of one `$share/<name>/<filter>`, plus a cursor readers advance.
// Layout: this header, the members' cells (a Section), the name's bytes.
struct alignas(8) TopicIndex::SharedGroup {
  mutable std::atomic<uint32_t> next{0};  // relaxed: round-robin position, publishes nothing
  uint32_t count = 0;
  uint16_t name_len = 0;
  bool multi = false;  // the filter ends in `#` (lives in the multi section)
  bool tree = false;   // the members are a tree (one cell)

  const SubRec* cells() const { return reinterpret_cast<const SubRec*>(this + 1); }
  SubRec* cells() { return reinterpret_cast<SubRec*>(this + 1); }
  Section members() const { return Section::at(cells(), count, tree); }
  std::string_view name() const {
    return {reinterpret_cast<const char*>(cells() + members().cells()), name_len};
  }
  size_t size() const { return bytes(members().cells(), name_len); }
  static size_t bytes(size_t cells, size_t name_len) {
    return sizeof(SharedGroup) + cells * sizeof(SubRec) + name_len;
  }
};

// Immutable: the exact section (filter ends here), the multi section (<here>/#), each a
// Section of n_exact / n_multi records, inline or a tree; then n_groups shared-group
// pointers. Owns its trees (a copied block shares them with its copy: only the nodes an
// edit replaces are retired), not its groups: a group outlives a block that is copied,
// and is retired on its own when replaced.
struct alignas(8) TopicIndex::SubBlock {
  enum : uint8_t { kExactTree = 1, kMultiTree = 2 };
  uint32_t n_exact = 0;
  uint32_t n_multi = 0;
  uint32_t n_groups = 0;
  uint8_t trees = 0;  // kExactTree | kMultiTree: that section is a tree
  uint8_t unused[3] = {};

  const SubRec* cells() const { return reinterpret_cast<const SubRec*>(this + 1); }
  SubRec* cells() { return reinterpret_cast<SubRec*>(this + 1); }
  Section exact() const { return Section::at(cells(), n_exact, trees & kExactTree); }
  Section multi() const {
    return Section::at(cells() + exact().cells(), n_multi, trees & kMultiTree);
  }
  uint32_t n_cells() const { return exact().cells() + multi().cells(); }
  const SharedGroup* const* groups() const {
    return reinterpret_cast<const SharedGroup* const*>(cells() + n_cells());
  }
  size_t size() const { return bytes(n_cells(), n_groups); }
  static size_t bytes(size_t cells, size_t groups) {
    return sizeof(SubBlock) + cells * sizeof(SubRec) + groups * sizeof(void*);
  }
};
static_assert(sizeof(TopicIndex::SubBlock) == 16);

namespace {

using Trie = hamt::Trie<TopicIndex::Node>;
using Node = TopicIndex::Node;
using SubBlock = TopicIndex::SubBlock;
using SharedGroup = TopicIndex::SharedGroup;

void free_raw(void* p) { ::operator delete(p); }

Section exact_of(const SubBlock* b) { return b ? b->exact() : Section(); }
Section multi_of(const SubBlock* b) { return b ? b->multi() : Section(); }
std::span<const SharedGroup* const> groups_of(const SubBlock* b) {
  return b ? std::span<const SharedGroup* const>(b->groups(), b->n_groups)
           : std::span<const SharedGroup* const>();
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

// What one write does to the block of the node its filter names.
struct Edit {
  enum class Kind { kSubscribe, kUnsubscribe } kind;
  std::string_view group;  // empty: a plain subscription
  bool multi;              // the filter ends in `#`
  SubRec rec;              // for an unsubscribe only the key counts
  bool existed = false;    // out: the subscription was there before
};

}  // namespace

// One write operation. Everything it replaces goes to ctx.retired, handed to Qsbr in the
// destructor, after the operation's only publishing store (the root).
struct TopicIndex::Writer {
  TopicIndex& ix;
  hamt::WriteCtx ctx;
  int64_t nodes = 0;
  int64_t subscriptions = 0;
  int64_t trees = 0;

  explicit Writer(TopicIndex& i) : ix(i) {}
  ~Writer() {
    // relaxed: statistics.
    ix.bytes_.fetch_add(ctx.bytes, std::memory_order_relaxed);
    ix.nodes_.fetch_add(static_cast<uint64_t>(nodes), std::memory_order_relaxed);
    ix.subscriptions_.fetch_add(static_cast<uint64_t>(subscriptions), std::memory_order_relaxed);
    ix.trees_.fetch_add(static_cast<uint64_t>(trees), std::memory_order_relaxed);
    ix.qsbr_.retire(ctx.retired);
    ix.qsbr_.reclaim();
  }

  // A new node with these parts (`children` is copied in); nullptr when they are all
  // empty (the node is pruned).
  const Node* make_node(std::string_view key, uint32_t hash, const hamt::Node* children, const Node* plus,
                        const SubBlock* subs, bool root) {
    if (children == nullptr && plus == nullptr && subs == nullptr) return nullptr;
    const uint32_t slots = children ? children->count : 0;
    void* mem = ::operator new(Node::bytes(slots, key.size()));
    Node* n = new (mem) Node;
    n->plus = plus;
    n->subs = subs;
    n->hash_ = hash;
    n->len_ = static_cast<uint16_t>(key.size());
    if (children) {
      n->kids.bitmap = children->bitmap;  // a HAMT root is never a collision node
      n->kids.count = slots;
      std::memcpy(n->kids.slots(), children->slots(), slots * sizeof(uintptr_t));
    }
    if (!key.empty()) std::memcpy(n->kids.slots() + slots, key.data(), key.size());  // the root's is null
    ctx.bytes += static_cast<int64_t>(n->size());
    if (!root) ++nodes;
    return n;
  }
  void retire_node(const Node* n, bool root) {
    ctx.retire(n, n->size(), free_raw);
    if (!root) --nodes;
  }

  // A block of the given parts (nullptr when they are all empty).
  const SubBlock* make_block(const Section& exact, const Section& multi,
                             std::span<const SharedGroup* const> groups) {
    if (exact.n == 0 && multi.n == 0 && groups.empty()) return nullptr;
    size_t sz = SubBlock::bytes(exact.cells() + multi.cells(), groups.size());
    SubBlock* b = new (::operator new(sz)) SubBlock;
    b->n_exact = exact.n;
    b->n_multi = multi.n;
    b->n_groups = static_cast<uint32_t>(groups.size());
    b->trees = static_cast<uint8_t>((exact.tree ? SubBlock::kExactTree : 0) |
                                    (multi.tree ? SubBlock::kMultiTree : 0));
    SubRec* end = multi.put(exact.put(b->cells()));
    std::copy(groups.begin(), groups.end(), reinterpret_cast<const SharedGroup**>(end));
    ctx.bytes += static_cast<int64_t>(sz);
    return b;
  }

  const SharedGroup* make_group(std::string_view name, bool multi, const Section& members,
                                uint32_t next) {
    size_t sz = SharedGroup::bytes(members.cells(), name.size());
    auto* g = new (::operator new(sz)) SharedGroup;
    g->next.store(next, std::memory_order_relaxed);  // relaxed: not yet shared
    g->count = members.n;
    g->name_len = static_cast<uint16_t>(name.size());
    g->multi = multi;
    g->tree = members.tree != nullptr;
    char* end = reinterpret_cast<char*>(members.put(g->cells()));
    std::memcpy(end, name.data(), name.size());
    ctx.bytes += static_cast<int64_t>(sz);
    return g;
  }

  // `sec` with e.rec inserted, replaced or removed, into `out`; false when that changes
  // nothing (an absent key to remove, or the very same subscription again).
  static bool edit_flat(std::span<const SubRec> sec, Edit& e, std::vector<SubRec>& out) {
    auto it = std::lower_bound(sec.begin(), sec.end(), e.rec, rec_less);
    const bool found = it != sec.end() && it->same_key(e.rec);
    e.existed = found;
    if (e.kind == Edit::Kind::kUnsubscribe ? !found : found && it->same(e.rec)) return false;
    out.assign(sec.begin(), it);
    if (e.kind == Edit::Kind::kSubscribe) out.push_back(e.rec);
    out.insert(out.end(), found ? it + 1 : it, sec.end());
    return true;
  }

  // `old` under `e`, as `out` (its flat records, if any, in `flat_`, valid until the next
  // call); false when nothing changes. Picks the representation (the essay): inline up
  // to flat_max records, a tree above; a tree goes back inline at flat_max / 2.
  bool edit_section(const Section& old, Edit& e, Section& out) {
    if (old.tree == nullptr) {
      if (!edit_flat(old.recs(), e, flat_)) return false;
      const uint32_t n = static_cast<uint32_t>(flat_.size());
      if (n > ix.tuning_.flat_max) {
        out = {nullptr, trees_.build(flat_), n};
        ++trees;
      } else {
        out = {flat_.data(), nullptr, n};
      }
      return true;
    }
    if (e.kind == Edit::Kind::kSubscribe) {
      const subtree::Node* t = trees_.upsert(old.tree, e.rec, e.existed);
      if (t == old.tree) return false;
      out = {nullptr, t, e.existed ? old.n : old.n + 1};
      return true;
    }
    e.existed = subtree::contains(old.tree, e.rec);
    if (!e.existed) return false;
    if (old.n - 1 <= ix.tuning_.flat_max / 2) {
      std::vector<SubRec> all;
      subtree::Editor::collect(old.tree, all);
      edit_flat(all, e, flat_);
      trees_.retire_all(old.tree);
      --trees;
      out = {flat_.data(), nullptr, static_cast<uint32_t>(flat_.size())};
      return true;
    }
    out = {nullptr, trees_.erase(old.tree, e.rec, e.existed), old.n - 1};
    return true;
  }

  // The block `old` becomes under `e` (`old` itself when nothing changes).
  const SubBlock* edit_block(const SubBlock* old, Edit& e) {
    Section sec;
    if (e.group.empty()) {
      if (!edit_section(e.multi ? multi_of(old) : exact_of(old), e, sec)) return old;
      const SubBlock* b = e.multi ? make_block(exact_of(old), sec, groups_of(old))
                                  : make_block(sec, multi_of(old), groups_of(old));
      if (old) ctx.retire(old, old->size(), free_raw);
      return b;
    }
    std::vector<const SharedGroup*> groups(groups_of(old).begin(), groups_of(old).end());
    auto it = std::find_if(groups.begin(), groups.end(), [&](const SharedGroup* g) {
      return g->multi == e.multi && g->name() == e.group;
    });
    const SharedGroup* replaced = it != groups.end() ? *it : nullptr;
    if (!edit_section(replaced ? replaced->members() : Section(), e, sec)) return old;
    if (sec.n == 0) {
      groups.erase(it);
    } else {
      // relaxed: the cursor is a hint; carrying it keeps the rotation going.
      const uint32_t next = replaced ? replaced->next.load(std::memory_order_relaxed) : 0;
      const SharedGroup* g = make_group(e.group, e.multi, sec, next);
      if (replaced) {
        *it = g;
      } else {
        groups.push_back(g);
      }
    }
    const SubBlock* b = make_block(exact_of(old), multi_of(old), groups);
    if (replaced) ctx.retire(replaced, replaced->size(), free_raw);
    if (old) ctx.retire(old, old->size(), free_raw);
    return b;
  }

  // The new root after applying `e` at the node `levels` names (the old root when
  // nothing changes). Copies the path bottom-up; an emptied node is pruned.
  const Node* apply(const Node* root, std::span<const std::string_view> levels, Edit& e) {
    // Walk down: path[i] is the node at depth i, nullptr where the filter's path does not
    // exist yet.
    path.clear();
    hashes.clear();
    path.push_back(root);
    for (std::string_view lv : levels) {
      const Node* n = path.back();
      uint32_t h = lv == "+" ? 0 : hamt::hash_level(lv, ix.seed_);
      hashes.push_back(h);
      const Node* c = nullptr;
      if (n != nullptr) c = lv == "+" ? n->plus : Trie::find(n->children(), h, lv);
      path.push_back(c);
    }
    const Node* bottom = path.back();
    const SubBlock* old_subs = bottom ? bottom->subs : nullptr;
    const SubBlock* subs = edit_block(old_subs, e);
    if (subs == old_subs) return root;

    // Rebuild upwards: `fresh` replaces path[d] in its parent.
    const size_t depth = levels.size();
    std::string_view key = depth ? levels[depth - 1] : std::string_view();
    const Node* fresh = make_node(key, depth ? hashes[depth - 1] : 0, bottom ? bottom->children() : nullptr,
                                  bottom ? bottom->plus : nullptr, subs, depth == 0);
    if (bottom) retire_node(bottom, depth == 0);
    for (size_t d = depth; d > 0; --d) {
      const Node* old = path[d];
      const Node* parent = path[d - 1];
      const hamt::Node* embedded = parent ? parent->children() : nullptr;
      const hamt::Node* children = embedded;
      const Node* plus = parent ? parent->plus : nullptr;
      // The HAMT operation copies the embedded root like any node, without retiring it
      // (the parent is retired whole); make_node copies the result in and we discard it.
      ctx.embedded_root = embedded;
      if (levels[d - 1] == "+") {
        plus = fresh;
      } else if (old == nullptr) {
        children = Trie::insert(children, const_cast<Node*>(fresh), ctx);
      } else if (fresh == nullptr) {
        children = Trie::erase(children, old, ctx);
      } else {
        children = Trie::replace(children, old, const_cast<Node*>(fresh), ctx);
      }
      ctx.embedded_root = nullptr;
      std::string_view pkey = d > 1 ? levels[d - 2] : std::string_view();
      const Node* p = make_node(pkey, d > 1 ? hashes[d - 2] : 0, children, plus, parent ? parent->subs : nullptr,
                                d == 1);
      if (children != nullptr && children != embedded) ctx.discard(children);
      if (parent) retire_node(parent, d == 1);
      fresh = p;
    }
    return fresh;
  }

  // Scratch for apply() (the Writer lives for one operation).
  std::vector<const Node*> path;
  std::vector<uint32_t> hashes;
  std::vector<SubRec> flat_;  // a flat section being rebuilt
  const subtree::Shape shape_{ix.tuning_.leaf_max, ix.tuning_.fanout};
  subtree::Editor trees_{shape_, ctx};
};

namespace {
TopicIndex::Tuning clamped(const TopicIndex::Tuning& tuning) {
  TopicIndex::Tuning t = tuning;
  t.leaf_max = std::clamp<uint32_t>(t.leaf_max, 4, UINT16_MAX);
  t.fanout = std::clamp<uint32_t>(t.fanout, 4, UINT16_MAX);
  return t;
}
}  // namespace

TopicIndex::TopicIndex(Qsbr& qsbr, const Tuning& tuning)
    : qsbr_(qsbr),
      seed_((uint64_t{std::random_device{}()} << 32) | std::random_device{}()),
      tuning_(clamped(tuning)) {}

TopicIndex::~TopicIndex() {
  // relaxed: REQUIRES no concurrent reader or writer.
  const Node* root = root_.load(std::memory_order_relaxed);
  std::vector<const Node*> todo;
  if (root) todo.push_back(root);
  while (!todo.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    if (n->plus) todo.push_back(n->plus);
    Trie::destroy_below(n->children(), [&](Node* c) { todo.push_back(c); });
    if (const SubBlock* b = n->subs) {
      for (const SharedGroup* g : groups_of(b)) {
        subtree::Editor::destroy(g->members().tree);
        ::operator delete(const_cast<SharedGroup*>(g));
      }
      subtree::Editor::destroy(b->exact().tree);
      subtree::Editor::destroy(b->multi().tree);
      ::operator delete(const_cast<SubBlock*>(b));
    }
    ::operator delete(const_cast<Node*>(n));
  }
}

bool TopicIndex::subscribe(std::string_view filter, uint16_t worker, uint64_t handle,
                           const SubscriptionOptions& options, uint32_t sub_id) {
  std::optional<ParsedFilter> pf = parse_filter(filter);
  std::vector<std::string_view> levels;
  bool multi;
  if (!pf || pf->filter.empty() || !split_filter(pf->filter, levels, multi)) return false;
  Edit e{Edit::Kind::kSubscribe, pf->group, multi, make_rec(worker, handle, options, sub_id)};

  std::lock_guard lock(mu_);
  Writer w(*this);
  // relaxed: only writers store root_, and we hold mu_.
  const Node* root = root_.load(std::memory_order_relaxed);
  const Node* fresh = w.apply(root, levels, e);
  // release: every object reachable from `fresh` is fully built (see the essay).
  if (fresh != root) root_.store(fresh, std::memory_order_release);
  if (!e.existed) ++w.subscriptions;
  return e.existed;
}

bool TopicIndex::unsubscribe(std::string_view filter, uint16_t worker, uint64_t handle) {
  std::optional<ParsedFilter> pf = parse_filter(filter);
  std::vector<std::string_view> levels;
  bool multi;
  if (!pf || pf->filter.empty() || !split_filter(pf->filter, levels, multi)) return false;
  Edit e{Edit::Kind::kUnsubscribe, pf->group, multi, SubRec{handle, 0, worker, 0, 0}};

  std::lock_guard lock(mu_);
  Writer w(*this);
  // relaxed: only writers store root_, and we hold mu_.
  const Node* root = root_.load(std::memory_order_relaxed);
  const Node* fresh = w.apply(root, levels, e);
  // release: as in subscribe().
  if (fresh != root) root_.store(fresh, std::memory_order_release);
  if (e.existed) --w.subscriptions;
  return e.existed;
}

namespace {
void emit_recs(std::span<const SubRec> recs, MatchResult& out) {
  for (const SubRec& r : recs) out.add(r.worker, r.handle, r.qos, r.flags & kMatchFlags, r.sub_id);
}
void emit_groups(const SubBlock* b, bool multi, MatchResult& out) {
  for (const SharedGroup* g : groups_of(b)) {
    if (g->multi != multi) continue;
    // relaxed: the cursor only spreads deliveries; it orders nothing. One fetch_add:
    // wait-free, whatever the other readers do.
    uint32_t i = g->next.fetch_add(1, std::memory_order_relaxed) % g->count;
    const Section m = g->members();
    const SubRec& r = m.tree ? subtree::select(m.tree, i) : m.flat[i];
    out.begin_run();
    out.add(r.worker, r.handle, r.qos,
            static_cast<uint8_t>((r.flags & MatchResult::kRetainAsPublished) | MatchResult::kShared),
            r.sub_id);
  }
}
// One section: one sorted, duplicate-free run. A tree's leaves are visited in key
// order, so the run is sorted across leaves too.
void emit(const Section& s, MatchResult& out) {
  if (s.n == 0) return;
  out.begin_run();
  if (s.tree == nullptr) {
    emit_recs(s.recs(), out);
    return;
  }
  out.reserve_more(s.n);
  subtree::for_each_leaf(s.tree, [&](std::span<const SubRec> recs) { emit_recs(recs, out); });
}
}  // namespace

void TopicIndex::match(std::string_view topic, MatchResult& out) const {
  out.reset();
  // acquire: pairs with the writer's release store; the whole version is built.
  const Node* root = root_.load(std::memory_order_acquire);
  if (root == nullptr) return;
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
  stack.push_back({root, 0});
  while (!stack.empty()) {
    auto [vn, d] = stack.back();
    stack.pop_back();
    // Follow the exact children down, leaving each `+` branch on the stack.
    for (const Node* n = static_cast<const Node*>(vn);; ++d) {
      const SubBlock* b = n->subs;
      if (d == depth) {
        if (b != nullptr) {
          const Section exact = b->exact(), multi = b->multi();
          emit(exact, out);
          emit_groups(b, false, out);
          emit(multi, out);  // MQTT-4.7.1-2: `sport/#` matches `sport` too
          emit_groups(b, true, out);
        }
        break;
      }
      const bool wild_ok = !(dollar && d == 0);
      if (wild_ok) {
        if (b != nullptr) {
          const Section multi = b->multi();
          emit(multi, out);
          emit_groups(b, true, out);
        }
        if (n->plus != nullptr) stack.push_back({n->plus, d + 1});
      }
      const MatchResult::Level& lv = levels[d];
      n = Trie::find(n->children(), lv.hash, lv.text);
      if (n == nullptr) break;
    }
  }
}

namespace {

// One section against the essay's invariants; appends what is wrong to `err`.
void check_section(const Section& s, const TopicIndex::Tuning& t, const char* what,
                   std::string& err, uint64_t& trees) {
  auto fail = [&](const std::string& m) {
    if (err.empty()) err = std::string(what) + ": " + m;
  };
  std::vector<SubRec> collected;
  std::span<const SubRec> recs;
  if (s.tree != nullptr) {
    ++trees;
    if (s.n <= t.flat_max / 2) fail("a tree of " + std::to_string(s.n) + " should be inline");
    if (s.n != s.tree->total) fail("count differs from the tree's total");
    std::string e = subtree::Editor::check(s.tree, subtree::Shape{t.leaf_max, t.fanout});
    if (!e.empty()) fail(e);
    subtree::Editor::collect(s.tree, collected);
    recs = collected;
  } else {
    if (s.n > t.flat_max) fail(std::to_string(s.n) + " inline records, over flat_max");
    recs = s.recs();
  }
  if (recs.size() != s.n) fail("count differs from the records held");
  for (size_t i = 1; i < recs.size(); ++i) {
    if (!rec_less(recs[i - 1], recs[i])) fail("records out of order or repeated");
  }
}

}  // namespace

std::string TopicIndex::test_check() const {
  // acquire: as in match(); REQUIRES no concurrent writer, so this is the last version.
  const Node* root = root_.load(std::memory_order_acquire);
  std::string err;
  uint64_t subs = 0, trees = 0;
  std::vector<const Node*> todo;
  if (root) todo.push_back(root);
  while (!todo.empty() && err.empty()) {
    const Node* n = todo.back();
    todo.pop_back();
    if (n->plus) todo.push_back(n->plus);
    Trie::for_each(n->children(), [&](Node* c) { todo.push_back(c); });
    const SubBlock* b = n->subs;
    if (b == nullptr) continue;
    if (b->n_exact == 0 && b->n_multi == 0 && b->n_groups == 0) err = "an empty block is kept";
    check_section(b->exact(), tuning_, "exact section", err, trees);
    check_section(b->multi(), tuning_, "multi section", err, trees);
    subs += b->n_exact + b->n_multi;
    for (const SharedGroup* g : groups_of(b)) {
      if (g->count == 0) err = "an empty shared group is kept";
      check_section(g->members(), tuning_, "shared group", err, trees);
      subs += g->count;
    }
  }
  // relaxed: REQUIRES no concurrent writer.
  if (err.empty() && subs != subscriptions_.load(std::memory_order_relaxed)) {
    err = "subscription counter is off";
  }
  if (err.empty() && trees != trees_.load(std::memory_order_relaxed)) err = "tree counter is off";
  return err;
}

}  // namespace mqttd

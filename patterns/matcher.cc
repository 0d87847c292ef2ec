#include "patterns/matcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tfqat::patterns {

int Match::Node(absl::string_view capture) const {
  for (const auto& [name, c] : captures) {
    if (name == capture) return c.node;
  }
  return -1;
}

std::optional<Captured> Match::Get(absl::string_view capture) const {
  for (const auto& [name, c] : captures) {
    if (name == capture) return c;
  }
  return std::nullopt;
}

namespace {

// Why an attempt failed; formatted only when a failure is reported.
struct FailureNote {
  enum class Kind {
    kNone,
    kOpType,       // node's op is not in the pattern's set
    kClaimed,      // node belongs to an earlier match
    kExcluded,     // node is excluded by the options
    kTwice,        // node would be owned twice
    kPredicate,    // a predicate failed (detail = index)
    kInputCount,   // too few / too many data inputs
    kPort,         // the producer's output port is not the expected one
    kEscape,       // owned interior node consumed outside the match (other = consumer)
    kProtected,    // owned interior node is a graph output
    kRootNotOp,    // the pattern's root is a wildcard
  };
  Kind kind = Kind::kNone;
  int depth = -1;
  int node = -1;
  const PatternNode* pattern = nullptr;
  int other = -1;
  int detail = 0;
};

std::string NodeLabel(const GraphView& view, int n) {
  return absl::StrCat("'", view.node(n).name(), "' (", view.node(n).op(), ")");
}

std::string Format(const GraphView& view, const FailureNote& f) {
  const std::string node = f.node >= 0 ? NodeLabel(view, f.node) : "?";
  const std::string want = f.pattern != nullptr ? f.pattern->Describe() : "";
  switch (f.kind) {
    case FailureNote::Kind::kNone:
      return "no match";
    case FailureNote::Kind::kOpType:
      return absl::StrCat(node, " is not ", want);
    case FailureNote::Kind::kClaimed:
      return absl::StrCat(node, " already belongs to another match (as ", want, ")");
    case FailureNote::Kind::kExcluded:
      return absl::StrCat(node, " is excluded (as ", want, ")");
    case FailureNote::Kind::kTwice:
      return absl::StrCat(node, " would be matched twice (as ", want, ")");
    case FailureNote::Kind::kPredicate: {
      std::string desc = f.pattern != nullptr && f.detail < f.pattern->predicates.size()
                             ? f.pattern->predicates[f.detail].description
                             : "predicate";
      return absl::StrCat(node, " as ", want, ": not ", desc);
    }
    case FailureNote::Kind::kInputCount:
      return absl::StrCat(node, " has ", f.detail, " data inputs, ", want, " needs ",
                          f.pattern != nullptr ? f.pattern->inputs.size() : 0);
    case FailureNote::Kind::kPort:
      return absl::StrCat(node, " output ", f.detail, " is used, ", want, " needs output ",
                          f.pattern != nullptr ? f.pattern->port : 0);
    case FailureNote::Kind::kEscape:
      return absl::StrCat(node, " (", want, ") has a consumer outside the match: ",
                          f.other >= 0 ? NodeLabel(view, f.other) : "?");
    case FailureNote::Kind::kProtected:
      return absl::StrCat(node, " (", want, ") is a graph output in the middle of the match");
    case FailureNote::Kind::kRootNotOp:
      return "the pattern's root is a wildcard";
  }
  return "no match";
}

class Engine {
 public:
  Engine(const GraphView& view, const MatchOptions& options, const std::vector<int>* owner)
      : view_(view), options_(options), owner_(owner) {}

  // Full attempt at `root`; fills *out on success.
  bool Run(const Pattern& pattern, int root, Match* out) {
    owned_.clear();
    owned_pat_.clear();
    caps_.clear();
    best_ = FailureNote{};
    if (!MatchNode(*pattern.root, root, 0, 0)) return false;
    if (owned_.empty() || owned_[0] != root) {
      Note(FailureNote::Kind::kRootNotOp, 1 << 20, root, pattern.root.get());
      return false;
    }
    if (!CheckEscapes()) return false;
    out->pattern = pattern.name;
    out->root = root;
    out->owned = owned_;
    out->captures.clear();
    out->captures.reserve(caps_.size());
    for (const auto& [name, c] : caps_) out->captures.emplace_back(*name, c);
    return true;
  }

  const FailureNote& best() const { return best_; }

 private:
  struct Mark {
    size_t owned, caps;
  };
  Mark Save() const { return Mark{owned_.size(), caps_.size()}; }
  void Restore(const Mark& m) {
    owned_.resize(m.owned);
    owned_pat_.resize(m.owned);
    caps_.resize(m.caps);
  }

  void Note(FailureNote::Kind kind, int depth, int node, const PatternNode* p, int other = -1,
            int detail = 0) {
    if (depth < best_.depth) return;
    best_ = FailureNote{kind, depth, node, p, other, detail};
  }

  bool MatchNode(const PatternNode& p, int node, int port, int depth) {
    if (p.optional && p.pass_through >= 0 && p.pass_through < static_cast<int>(p.inputs.size())) {
      Mark m = Save();
      if (MatchPresent(p, node, port, depth)) return true;
      Restore(m);
      return MatchNode(*p.inputs[p.pass_through], node, port, depth);
    }
    return MatchPresent(p, node, port, depth);
  }

  bool MatchPresent(const PatternNode& p, int node, int port, int depth) {
    switch (p.kind) {
      case PatternNode::Kind::kAny:
        for (size_t i = 0; i < p.predicates.size(); ++i) {
          if (!p.predicates[i].test(view_, node)) {
            Note(FailureNote::Kind::kPredicate, depth, node, &p, -1, static_cast<int>(i));
            return false;
          }
        }
        if (!p.capture.empty()) caps_.emplace_back(&p.capture, Captured{node, port});
        return true;
      case PatternNode::Kind::kOneOf: {
        for (const PatternPtr& alt : p.alternatives) {
          Mark m = Save();
          if (MatchNode(*alt, node, port, depth)) {
            if (!p.capture.empty()) caps_.emplace_back(&p.capture, Captured{node, port});
            return true;
          }
          Restore(m);
        }
        // Report the alternatives as one expectation when none got past this node.
        if (best_.depth <= depth && !p.role.empty()) Note(FailureNote::Kind::kOpType, depth, node, &p);
        return false;
      }
      case PatternNode::Kind::kOp:
        break;
    }
    const tensorflow::NodeDef& def = view_.node(node);
    if (!p.ops.Contains(def.op())) {
      Note(FailureNote::Kind::kOpType, depth, node, &p);
      return false;
    }
    if (!p.boundary) {
      if (options_.excluded_nodes.contains(node)) {
        Note(FailureNote::Kind::kExcluded, depth, node, &p);
        return false;
      }
      if (owner_ != nullptr && (*owner_)[node] >= 0) {
        Note(FailureNote::Kind::kClaimed, depth, node, &p);
        return false;
      }
      if (std::find(owned_.begin(), owned_.end(), node) != owned_.end()) {
        Note(FailureNote::Kind::kTwice, depth, node, &p);
        return false;
      }
    }
    for (size_t i = 0; i < p.predicates.size(); ++i) {
      if (!p.predicates[i].test(view_, node)) {
        Note(FailureNote::Kind::kPredicate, depth, node, &p, -1, static_cast<int>(i));
        return false;
      }
    }
    const absl::Span<const Producer> fanin = view_.fanin(node);
    int num_data = 0;
    while (num_data < static_cast<int>(fanin.size()) && !fanin[num_data].is_control) ++num_data;
    const int want = static_cast<int>(p.inputs.size());
    if (num_data < want || (p.exact_inputs && num_data != want)) {
      Note(FailureNote::Kind::kInputCount, depth, node, &p, -1, num_data);
      return false;
    }
    if (!p.boundary) {
      owned_.push_back(node);
      owned_pat_.push_back(&p);
    }
    if (!p.capture.empty()) caps_.emplace_back(&p.capture, Captured{node, port});
    if (want == 0) return true;
    Mark m = Save();
    if (MatchInputs(p, fanin, /*swap=*/false, depth)) return true;
    Restore(m);
    if (p.commutative && want >= 2) {
      if (MatchInputs(p, fanin, /*swap=*/true, depth)) return true;
      Restore(m);
    }
    return false;
  }

  bool MatchInputs(const PatternNode& p, absl::Span<const Producer> fanin, bool swap,
                   int depth) {
    for (size_t k = 0; k < p.inputs.size(); ++k) {
      size_t slot = k;
      if (swap && k < 2) slot = 1 - k;
      const PatternNode& child = *p.inputs[k];
      const Producer& prod = fanin[slot];
      if (child.port >= 0 && prod.port != child.port) {
        Note(FailureNote::Kind::kPort, depth + 1, prod.node, &child, -1, prod.port);
        return false;
      }
      if (!MatchNode(child, prod.node, prod.port, depth + 1)) return false;
    }
    return true;
  }

  bool CheckEscapes() {
    for (size_t i = 1; i < owned_.size(); ++i) {
      const int n = owned_[i];
      const PatternNode* p = owned_pat_[i];
      if (p->allow_escape) continue;
      if (options_.protected_nodes.contains(n)) {
        Note(FailureNote::Kind::kProtected, 1 << 20, n, p);
        return false;
      }
      for (const Consumer& c : view_.fanout(n)) {
        if (c.is_control) continue;
        if (std::find(owned_.begin(), owned_.end(), c.node) == owned_.end()) {
          Note(FailureNote::Kind::kEscape, 1 << 20, n, p, c.node);
          return false;
        }
      }
    }
    return true;
  }

  const GraphView& view_;
  const MatchOptions& options_;
  const std::vector<int>* owner_;
  std::vector<int> owned_;
  std::vector<const PatternNode*> owned_pat_;
  std::vector<std::pair<const std::string*, Captured>> caps_;
  FailureNote best_;
};

}  // namespace

absl::StatusOr<MatchSet> FindMatches(const GraphView& view, const std::vector<Pattern>& patterns,
                                     const MatchOptions& options) {
  absl::StatusOr<std::vector<int>> order_or;
  if (options.topological_order == nullptr) {
    order_or = view.TopologicalOrder();
    if (!order_or.ok()) return order_or.status();
  }
  const std::vector<int>& order = options.topological_order != nullptr ? *options.topological_order : *order_or;

  struct Prepared {
    const Pattern* pattern;
    OpSet root_ops;
    bool any;
  };
  std::vector<Prepared> prepared;
  for (const Pattern& p : patterns) {
    bool any = false;
    OpSet ops = RootOps(*p.root, &any);
    prepared.push_back(Prepared{&p, std::move(ops), any});
  }

  MatchSet result;
  result.owner.assign(view.num_nodes(), -1);
  Engine engine(view, options, &result.owner);
  Match m;
  const int num = static_cast<int>(order.size());
  constexpr int kAhead = GraphView::kPrefetchDistance;
  for (int k = num - 1; k >= 0; --k) {
    const int n = order[k];
    view.Prefetch(k >= kAhead ? order[k - kAhead] : -1, k >= kAhead / 2 ? order[k - kAhead / 2] : -1,
                  k >= kAhead / 4 ? order[k - kAhead / 4] : -1);
    if (result.owner[n] >= 0 || options.excluded_nodes.contains(n)) continue;
    const std::string& op = view.node(n).op();
    for (const Prepared& pp : prepared) {
      if (!pp.any && !pp.root_ops.Contains(op)) continue;
      if (engine.Run(*pp.pattern, n, &m)) {
        const int idx = static_cast<int>(result.matches.size());
        for (int o : m.owned) result.owner[o] = idx;
        result.matches.push_back(std::move(m));
        m = Match{};
        break;
      }
      if (options.record_failures && !pp.any) {
        const FailureNote& f = engine.best();
        result.failures.push_back(
            MatchFailure{pp.pattern->name, n, f.node >= 0 ? f.node : n, Format(view, f)});
      }
    }
  }
  return result;
}

std::optional<Match> MatchAt(const GraphView& view, const Pattern& pattern, int root,
                             const MatchOptions& options, std::string* why) {
  Engine engine(view, options, nullptr);
  Match m;
  if (engine.Run(pattern, root, &m)) return m;
  if (why != nullptr) *why = Format(view, engine.best());
  return std::nullopt;
}

}  // namespace tfqat::patterns

#include "graph/graph_view.h"

#include <algorithm>
#include <queue>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tfqat {

namespace {

// The first error of `graph` in the order the checks are documented: names first (empty,
// duplicate), then inputs node by node (malformed, dangling). Only called when Create's
// single pass saw something wrong, so that the message does not depend on how it found it.
absl::Status FirstError(const tensorflow::GraphDef& graph) {
  const int n = graph.node_size();
  absl::flat_hash_map<absl::string_view, int> by_name;
  by_name.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto& node = graph.node(i);
    if (node.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("node #", i, " (", node.op(), ") has an empty name"));
    }
    auto [it, inserted] = by_name.emplace(node.name(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                                     "): duplicate node name (also node #",
                                                     it->second, "); node names must be unique"));
    }
  }
  for (int i = 0; i < n; ++i) {
    const auto& node = graph.node(i);
    for (int s = 0; s < node.input_size(); ++s) {
      auto ref = ParseTensorRefView(node.input(s));
      if (!ref.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                                       "): input ", s, ": ", ref.status().message()));
      }
      if (!by_name.contains(ref->node)) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name(), "' (", node.op(), "): input ", s, " '",
                         node.input(s), "' names a node that does not exist (dangling input)"));
      }
    }
  }
  return absl::InternalError("graph view: an error was seen but not found again");
}

}  // namespace

absl::StatusOr<GraphView> GraphView::Create(const tensorflow::GraphDef& graph) {
  GraphView v;
  v.graph_ = &graph;
  const int n = graph.node_size();
  v.by_name_.reserve(n);
  v.fanin_begin_.resize(static_cast<size_t>(n) + 1);
  v.fanin_.reserve(2 * static_cast<size_t>(n));
  // One pass: each node's name is indexed and its inputs resolved while the node is in cache
  // (producers usually come earlier in the graph, and recently). Inputs naming a node further
  // on are resolved after the pass. On any error the graph is checked again in the documented
  // order (FirstError) for the message.
  struct Later {
    size_t at;  // index into fanin_
    int node;
    int slot;
  };
  std::vector<Later> later;
  // Over large graphs every node's NodeDef, name and table slot is a cache miss: they are
  // fetched a few nodes ahead, one pointer hop per stage.
  constexpr int kAhead = 16;
  for (int i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(&graph.node(i + kAhead));
    if (i + kAhead / 2 < n) __builtin_prefetch(&graph.node(i + kAhead / 2).name());
    if (i + kAhead / 4 < n) __builtin_prefetch(graph.node(i + kAhead / 4).name().data());
    if (i + 2 < n) v.by_name_.prefetch(absl::string_view(graph.node(i + 2).name()));
    const auto& node = graph.node(i);
    if (node.name().empty() || !v.by_name_.emplace(node.name(), i).second) return FirstError(graph);
    v.fanin_begin_[i] = v.fanin_.size();
    for (int s = 0; s < node.input_size(); ++s) {
      auto ref = ParseTensorRefView(node.input(s));
      if (!ref.ok()) return FirstError(graph);
      auto it = v.by_name_.find(ref->node);
      if (it == v.by_name_.end()) later.push_back(Later{v.fanin_.size(), i, s});
      v.fanin_.push_back(Producer{it == v.by_name_.end() ? -1 : it->second, ref->port, ref->is_control});
    }
  }
  v.fanin_begin_[n] = v.fanin_.size();
  for (const Later& l : later) {
    auto ref = ParseTensorRefView(graph.node(l.node).input(l.slot));
    auto it = v.by_name_.find(ref->node);
    if (it == v.by_name_.end()) return FirstError(graph);
    v.fanin_[l.at].node = it->second;
  }
  // Fan-out by counting: fanout_begin_[p + 1] counts p's consumers, prefix sums give the
  // starts, filling in consumer order advances each start to its end, and shifting by one
  // gives the starts back.
  v.fanout_begin_.assign(static_cast<size_t>(n) + 1, 0);
  for (const Producer& p : v.fanin_) ++v.fanout_begin_[p.node + 1];
  for (int i = 0; i < n; ++i) v.fanout_begin_[i + 1] += v.fanout_begin_[i];
  v.fanout_.resize(v.fanin_.size());
  for (int i = 0; i < n; ++i) {
    const size_t b = v.fanin_begin_[i];
    for (size_t k = b; k < v.fanin_begin_[i + 1]; ++k) {
      const Producer& p = v.fanin_[k];
      v.fanout_[v.fanout_begin_[p.node]++] = Consumer{i, static_cast<int>(k - b), p.port, p.is_control};
    }
  }
  for (int i = n; i > 0; --i) v.fanout_begin_[i] = v.fanout_begin_[i - 1];
  v.fanout_begin_[0] = 0;
  return v;
}

const std::vector<TensorRef>& GraphView::inputs(int i) const {
  std::call_once(inputs_->once, [this] {
    const int n = num_nodes();
    inputs_->refs.resize(n);
    for (int k = 0; k < n; ++k) {
      const auto& node = graph_->node(k);
      auto& ins = inputs_->refs[k];
      ins.reserve(node.input_size());
      for (const std::string& in : node.input()) {
        auto ref = ParseTensorRef(in);  // valid: Create checked every input
        ins.push_back(ref.ok() ? *std::move(ref) : TensorRef{});
      }
    }
  });
  return inputs_->refs[i];
}

std::optional<int> GraphView::index(absl::string_view name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

const tensorflow::NodeDef* GraphView::FindNode(absl::string_view name) const {
  auto i = index(name);
  return i ? &graph_->node(*i) : nullptr;
}

std::vector<Producer> GraphView::data_fanin(int i) const {
  std::vector<Producer> out;
  for (const auto& p : fanin(i)) {
    if (!p.is_control) out.push_back(p);
  }
  return out;
}

std::vector<Consumer> GraphView::consumers(int i, int port) const {
  std::vector<Consumer> out;
  for (const auto& c : fanout(i)) {
    if (!c.is_control && c.port == port) out.push_back(c);
  }
  return out;
}

int GraphView::num_data_consumers(int i) const {
  int k = 0;
  for (const auto& c : fanout(i)) k += c.is_control ? 0 : 1;
  return k;
}

std::vector<int> GraphView::Placeholders() const {
  std::vector<int> out;
  for (int i = 0; i < num_nodes(); ++i) {
    const auto& op = node(i).op();
    if (op == "Placeholder" || op == "PlaceholderV2" || op == "PlaceholderWithDefault") out.push_back(i);
  }
  return out;
}

std::vector<int> GraphView::Outputs() const {
  static const absl::flat_hash_set<absl::string_view> kSinks = {
      "Const", "NoOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
      "AssignSubVariableOp", "SaveV2", "RestoreV2", "Save", "Restore", "SaveSlices", "MergeV2Checkpoints",
      "VariableV2", "Variable", "VarHandleOp", "Placeholder", "PlaceholderWithDefault", "ShardedFilename",
      "StringJoin", "VarIsInitializedOp"};
  std::vector<int> out;
  for (int i = 0; i < num_nodes(); ++i) {
    if (!fanout(i).empty()) continue;
    if (kSinks.contains(node(i).op())) continue;
    if (absl::StartsWith(node(i).name(), "save/")) continue;
    out.push_back(i);
  }
  return out;
}

absl::StatusOr<std::vector<int>> GraphView::TopologicalOrder() const {
  const int n = num_nodes();
  // Graphs are usually written producers first. Then Kahn's order with ties by index is the
  // graph order itself (node k is always the smallest ready index), found in one scan.
  bool forward = true;
  for (int i = 0; i < n && forward; ++i) {
    for (const Producer& p : fanin(i)) {
      if (p.node >= i) {
        forward = false;
        break;
      }
    }
  }
  if (forward) {
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    return order;
  }
  std::vector<int> pending(n, 0);
  // NextIteration closes loops in TF control flow; its back edge does not order nodes.
  std::vector<bool> next_iteration(n);
  for (int i = 0; i < n; ++i) {
    const std::string& op = node(i).op();
    next_iteration[i] = op == "NextIteration" || op == "RefNextIteration";
  }
  for (int i = 0; i < n; ++i) {
    for (const auto& p : fanin(i)) {
      if (!next_iteration[p.node]) ++pending[i];
    }
  }
  // Min-heap on index keeps the order deterministic and close to graph order.
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) if (pending[i] == 0) ready.push(i);
  std::vector<int> order;
  order.reserve(n);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    order.push_back(i);
    if (next_iteration[i]) continue;
    for (const auto& c : fanout(i)) {
      if (--pending[c.node] == 0) ready.push(c.node);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    std::vector<std::string> stuck;
    for (int i = 0; i < n && stuck.size() < 8; ++i) {
      if (pending[i] > 0) stuck.push_back(absl::StrCat("'", node(i).name(), "' (", node(i).op(), ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "graph has a cycle: ", n - static_cast<int>(order.size()),
        " nodes cannot be ordered, among them node ", absl::StrJoin(stuck, ", node "),
        "; remove the back edge (only NextIteration may close a loop)"));
  }
  return order;
}

}  // namespace tfqat

#include "graph/graph_view.h"

#include <algorithm>
#include <queue>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tfqat {

absl::StatusOr<GraphView> GraphView::Create(const tensorflow::GraphDef& graph) {
  GraphView v;
  v.graph_ = &graph;
  const int n = graph.node_size();
  v.by_name_.reserve(n);
  v.fanin_.resize(n);
  v.fanout_.resize(n);
  for (int i = 0; i < n; ++i) {
    const auto& node = graph.node(i);
    if (node.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("node #", i, " (", node.op(), ") has an empty name"));
    }
    auto [it, inserted] = v.by_name_.emplace(node.name(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                                     "): duplicate node name (also node #",
                                                     it->second, "); node names must be unique"));
    }
  }
  for (int i = 0; i < n; ++i) {
    const auto& node = graph.node(i);
    auto& fin = v.fanin_[i];
    fin.reserve(node.input_size());
    for (int s = 0; s < node.input_size(); ++s) {
      auto ref = ParseTensorRefView(node.input(s));
      if (!ref.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                                       "): input ", s, ": ", ref.status().message()));
      }
      auto it = v.by_name_.find(ref->node);
      if (it == v.by_name_.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name(), "' (", node.op(), "): input ", s, " '",
                         node.input(s), "' names a node that does not exist (dangling input)"));
      }
      fin.push_back(Producer{it->second, ref->port, ref->is_control});
      v.fanout_[it->second].push_back(Consumer{i, s, ref->port, ref->is_control});
    }
  }
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
  for (const auto& p : fanin_[i]) {
    if (!p.is_control) out.push_back(p);
  }
  return out;
}

std::vector<Consumer> GraphView::consumers(int i, int port) const {
  std::vector<Consumer> out;
  for (const auto& c : fanout_[i]) {
    if (!c.is_control && c.port == port) out.push_back(c);
  }
  return out;
}

int GraphView::num_data_consumers(int i) const {
  int k = 0;
  for (const auto& c : fanout_[i]) k += c.is_control ? 0 : 1;
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
    if (!fanout_[i].empty()) continue;
    if (kSinks.contains(node(i).op())) continue;
    if (absl::StartsWith(node(i).name(), "save/")) continue;
    out.push_back(i);
  }
  return out;
}

absl::StatusOr<std::vector<int>> GraphView::TopologicalOrder() const {
  const int n = num_nodes();
  std::vector<int> pending(n, 0);
  // NextIteration closes loops in TF control flow; its back edge does not order nodes.
  std::vector<bool> next_iteration(n);
  for (int i = 0; i < n; ++i) {
    const std::string& op = node(i).op();
    next_iteration[i] = op == "NextIteration" || op == "RefNextIteration";
  }
  for (int i = 0; i < n; ++i) {
    for (const auto& p : fanin_[i]) {
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
    for (const auto& c : fanout_[i]) {
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

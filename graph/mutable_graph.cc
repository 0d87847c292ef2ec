#include "graph/mutable_graph.h"

#include "absl/strings/str_cat.h"

namespace tfqat {

MutableGraph::MutableGraph(tensorflow::GraphDef graph) : graph_(std::move(graph)) { Reindex(); }

void MutableGraph::Reindex() {
  index_.clear();
  for (int i = 0; i < graph_.node_size(); ++i) index_.emplace(graph_.node(i).name(), i);
}

tensorflow::NodeDef* MutableGraph::FindNode(absl::string_view name) {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : graph_.mutable_node(it->second);
}

const tensorflow::NodeDef* MutableGraph::FindNode(absl::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &graph_.node(it->second);
}

std::string MutableGraph::UniqueName(absl::string_view base) const {
  if (!index_.contains(base)) return std::string(base);
  for (int k = 1;; ++k) {
    std::string candidate = absl::StrCat(base, "_", k);
    if (!index_.contains(candidate)) return candidate;
  }
}

tensorflow::NodeDef* MutableGraph::AddNode(absl::string_view name, absl::string_view op) {
  std::string unique = UniqueName(name);
  tensorflow::NodeDef* node = graph_.add_node();
  node->set_name(unique);
  node->set_op(std::string(op));
  index_.emplace(unique, graph_.node_size() - 1);
  return node;
}

absl::StatusOr<tensorflow::NodeDef*> MutableGraph::AddNode(const tensorflow::NodeDef& node) {
  if (index_.contains(node.name())) {
    return absl::AlreadyExistsError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                                 "): a node with this name already exists"));
  }
  tensorflow::NodeDef* added = graph_.add_node();
  *added = node;
  index_.emplace(node.name(), graph_.node_size() - 1);
  return added;
}

absl::Status MutableGraph::RemoveNodes(const absl::flat_hash_set<std::string>& names) {
  if (names.empty()) return absl::OkStatus();
  for (const auto& node : graph_.node()) {
    if (names.contains(node.name())) continue;
    for (const auto& in : node.input()) {
      if (!in.empty() && in[0] != '^' && names.contains(NodeNameOf(in))) {
        return absl::FailedPreconditionError(absl::StrCat(
            "node '", node.name(), "' (", node.op(), "): still reads '", in,
            "', which is being removed; rewire it first"));
      }
    }
  }
  auto* nodes = graph_.mutable_node();
  int w = 0;
  for (int r = 0; r < nodes->size(); ++r) {
    tensorflow::NodeDef* node = nodes->Mutable(r);
    if (names.contains(node->name())) continue;
    auto* inputs = node->mutable_input();
    int iw = 0;
    for (int ir = 0; ir < inputs->size(); ++ir) {
      const std::string& in = inputs->Get(ir);
      if (!in.empty() && in[0] == '^' && names.contains(NodeNameOf(in))) continue;
      if (iw != ir) inputs->SwapElements(iw, ir);
      ++iw;
    }
    while (inputs->size() > iw) inputs->RemoveLast();
    if (w != r) nodes->SwapElements(w, r);
    ++w;
  }
  while (nodes->size() > w) nodes->RemoveLast();
  Reindex();
  return absl::OkStatus();
}

int MutableGraph::RewireConsumers(const TensorRef& from, const TensorRef& to,
                                  const absl::flat_hash_set<std::string>& except) {
  int changed = 0;
  const std::string target = to.ToString();
  for (auto& node : *graph_.mutable_node()) {
    if (except.contains(node.name())) continue;
    for (auto& in : *node.mutable_input()) {
      if (in.empty() || in[0] == '^') continue;
      auto ref = ParseTensorRef(in);
      if (!ref.ok()) continue;
      if (ref->node == from.node && ref->port == from.port) {
        in = target;
        ++changed;
      }
    }
  }
  return changed;
}

tensorflow::GraphDef MutableGraph::Release() && {
  index_.clear();
  return std::move(graph_);
}

}  // namespace tfqat

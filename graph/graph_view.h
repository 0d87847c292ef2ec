// A read-only index over a GraphDef: nodes by name, parsed inputs, fan-in, fan-out,
// graph inputs/outputs and topological order.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "graph/tensor_ref.h"
#include "proto/graph.pb.h"

namespace tfqat {

// One use of a node's output (or a control edge) by another node.
struct Consumer {
  int node = -1;        // consuming node index
  int input_slot = -1;  // index into the consumer's NodeDef.input
  int port = 0;         // producer's output port (0 for control edges)
  bool is_control = false;
};

// One producer feeding a node input.
struct Producer {
  int node = -1;  // producing node index
  int port = 0;
  bool is_control = false;
};

class GraphView {
 public:
  // Indexes `graph` (which must outlive the view and not be mutated while it is used: the
  // name index holds views of the nodes' names; appending nodes is fine).
  // Errors: duplicate node names, malformed input strings, inputs naming missing nodes.
  static absl::StatusOr<GraphView> Create(const tensorflow::GraphDef& graph);

  const tensorflow::GraphDef& graph() const { return *graph_; }
  int num_nodes() const { return graph_->node_size(); }
  const tensorflow::NodeDef& node(int i) const { return graph_->node(i); }
  // For loops over the nodes of a large graph (each NodeDef and its strings are a cache and
  // TLB miss): call with the node the loop will read `kPrefetchDistance` iterations later.
  // Loads that node's NodeDef, and the name/op strings of the nodes nearer to it (fetched
  // by the calls of earlier iterations).
  static constexpr int kPrefetchDistance = 16;
  void Prefetch(int ahead, int nearer, int nearest) const {
    const int n = num_nodes();
    if (ahead >= 0 && ahead < n) __builtin_prefetch(&graph_->node(ahead));
    if (nearer >= 0 && nearer < n) {
      __builtin_prefetch(&graph_->node(nearer).name());
      __builtin_prefetch(&graph_->node(nearer).op());
    }
    if (nearest >= 0 && nearest < n) {
      __builtin_prefetch(graph_->node(nearest).name().data());
      __builtin_prefetch(graph_->node(nearest).op().data());
    }
  }
  // Prefetch for a loop reading node i now, in index order.
  void PrefetchFor(int i) const { Prefetch(i + kPrefetchDistance, i + kPrefetchDistance / 2, i + kPrefetchDistance / 4); }

  // Index of a node by name.
  std::optional<int> index(absl::string_view name) const;
  const tensorflow::NodeDef* FindNode(absl::string_view name) const;

  // Parsed inputs of node i, in NodeDef order (data inputs first, then control). Built for
  // all nodes on the first call (most users only need fanin), thread-safe.
  const std::vector<TensorRef>& inputs(int i) const;
  // Producers of node i's inputs, same order as inputs(i).
  absl::Span<const Producer> fanin(int i) const {
    return absl::MakeConstSpan(fanin_.data() + fanin_begin_[i], fanin_begin_[i + 1] - fanin_begin_[i]);
  }
  // Data producers only.
  std::vector<Producer> data_fanin(int i) const;
  // All consumers of any output of node i (data and control), by consumer index then slot.
  absl::Span<const Consumer> fanout(int i) const {
    return absl::MakeConstSpan(fanout_.data() + fanout_begin_[i], fanout_begin_[i + 1] - fanout_begin_[i]);
  }
  // Consumers of output `port` of node i (data edges only).
  std::vector<Consumer> consumers(int i, int port) const;
  int num_data_consumers(int i) const;

  // Placeholder nodes (the possible graph inputs), in graph order.
  std::vector<int> Placeholders() const;
  // Nodes nobody consumes, ignoring Const, NoOp, Assign*, SaveV2/RestoreV2 and other sinks.
  std::vector<int> Outputs() const;

  // Kahn order (ties by graph order, deterministic). Error names nodes on a cycle.
  absl::StatusOr<std::vector<int>> TopologicalOrder() const;

 private:
  const tensorflow::GraphDef* graph_ = nullptr;
  absl::flat_hash_map<absl::string_view, int> by_name_;  // views of the nodes' names
  struct LazyInputs {
    std::once_flag once;
    std::vector<std::vector<TensorRef>> refs;
  };
  std::shared_ptr<LazyInputs> inputs_ = std::make_shared<LazyInputs>();
  // Fan-in and fan-out of all nodes in one array each (node i's entries are
  // [begin[i], begin[i + 1])): two allocations instead of two per node.
  std::vector<Producer> fanin_;
  std::vector<size_t> fanin_begin_;  // num_nodes() + 1 entries
  std::vector<Consumer> fanout_;
  std::vector<size_t> fanout_begin_;  // num_nodes() + 1 entries
};

}  // namespace tfqat

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
  // Index of a node by name.
  std::optional<int> index(absl::string_view name) const;
  const tensorflow::NodeDef* FindNode(absl::string_view name) const;

  // Parsed inputs of node i, in NodeDef order (data inputs first, then control). Built for
  // all nodes on the first call (most users only need fanin), thread-safe.
  const std::vector<TensorRef>& inputs(int i) const;
  // Producers of node i's inputs, same order as inputs(i).
  const std::vector<Producer>& fanin(int i) const { return fanin_[i]; }
  // Data producers only.
  std::vector<Producer> data_fanin(int i) const;
  // All consumers of any output of node i (data and control).
  const std::vector<Consumer>& fanout(int i) const { return fanout_[i]; }
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
  std::vector<std::vector<Producer>> fanin_;
  std::vector<std::vector<Consumer>> fanout_;
};

}  // namespace tfqat

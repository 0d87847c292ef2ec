// The reference executor: runs a TensorFlow GraphDef on the CPU with TensorFlow's semantics
// (NHWC and NCHW, broadcasting, FakeQuant bit-exact with TF's kernel).
//
//   TFQAT_ASSIGN_OR_RETURN(Executor ex, Executor::Create(graph, ExecutorOptions{}));
//   TFQAT_ASSIGN_OR_RETURN(auto outs, ex.Run({{"input", x}}, {"logits:0"}, {"tfqat/update_ops"}));
//
// Variables (VariableV2/Variable ref variables and VarHandleOp resource variables) live in
// the executor; at Create each one is initialised by running its initializer (the Assign named
// `<var>/Assign`, or the only Assign fed from a Const). Assign/AssignAdd/AssignSub and the
// *VariableOp forms update them during Run. A consumer of a ref variable reads its value at the
// moment the consumer runs (TF's ref semantics); nodes run in a fixed topological order.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "graph/graph_view.h"
#include "proto/graph.pb.h"
#include "trainer/kernels.h"
#include "trainer/parallel.h"
#include "trainer/tensor.h"

namespace tfqat {

struct ExecutorOptions {
  int num_threads = 1;
  // Run every variable's initializer at Create (see above). Variables whose initializer
  // cannot run (unsupported ops such as RandomUniform) stay uninitialised until SetVariable.
  bool initialize_variables = true;
  // Check at Create that every node's op is supported (else only the nodes a Run needs are
  // checked, before that Run executes anything).
  bool check_all_ops = true;
};

// Values of every node a Run executed (for the trainer's backward pass).
struct RunTrace {
  std::vector<std::vector<Tensor>> values;  // [node][port]
  std::vector<char> executed;               // [node]
  // Values of ref variables read directly (not through an Identity) by non-Assign ops,
  // keyed node * 1024 + input slot (the gradient of such an op needs them).
  absl::flat_hash_map<int64_t, Tensor> ref_reads;
  // Arrays recycled between runs with this trace (and by Backward over it).
  std::shared_ptr<BufferPool> pool = std::make_shared<BufferPool>();
};

class Executor {
 public:
  static absl::StatusOr<Executor> Create(const tensorflow::GraphDef& graph, const ExecutorOptions& options);

  Executor(Executor&&) = default;
  Executor& operator=(Executor&&) = default;

  // feeds: "node" or "node:port" -> value; fetches: "node" or "node:port"; targets: node
  // names run for their effect (e.g. "tfqat/update_ops"). Returns the fetched values in order.
  // The nodes the fetches need run first; then the rest of what the targets need (reusing the
  // values already computed). So `Run(feeds, {"logits"}, {"tfqat/update_ops"})` computes the
  // logits with the ranges as they were, then updates the ranges from the same activations —
  // what TF1 does when update ops are control dependencies of the train op.
  absl::StatusOr<std::vector<Tensor>> Run(const std::map<std::string, Tensor>& feeds,
                                          const std::vector<std::string>& fetches,
                                          const std::vector<std::string>& targets = {});
  // Same, keeping every executed node's outputs in *trace.
  absl::StatusOr<std::vector<Tensor>> RunWithTrace(const std::map<std::string, Tensor>& feeds,
                                                   const std::vector<std::string>& fetches,
                                                   const std::vector<std::string>& targets, RunTrace* trace);

  // Variable state: names of VariableV2/Variable/VarHandleOp nodes (graph order).
  std::vector<std::string> VariableNames() const;
  bool IsVariableInitialized(const std::string& name) const;
  absl::StatusOr<Tensor> GetVariable(const std::string& name) const;
  // Sets a variable's value. Also accepts a Const node's name: the Const then yields `value`
  // (how the trainer turns a frozen graph's weights into parameters).
  absl::Status SetVariable(const std::string& name, Tensor value);
  // Value a Const node yields now (its attr, or what SetVariable gave it).
  absl::StatusOr<Tensor> GetConst(const std::string& name) const;

  // Nodes whose op no kernel handles ("name (Op)"), empty when all are supported.
  std::vector<std::string> UnsupportedNodes() const;

  const tensorflow::GraphDef& graph() const { return *graph_; }
  const GraphView& view() const { return *view_; }
  const Parallel& parallel() const { return *parallel_; }
  // Node index -> variable key it denotes (VariableV2, VarHandleOp), or "" .
  const std::string& VariableKeyOf(int node) const { return var_key_[node]; }
  const std::vector<int>& topological_order() const { return topo_; }

 private:
  Executor() = default;
  absl::Status Init(const ExecutorOptions& options);
  absl::Status InitializeVariables();
  absl::Status ExecuteNode(int n, RunTrace* trace);
  absl::StatusOr<std::string> ResolveVariable(int node, int input_slot) const;

  std::unique_ptr<tensorflow::GraphDef> graph_;
  std::unique_ptr<GraphView> view_;
  std::unique_ptr<Parallel> parallel_;
  std::vector<int> topo_;
  std::vector<int> topo_pos_;
  std::vector<KernelFn> kernels_;                 // per node (nullptr for builtins/unsupported)
  std::vector<std::string> var_key_;              // per node
  absl::flat_hash_map<std::string, Tensor> vars_;  // variable key -> value
  absl::flat_hash_map<int, Tensor> consts_;        // Const node -> value
};

// Splits "node:port" (port 0 when absent).
std::pair<std::string, int> ParseFetchName(const std::string& name);

}  // namespace tfqat

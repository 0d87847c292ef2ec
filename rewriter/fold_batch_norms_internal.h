// Shared pieces of batch-norm folding (fold_batch_norms.cc: matching and the eval/static fold;
// fold_batch_norms_train.cc: the train-mode emission). Not a public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "graph/graph_view.h"
#include "graph/mutable_graph.h"
#include "patterns/matcher.h"
#include "rewriter/fold_batch_norms.h"

namespace tfqat::bnfold {

// Where the output channel lives in the weights and the layer output.
struct Layout {
  std::string weighted_type;
  std::vector<int64_t> weight_shape;
  int64_t channels = 0;
  bool nchw = false;        // layer output channel axis 1 (else last)
  bool depthwise = false;   // weights [kh, kw, in, mult], channel in·mult + m
  bool transpose_b = false; // MatMul weights [out, in]
};

// One matched weighted-op → (bias) → batch-norm chain.
struct Candidate {
  const patterns::Match* match = nullptr;
  Layout layout;
  bool fused = true;
  int weighted = -1;
  int bn = -1;
  int bias = -1;               // BiasAdd/Add node, -1 when absent
  std::string weights_input;   // input string of the weighted op's weights
  std::string bias_param;      // input string of the bias, "" when absent
  std::vector<std::string> params;  // fused: gamma, beta, mean, variance input strings
  float epsilon = 0.0001f;
};

// Adds nodes (names made unique) to a MutableGraph.
class NodeBuilder {
 public:
  explicit NodeBuilder(MutableGraph* g);
  tensorflow::NodeDef* Add(const std::string& name, const std::string& op,
                           const std::vector<std::string>& inputs);
  std::string ConstFloat(const std::string& name, const std::vector<int64_t>& shape,
                         std::vector<float> values);
  std::string ConstInt32(const std::string& name, const std::vector<int32_t>& values);
  std::string ConstInt64Scalar(const std::string& name, int64_t v);
  // A node with attribute T only (AddV2, Sub, Mul, RealDiv, Sqrt, Square, Identity, ...).
  std::string Op(const std::string& name, const std::string& op, const std::vector<std::string>& inputs,
                 tensorflow::DataType t);
  std::string Reshape(const std::string& name, const std::string& x, const std::vector<int32_t>& shape);
  const std::vector<std::string>& added() const { return added_; }

 private:
  MutableGraph* g_;
  std::vector<std::string> added_;
};

std::string Describe(const tensorflow::NodeDef& n);
// "a/b/Conv2D" -> "a/b"; a name without '/' is its own scope.
std::string ScopeOf(const std::string& name);
// Const (behind Identity), a /read of a variable, or ReadVariableOp.
bool IsParamRead(const GraphView& view, int node);
std::optional<std::vector<int64_t>> WeightShape(const GraphView& view, int node);
// Channel of flat weight element e.
int64_t ChannelOfWeight(const Layout& l, int64_t e);
// Reshapes a [C] scale so that it broadcasts over the weights (depthwise: [in, mult];
// MatMul with transpose_b: [C, 1]); returns `scale` itself when it already does.
std::string ShapeScaleForWeights(const Layout& l, const std::string& scale, const std::string& scope,
                                 NodeBuilder* b);

// Train mode, batch statistics (is_training=true): the correction scheme. Sets *why (and
// emits nothing) when the batch norm cannot be folded. The batch norm's consumers are rewired
// to the new output; the caller removes the batch norm.
absl::Status EmitTrainCorrection(const GraphView& view, const FoldBatchNormsOptions& opt,
                                 const Candidate& cand, NodeBuilder* b, MutableGraph* g,
                                 FoldedLayer* fl, std::string* why);
// Train mode, moving statistics that are variables (not constants): the fold computed in the
// graph. Same contract.
absl::Status EmitTrainMovingFold(const GraphView& view, const FoldBatchNormsOptions& opt,
                                 const Candidate& cand, NodeBuilder* b, MutableGraph* g,
                                 FoldedLayer* fl, std::string* why);

// FoldBatchNorms on a view the caller built: false (and result->graph untouched) when nothing
// matched, so the caller can keep its graph and view; true with result->graph set otherwise.
// `topological_order`: the view's, when the caller has it (null: computed here).
absl::StatusOr<bool> FoldBatchNormsWithView(const GraphView& view, const FoldBatchNormsOptions& options,
                                            FoldBatchNormsResult* result,
                                            const std::vector<int>* topological_order = nullptr);

}  // namespace tfqat::bnfold

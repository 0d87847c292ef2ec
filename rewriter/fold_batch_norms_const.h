// Constant evaluation of the small parameter subgraphs batch-norm folding reads (γ, β, μ, σ²,
// and the scale/offset trees of unfused Rsqrt/Mul/Sub/Add chains): Const and Identity leaves,
// element-wise arithmetic with NumPy broadcasting, in double precision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "graph/graph_view.h"
#include "graph/tensor.h"

namespace tfqat::bnfold {

// Evaluates output 0 of `node` when every ancestor is a Const or one of Identity, Rsqrt, Sqrt,
// Reciprocal, Neg, Square, Add, AddV2, Sub, Mul, RealDiv, Maximum, Minimum, Reshape; float32
// nodes are rounded to float after every op (TensorFlow's arithmetic); results are memoised. Anything else (a variable, a placeholder) is an error that names the node.
class ConstEvaluator {
 public:
  explicit ConstEvaluator(const GraphView& view) : view_(view) {}
  absl::StatusOr<HostTensor<double>> Eval(int node, int port = 0);
  bool IsConstant(int node, int port = 0) { return Eval(node, port).ok(); }

 private:
  absl::StatusOr<HostTensor<double>> EvalUncached(int node, int depth);
  absl::StatusOr<HostTensor<double>> EvalDepth(int node, int port, int depth);
  const GraphView& view_;
  absl::flat_hash_map<int, absl::StatusOr<HostTensor<double>>> memo_;
};

// A per-channel view of a parameter tensor for C channels: a scalar broadcasts to all
// channels; otherwise, after dropping leading 1s, the shape must be [C] (channel last) or,
// when `channel_axis_from_end` is 3 (NCHW), [C, 1, 1]. nullopt when it is neither.
std::optional<std::vector<double>> PerChannel(const HostTensor<double>& t, int64_t channels,
                                              int channel_axis_from_end);

}  // namespace tfqat::bnfold

// Reverse-mode gradients over an executed graph (RunTrace). FakeQuant uses the
// straight-through estimator: dx = dy inside the nudged range, min/max get the sums of dy
// below/above it (ARITHMETIC.md).
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "proto/node_def.pb.h"
#include "trainer/executor.h"

namespace tfqat {

struct GradContext {
  const tensorflow::NodeDef* node = nullptr;
  std::vector<const Tensor*> inputs;   // forward data inputs
  const std::vector<Tensor>* outputs;  // forward outputs
  std::vector<Tensor*> dy;             // per output port (nullptr: no gradient); may be consumed
  std::vector<char> need_dx;           // per data input: is its gradient wanted
  std::vector<Tensor> dx;              // per data input (empty f and shape-less: none)
  std::vector<char> has_dx;
  const Parallel* parallel = nullptr;
  BufferPool* pool = nullptr;  // may be null

  const Tensor& in(int k) const { return *inputs[k]; }
  bool NeedDx(int k) const { return k < static_cast<int>(need_dx.size()) && need_dx[k]; }
  // Sets dx[k] (float tensor of input k's shape).
  Tensor* SetDx(int k) {
    has_dx[k] = 1;
    dx[k].dtype = tensorflow::DT_FLOAT;
    dx[k].shape = inputs[k]->shape;
    return &dx[k];
  }
  // SetDx with data of input k's size and unspecified contents (the caller writes all of it).
  Tensor* SetDxUninitialized(int k) {
    Tensor* t = SetDx(k);
    ResizeUninitialized(t, static_cast<size_t>(NumElements(t->shape)), pool);
    return t;
  }
  template <typename... Args>
  absl::Status Error(const Args&... parts) const {
    return absl::InvalidArgumentError(absl::StrCat("node '", node->name(), "' (", node->op(), "): ", parts...));
  }
};

using GradFn = absl::Status (*)(GradContext&);

// Whether the op has a registered gradient (ops that are not differentiable at all, such as
// Shape or comparisons, count as having a zero gradient).
bool HasGradient(const std::string& op);

// Gradients of a scalar function of (loss_node:loss_port) with upstream gradient `dloss`
// w.r.t. the outputs of `wrt` nodes (port 0: variables or Const weights). Nodes not on a path
// get a zero gradient. Error names a node on the path whose op has no gradient.
absl::StatusOr<std::vector<Tensor>> Backward(const Executor& ex, const RunTrace& trace, int loss_node, int loss_port,
                                             const Tensor& dloss, const std::vector<int>& wrt);

}  // namespace tfqat

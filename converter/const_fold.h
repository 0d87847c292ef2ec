// Constant evaluation over the frozen graph: the values of Const nodes and of small float
// subgraphs over them (a folded batch norm's `w * gamma / sigma`, `beta - gamma * mu / sigma`),
// so the converter can read weights, biases, shapes and FakeQuant ranges.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "graph/graph_view.h"
#include "graph/tensor.h"

namespace tfqat::converter {

class ConstFolder {
 public:
  explicit ConstFolder(const GraphView& view) : view_(view) {}

  // True when the tensor's value depends on no graph input (Const, or foldable ops over consts,
  // including FakeQuant nodes over consts).
  bool IsConstant(int node);

  // The value as float. Folds Const, Identity-like ops, Mul, Sub, Add, AddV2, RealDiv, Maximum,
  // Minimum, Neg, Square, Sqrt, Rsqrt, Reshape, Cast (numpy broadcasting). Errors name the node.
  absl::StatusOr<HostTensor<float>> Float(const TensorRef& ref);
  // The value as int64 (Const and Identity-like only): shapes, axes, paddings.
  absl::StatusOr<HostTensor<int64_t>> Int(const TensorRef& ref);

 private:
  const GraphView& view_;
  absl::flat_hash_map<int, bool> is_const_;
  absl::flat_hash_map<std::string, HostTensor<float>> float_cache_;
};

// Node is an identity for values: Identity, Snapshot, StopGradient, PreventGradient.
bool IsIdentityLike(absl::string_view op);
bool IsFakeQuant(absl::string_view op);

}  // namespace tfqat::converter

// Freeze: a trained (train-mode) graph -> the annotated frozen graph (docs/CONTRACTS.md):
//   VariableV2 / VarHandleOp            -> Const holding the trained value (<var>/initial_value)
//   ReadVariableOp                      -> Identity
//   SelectV2(GreaterEqual(global_step, d), a, b) -> a   (quant-delay switch and batch-norm
//                                          statistics switch: their final state)
//   constant float arithmetic           -> Const (folded batch-norm weights, corrections)
//   */correction_mult (Mul by ones)     -> removed (the frozen batch-norm correction)
//   control inputs from update ops      -> dropped; nodes the outputs do not need -> pruned
// then verifies that no training-only op remains (variables, Assign*, update NoOps,
// global_step, initialisers, save/restore, gradients, optimizer ops).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"
#include "proto/tensor.pb.h"

namespace tfqat {

struct FreezeOptions {
  // Nodes (or "node:port") to keep; everything they do not need is pruned. Required.
  std::vector<std::string> outputs;
  // Values for variables by name, overriding `<var>/initial_value` (e.g. the Consts of a
  // frozen twin of the same graph, or a checkpoint read elsewhere).
  std::map<std::string, tensorflow::TensorProto> values;
  // Name of the step counter whose switches are resolved to their final state.
  std::string global_step = "global_step";
  // Fold constant float arithmetic (Mul/RealDiv/AddV2/Sub/Sqrt/Rsqrt/Reshape/...) into Const.
  bool fold_constants = true;
};

struct FreezeResult {
  tensorflow::GraphDef graph;
  std::vector<std::string> frozen_variables;   // variables turned into Const
  std::vector<std::string> resolved_switches;  // SelectV2 nodes resolved to their final state
  std::vector<std::string> removed_corrections;  // */correction_mult Muls by ones removed
  int folded_constants = 0;                    // arithmetic nodes folded into Const
  int removed_nodes = 0;                       // input nodes not in the output
  std::vector<std::string> notes;              // warnings (e.g. a training-mode batch norm kept)
};

// Pure pass. Errors: an unknown output name; a variable the outputs need without a value;
// a training-only op the outputs still need (each named, all at once).
absl::StatusOr<FreezeResult> Freeze(const tensorflow::GraphDef& graph, const FreezeOptions& options);

// True for ops that belong to training only (variables and their updates, step counters,
// initialisers, save/restore, optimizer updates).
bool IsTrainingOnlyOp(const std::string& op);

}  // namespace tfqat

// Structural validation of a GraphDef, with errors that name the node and the fix.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "proto/graph.pb.h"

namespace tfqat {

struct ValidateOptions {
  // Check well-known attributes (strides, padding, dtype, value, ...) for their kind.
  bool check_attr_types = true;
  // Check that every Const tensor's stored bytes agree with its shape.
  bool check_const_tensors = true;
  // Reject NaN/Inf in float Const tensors (weights); off by default since some graphs
  // legitimately hold -inf masks.
  bool reject_nonfinite_constants = false;
  // Stop after this many problems in ValidateGraphAll.
  int max_problems = 100;
};

// First problem found, or OK. Checks: empty or duplicate names, malformed or dangling inputs,
// control inputs before data inputs, cycles, attribute kinds, Const tensor sizes.
absl::Status ValidateGraph(const tensorflow::GraphDef& graph, const ValidateOptions& options = {});

// Every problem found (up to options.max_problems); empty when valid.
std::vector<absl::Status> ValidateGraphAll(const tensorflow::GraphDef& graph,
                                           const ValidateOptions& options = {});

}  // namespace tfqat

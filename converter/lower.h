// Lowering: the annotated frozen graph (docs/CONTRACTS.md) -> TFLite-shaped operators with float
// data and FakeQuant ranges (ir.h). Fuses weighted op + bias + activation, folds Identity and
// FakeQuant nodes into tensor ranges, transposes weights to TFLite's layouts, infers shapes.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "converter/ir.h"
#include "proto/graph.pb.h"

namespace tfqat::converter {

// Problems (each names the node and the fix) and warnings gathered by every stage, so a
// conversion reports every problem at once.
struct Diagnostics {
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

struct LowerOptions {
  std::vector<std::string> input_arrays;   // empty: every Placeholder the outputs need
  std::vector<std::string> output_arrays;  // empty: the graph's sinks
  std::map<std::string, std::vector<int64_t>> input_shapes;  // overrides the Placeholder shape
  // false: a float model; FakeQuant nodes become plain identities and no range is read.
  bool quantized = true;
};

// Returns the lowered model; when diag->errors is non-empty it is partial (nodes that failed and
// everything downstream of them are missing), so later stages can still report their problems.
// nullopt only when the graph cannot be indexed at all.
std::optional<Model> Lower(const tensorflow::GraphDef& graph, const LowerOptions& options,
                           Diagnostics* diag);

}  // namespace tfqat::converter

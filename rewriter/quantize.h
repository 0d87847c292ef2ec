// Fake-quant insertion (tf.contrib.quantize's create_training_graph / create_eval_graph,
// made exact; see docs/rewriter.md):
//   weights:  Conv2D(x, FakeQuant(w))                  -- right before the weighted op
//   outputs:  FakeQuant(activation(bias(conv)))         -- after the activation, never on a
//             bias, never between the weighted op and its bias/activation; after a residual
//             Add when no activation follows
//   ConcatV2: every input quantized with one tied pair of min/max variables
//   AvgPool/MaxPool/Reshape/Squeeze/Pad: pass the range through (nothing inserted)
// Train mode adds the range variables' updates (EMA for activations, last value for weights)
// under NoOp `tfqat/update_ops` and the quant-delay switch on `global_step`; eval mode only
// reads the ranges. Pure pass: the input graph is not modified.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph_view.h"
#include "proto/graph.pb.h"
#include "rewriter/serialized_graph.h"

namespace tfqat {

struct QuantizeOptions {
  enum class Mode { kTrain, kEval };
  Mode mode = Mode::kTrain;
  int weight_bits = 8;      // 2..16
  int activation_bits = 8;  // 2..16
  // Symmetric weight ranges (TFLite int8: weights symmetric, activations asymmetric).
  bool symmetric = false;
  bool narrow_range_weights = true;
  // FakeQuantWithMinMaxVarsPerChannel on the weights' output-channel axis.
  bool per_channel = false;
  int64_t quant_delay = 0;  // train mode: quantize from this global_step on
  float ema_decay = 0.999f;
  // Quantize float Placeholders (the model inputs) too.
  bool quantize_inputs = false;
  // Only layers whose weighted op's name starts with this prefix (empty: all).
  std::string scope;
  // Glob patterns (fnmatch) of node names to leave in float; a pattern also matches every
  // node under it as a scope ("block3" matches "block3/conv/Conv2D").
  std::vector<std::string> exclude;
  // Fetched graph outputs: never placed in the middle of a layer.
  std::vector<std::string> outputs;
  std::string global_step = "global_step";
  std::string update_ops = "tfqat/update_ops";
};

// What happened to one layer (or one other quantization site: a concat, an input).
struct LayerReport {
  std::string name;         // quantization scope ("conv1")
  std::string pattern;      // "layer", "concat", "input", or "" when nothing matched
  std::string kind;         // "Conv2D+BiasAdd+Relu"
  std::string weighted_op;  // node name
  std::string output;       // node whose output is the layer output
  bool weights_quantized = false;
  bool output_quantized = false;
  std::vector<std::string> inserted;  // main inserted nodes (FakeQuant, variables, switches)
  std::vector<std::string> skipped;   // "what: why"
  std::vector<std::string> notes;
};

struct QuantizeResult {
  tensorflow::GraphDef graph;
  std::vector<LayerReport> layers;
  std::vector<std::string> notes;  // graph-level notes ("already rewritten: nothing changed")
  bool changed = false;
  int fake_quant_inserted = 0;
  int nodes_added = 0;
};

// Errors: InvalidArgument for bad options or an unindexable graph; FailedPrecondition when
// the graph already holds training ops (gradients/, Apply*): the rewrite must come first.
absl::StatusOr<QuantizeResult> InsertFakeQuant(const tensorflow::GraphDef& graph,
                                               const QuantizeOptions& options);

// The same pass editing *graph in place (no copy of the input; for large graphs). *graph may
// live on a protobuf Arena: the emitted nodes are then allocated there too. The result's
// .graph stays empty. On error *graph is left partly rewritten.
absl::StatusOr<QuantizeResult> InsertFakeQuantInPlace(tensorflow::GraphDef* graph,
                                                      const QuantizeOptions& options);

// InsertFakeQuantInPlace with a view of *graph the caller already built (the pipeline shares
// one view between passes that change nothing and this one).
// `topological_order`: the view's, when the caller has it (null: computed here).
absl::StatusOr<QuantizeResult> InsertFakeQuantWithView(const GraphView& view, tensorflow::GraphDef* graph,
                                                       const QuantizeOptions& options,
                                                       const std::vector<int>* topological_order = nullptr);

// The same pass writing the rewritten graph serialized into *out (the result's .graph stays
// empty) without holding the emitted nodes as NodeDefs: they are serialized as they are made
// (so they come first in *out), then the view's graph's nodes with their edits. For graphs of
// millions of nodes: the memory is the encoding (~5x smaller than NodeDefs) plus the names.
absl::StatusOr<QuantizeResult> InsertFakeQuantSerialized(const GraphView& view, const QuantizeOptions& options,
                                                         SerializedGraph* out,
                                                         const std::vector<int>* topological_order = nullptr);

}  // namespace tfqat

// What `tfqat inspect` reports about a GraphDef (in the spirit of TensorFlow's summarize_graph):
// possible inputs and outputs, op histogram, parameters, control edges, data layout, and what
// is already there for quantization (FakeQuant nodes, or a legacy-quantized graph).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "proto/graph.pb.h"

namespace tfqat {

// A Placeholder (possible graph input).
struct InputSummary {
  std::string name;
  std::string op;     // Placeholder, PlaceholderWithDefault, ...
  std::string dtype;  // TensorFlow spelling: "float", "int32", ...
  // Shape attribute: absent or unknown rank -> known_rank = false; unknown dims are -1.
  bool known_rank = false;
  std::vector<int64_t> shape;
};

struct NodeSummary {
  std::string name;
  std::string op;
};

// One FakeQuant* node.
struct FakeQuantNodeSummary {
  std::string name;
  std::string op;
  std::string input;  // the tensor being quantized (input 0)
  int num_bits = 8;
  bool narrow_range = false;
  // Where min/max come from: "attributes" (FakeQuantWithMinMaxArgs), "constant" (Const,
  // possibly behind Identity), "variable" (VariableV2/VarHandleOp: a train-mode graph) or
  // "computed" (any other producer).
  std::string range_source;
  // Filled for "attributes" and "constant": one value per tensor, or one per channel.
  std::vector<float> min;
  std::vector<float> max;
};

struct FakeQuantSummary {
  int count = 0;
  std::map<std::string, int> by_op;
  std::map<int, int> by_bits;  // num_bits -> nodes
  int narrow_range = 0;        // nodes with narrow_range = true
  int per_channel = 0;         // FakeQuantWithMinMaxVarsPerChannel nodes
  std::map<std::string, int> by_range_source;
  std::vector<FakeQuantNodeSummary> nodes;  // graph order
};

// A graph quantized the pre-TFLite way (graph_transforms quantize_nodes / quantize_weights).
struct LegacyQuantizationSummary {
  bool detected = false;
  // "quantize_nodes": QuantizeV2 / Quantized* / Requantize / RequantizationRange / Dequantize
  // (eight-bit integer ops); "quantize_weights": only Dequantize of 8-bit constant weights.
  std::string kind;
  std::map<std::string, int> ops;  // the legacy ops found and their counts
  std::string explanation;         // plain-language: why TFLite cannot take it, what to do
};

struct GraphSummary {
  std::string origin;       // file name (set by the caller; empty for in-memory graphs)
  std::string file_format;  // "binary" / "text" (set by the caller; may be empty)
  int num_nodes = 0;
  int num_functions = 0;
  int producer = 0;  // versions.producer (0 when absent, as in most frozen graphs)
  std::vector<InputSummary> inputs;
  std::vector<NodeSummary> outputs;
  // Op type -> node count, most frequent first (ties by name).
  std::vector<std::pair<std::string, int>> op_histogram;
  int64_t const_nodes = 0;
  int64_t const_parameters = 0;  // elements of every Const tensor
  int64_t const_bytes = 0;       // their size in memory (numeric dtypes)
  int64_t variable_nodes = 0;    // VariableV2 / Variable / VarHandleOp
  int64_t variable_parameters = 0;  // elements from their `shape` attribute (when fully known)
  int64_t control_edges = 0;
  // Layout of the layout-sensitive ops (convolution, pooling, batch norm, depth/space, and
  // BiasAdd when it says NCHW): format -> nodes. An op without `data_format` counts as its
  // TensorFlow default (NHWC; NDHWC for 3-D ops).
  std::map<std::string, int> data_formats;
  // "NHWC", "NCHW", "mixed" or "none".
  std::string data_format;
  FakeQuantSummary fake_quant;
  LegacyQuantizationSummary legacy;
};

// Summarizes a graph. Errors (InvalidArgument) for graphs that cannot be indexed: empty or
// duplicate node names, malformed or dangling inputs. Call ValidateGraph first for the rest.
absl::StatusOr<GraphSummary> SummarizeGraph(const tensorflow::GraphDef& graph);

struct SummaryTextOptions {
  // FakeQuant nodes listed one per line in the text report (all of them are in the JSON).
  int max_fake_quant_lines = 20;
  // Outputs listed by name (the rest are counted).
  int max_output_lines = 50;
};

std::string SummaryToText(const GraphSummary& summary, const SummaryTextOptions& options = {});
nlohmann::json SummaryToJson(const GraphSummary& summary);

// True for the op types of TensorFlow's legacy (graph_transforms) quantization.
bool IsLegacyQuantizedOp(const std::string& op);
// True for FakeQuantWithMinMaxArgs / FakeQuantWithMinMaxVars / FakeQuantWithMinMaxVarsPerChannel.
bool IsFakeQuantOp(const std::string& op);

}  // namespace tfqat

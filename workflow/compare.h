// Layer-by-layer comparison of the three views of one model on the same inputs: the float graph
// (GraphDef), the fake-quant eval graph (annotated frozen GraphDef) and the integer .tflite model
// (tfqat's runtime). See docs/compare.md.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/npy.h"
#include "proto/graph.pb.h"
#include "workflow/metrics.h"

namespace tfqat::workflow {

struct CompareOptions {
  std::string input_name;      // placeholder of the graphs (empty: the model's only input)
  int64_t max_examples = 100;  // examples of the input array to run (<= 0: all)
  double tolerance_lsb = 0;    // fake-quant vs integer max error above this = divergence
  int threads = 1;
};

struct LayerComparison {
  int op_index = -1;         // execution order in the .tflite (-1: the model input)
  std::string op;            // TFLite builtin ("INPUT" for the model input)
  std::string tensor;        // .tflite tensor name
  std::string fq_node;       // frozen-graph node giving the fake-quant value ("" if none)
  std::string float_node;    // float-graph node giving the float value ("" if none)
  std::vector<int64_t> shape;
  std::string type;          // integer tensor element type
  double scale = 0;          // quantization step (0: float tensor)
  int32_t zero_point = 0;
  bool has_float = false, has_fq = false;
  ErrorStats float_vs_fq;    // ref float, x fake-quant
  ErrorStats float_vs_int;   // ref float, x integer (dequantized)
  ErrorStats fq_vs_int;      // ref fake-quant, x integer; max_lsb in this tensor's LSBs
  bool diverges = false;     // fq_vs_int.max_lsb > tolerance
  std::string note;          // why a column is missing
};

struct CompareReport {
  int64_t examples = 0;
  double tolerance_lsb = 0;
  std::vector<LayerComparison> layers;  // execution order
  int first_divergence = -1;            // index into layers, -1 when none
};

// `input` holds the examples along dim 0 (float values in the model's real domain).
absl::StatusOr<CompareReport> CompareModels(const tensorflow::GraphDef& float_graph,
                                            const tensorflow::GraphDef& fake_quant_graph,
                                            const std::string& tflite_path, const NpyArray& input,
                                            const CompareOptions& options);

std::string CompareReportToText(const CompareReport& report);
std::string CompareReportToJson(const CompareReport& report);  // nlohmann dump, indent 2
// Plots SQNR (dB) per layer (float vs fake-quant, float vs integer, fake-quant vs integer) with
// gnuplot; `path` ending in .svg gives SVG, otherwise PNG.
absl::Status PlotCompareReport(const CompareReport& report, const std::string& path);

}  // namespace tfqat::workflow

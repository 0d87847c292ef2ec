// `tfqat convert`: the annotated frozen graph -> a .tflite flatbuffer (legacy uint8, int8
// per-channel, or float). Lower (lower.h) -> quantize (quantize.h) -> write + verify
// (tflite_writer.h). Every problem of every stage is reported at once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "converter/ir.h"
#include "converter/lower.h"
#include "converter/quantize.h"
#include "proto/graph.pb.h"

namespace tfqat::converter {

struct ConvertOptions {
  std::vector<std::string> input_arrays;
  std::vector<std::string> output_arrays;
  std::map<std::string, std::vector<int64_t>> input_shapes;
  ElemType inference_type = ElemType::kUInt8;
  std::optional<ElemType> inference_input_type;
  std::optional<ElemType> inference_output_type;
  std::vector<float> mean_values;
  std::vector<float> std_values;
  std::optional<std::pair<float, float>> default_ranges;
};

struct ConvertResult {
  std::string flatbuffer;  // verified
  Model model;             // what was written (for reports)
  QuantizeReport report;
  std::vector<std::string> warnings;
};

// Errors: InvalidArgument whose message lists every problem, one per line ("N problems:\n- ...");
// `diag` (optional) receives the same problems and the warnings as a list.
absl::StatusOr<ConvertResult> Convert(const tensorflow::GraphDef& graph, const ConvertOptions& options,
                                      Diagnostics* diag = nullptr);

// "uint8" | "int8" | "float" (also "float32", "QUANTIZED_UINT8", "INT8", "FLOAT").
absl::StatusOr<ElemType> ParseElemType(const std::string& s);

}  // namespace tfqat::converter

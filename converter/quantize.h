// Quantization of the lowered model: scales and zero points from the FakeQuant ranges through the
// kernel's own nudge (fake_quant_nudge.h), weights on the grid training simulated, int32 biases
// with scale S_in * S_w, TFLite's same-range and fixed-range rules, QUANTIZE/DEQUANTIZE at the
// boundaries, and constant data encoded. The float path only encodes the data.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "converter/ir.h"
#include "converter/lower.h"

namespace tfqat::converter {

struct QuantizeOptions {
  ElemType inference_type = ElemType::kUInt8;  // kFloat32, kUInt8 or kInt8
  std::optional<ElemType> input_type;          // default: inference_type
  std::optional<ElemType> output_type;         // default: inference_type
  // One value per model input (or one for all): real = (q - mean) / std on quantized inputs.
  std::vector<float> mean_values;
  std::vector<float> std_values;
  // Dummy quantization (performance tests only): range given to every tensor that lacks one.
  std::optional<std::pair<float, float>> default_range;
};

struct QuantizeReport {
  std::vector<std::string> made_up_ranges;      // tensors that got --default-ranges
  std::vector<std::string> requantized;          // inserted QUANTIZE ops (concat inputs, FakeQuant after fixed-range ops)
  std::vector<std::string> asymmetric_weights;   // int8 weights whose FakeQuant grid was not symmetric
};

// Edits `model` in place. Problems go to diag->errors (every one found).
QuantizeReport Quantize(Model* model, const QuantizeOptions& options, Diagnostics* diag);

// The parameters of a FakeQuant range on a tensor of `type` (kUInt8 or kInt8): the kernel's
// nudged scale and zero point (int8: the unsigned zero point minus 128).
QuantParams ParamsFromRange(const FakeQuantRange& range, ElemType type);

}  // namespace tfqat::converter

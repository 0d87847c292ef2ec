// Runs a .tflite model over a whole data set with tfqat's integer runtime, one model batch at a
// time, quantizing float inputs exactly as the training graph's input FakeQuant does and
// dequantizing the first output.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/statusor.h"
#include "graph/npy.h"

namespace tfqat::workflow {

// Quantizes x onto a (scale, zero_point) grid with FakeQuant's arithmetic (ARITHMETIC.md): the
// index is floor((clamp(x, nudged_min, nudged_max) - nudged_min) * (1/scale) + 0.5), the stored
// value that index plus the type's lowest value — exactly the integers the input FakeQuant of the
// training graph produced.
template <typename Q>
Q QuantizeLikeFakeQuant(float x, float scale, int32_t zero_point) {
  constexpr int32_t qmin = std::numeric_limits<Q>::min();
  constexpr int32_t qmax = std::numeric_limits<Q>::max();
  const float nudged_min = static_cast<float>(qmin - zero_point) * scale;
  const float nudged_max = static_cast<float>(qmax - zero_point) * scale;
  const float clamped = std::min(std::max(x, nudged_min), nudged_max);
  const float inv_scale = 1.0f / scale;
  const int32_t index = static_cast<int32_t>(std::floor((clamped - nudged_min) * inv_scale + 0.5f));
  return static_cast<Q>(std::min(std::max(index + qmin, qmin), qmax));
}

struct BatchRunOptions {
  int threads = 1;  // examples are split across this many single-threaded interpreters
};

struct BatchRunResult {
  NpyArray output;          // float32, dequantized, [N, ...]
  NpyArray raw_output;      // the output's own type (uint8/int8/float32), [N, ...]
  float output_scale = 0;   // 0 for float outputs
  int output_zero_point = 0;
  double seconds = 0;       // time spent in Invoke (summed over threads)
};

// `input` holds N examples along dim 0 (float values in the model's real domain, or raw
// integers already in the input's type); the model's batch must divide N.
absl::StatusOr<BatchRunResult> RunTfliteOverBatch(const std::string& model_path, const NpyArray& input,
                                                  const BatchRunOptions& options);

}  // namespace tfqat::workflow

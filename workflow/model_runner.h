// Runs a .tflite model over a whole data set with tfqat's integer runtime, one model batch at a
// time, quantizing float inputs exactly as the training graph's input FakeQuant does and
// dequantizing the first output.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "graph/npy.h"

namespace tfqat::workflow {

struct BatchRunOptions {
  int threads = 1;
};

struct BatchRunResult {
  NpyArray output;          // float32, dequantized, [N, ...]
  NpyArray raw_output;      // the output's own type (uint8/int8/float32), [N, ...]
  float output_scale = 0;   // 0 for float outputs
  int output_zero_point = 0;
  double seconds = 0;       // time spent in Invoke
};

// `input` holds N examples along dim 0 (float values in the model's real domain, or raw
// integers already in the input's type); the model's batch must divide N.
absl::StatusOr<BatchRunResult> RunTfliteOverBatch(const std::string& model_path, const NpyArray& input,
                                                  const BatchRunOptions& options);

}  // namespace tfqat::workflow

// The FakeQuantWithMinMaxVars nudge as TensorFlow's kernel computes it (float32
// arithmetic, in the same order; see docs/converter.md and ARITHMETIC.md). The converter derives
// every scale and zero point from a FakeQuant range through this function, so the integer model
// uses the grid the training graph simulated (no recomputation in double: tensorflow#38845).
// Implemented on top of the trainer's kernel arithmetic (trainer/fake_quant.h).
#pragma once

#include <cstdint>

namespace tfqat::converter {

struct NudgedRange {
  float scale = 0.f;
  float nudged_min = 0.f;
  float nudged_max = 0.f;
  int32_t zero_point = 0;  // in [quant_min, quant_max], the unsigned grid of the kernel
  int32_t quant_min = 0;
  int32_t quant_max = 255;
};

// quant_min = narrow_range ? 1 : 0, quant_max = 2^num_bits - 1. Requires min < max (callers check).
NudgedRange NudgeFakeQuantRange(float min, float max, int num_bits, bool narrow_range);

// The grid index of the value FakeQuant rounds x to (the trainer's forward kernel), in
// [0, quant_max - quant_min]. The quantized value is quant_min + index (unsigned grid).
int32_t FakeQuantGridIndex(const NudgedRange& r, float x);

}  // namespace tfqat::converter

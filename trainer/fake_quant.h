// TensorFlow's FakeQuant arithmetic (tensorflow/core/kernels/fake_quant_ops_functor.h; see
// ARITHMETIC.md), shared by the forward kernels and the straight-through-estimator gradients.
#pragma once

#include <cmath>
#include <cstdint>

namespace tfqat {

struct FakeQuantRange {
  float nudged_min = 0.f;
  float nudged_max = 0.f;
  float scale = 0.f;
  bool zero = false;  // min == max == 0: TF outputs zeros
};

// quant_min = narrow ? 1 : 0, quant_max = 2^bits - 1; scale = (max-min)/(qmax-qmin);
// zero point = qmin - min/scale clamped to [qmin, qmax] and rounded half away from zero.
inline FakeQuantRange NudgeFakeQuantRange(float min, float max, int num_bits, bool narrow_range) {
  FakeQuantRange r;
  if (min == 0.f && max == 0.f) {
    r.zero = true;
    return r;
  }
  const int quant_min = narrow_range ? 1 : 0;
  const int quant_max = (1 << num_bits) - 1;
  const float qmin = static_cast<float>(quant_min);
  const float qmax = static_cast<float>(quant_max);
  r.scale = (max - min) / (qmax - qmin);
  const float zp_from_min = qmin - min / r.scale;
  uint16_t zp;
  if (zp_from_min < qmin) zp = static_cast<uint16_t>(quant_min);
  else if (zp_from_min > qmax) zp = static_cast<uint16_t>(quant_max);
  else zp = static_cast<uint16_t>(std::round(zp_from_min));
  r.nudged_min = (qmin - zp) * r.scale;
  r.nudged_max = (qmax - zp) * r.scale;
  return r;
}

// out = floor((clamp(x) - nudged_min) * (1/scale) + 0.5) * scale + nudged_min, in float32
// (the kernel multiplies by the reciprocal of the scale).
inline void FakeQuantArray(const FakeQuantRange& r, const float* x, float* y, int64_t n, int64_t stride = 1) {
  if (r.zero) {
    for (int64_t e = 0; e < n; ++e) y[e * stride] = 0.f;
    return;
  }
  const float inv = 1.0f / r.scale;
  for (int64_t e = 0; e < n; ++e) {
    const float v = x[e * stride];
    // (a < b ? b : a) forms: a NaN input stays NaN, as in TF's cwiseMin/cwiseMax.
    float c = v < r.nudged_min ? r.nudged_min : v;
    c = r.nudged_max < c ? r.nudged_max : c;
    y[e * stride] = std::floor((c - r.nudged_min) * inv + 0.5f) * r.scale + r.nudged_min;
  }
}

}  // namespace tfqat

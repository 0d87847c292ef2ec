// Plan-time packed weights of the optimized float CONV_2D (conv_float_avx2.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/kernel_params.h"
#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

struct PackedFloatConv {
  int n = 0, k = 0, panels = 0;  // output channels, f_h * f_w * in_d, ceil(n / 16)
  // Panel p: [k][16] floats of output channels [16p, 16p + 16), zero padded in n.
  std::vector<float, CacheAlignedAllocator<float>> data;
  std::vector<float, CacheAlignedAllocator<float>> bias;  // padded to panels * 16; 0 when absent
  bool has_bias = false;
  size_t image_bytes = 0;
};

// Filter [n][k] row-major. False (the reference keeps the op) when a weight or bias is not finite:
// a zero padding tap would then add 0 * inf = NaN where the reference skips the tap.
bool PackFloatConv(const float* filter, int n, int k, const float* bias, PackedFloatConv* out);

// Padded float image bytes for the implicit float conv (dilation 1).
size_t FloatImageBytes(const ConvGeometry& g);

void ConvFloatAvx2(const ConvGeometry& g, const PackedFloatConv& w, const ActivationRange& act,
                   const float* input, float* output, const KernelContext& ctx);

}  // namespace tfqat::runtime::optimized

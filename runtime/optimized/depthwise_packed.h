// Geometry and plan-time packed weights of the optimized DEPTHWISE_CONV_2D (depthwise_avx2.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/kernel_params.h"
#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

// Depth multiplier 1: channels in = channels out.
struct DepthwiseGeometry {
  int batches = 1, in_h = 1, in_w = 1, channels = 1, out_h = 1, out_w = 1, f_h = 1, f_w = 1;
  int stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_h = 0, pad_w = 0;
  // The zero-padded int16 image: every tap of every output pixel lies inside it.
  int64_t PaddedH() const {
    return static_cast<int64_t>(out_h - 1) * stride_h + (f_h - 1) * dil_h + 1;
  }
  int64_t PaddedW() const {
    return static_cast<int64_t>(out_w - 1) * stride_w + (f_w - 1) * dil_w + 1;
  }
  int64_t Channels16() const { return (channels + 15) / 16 * 16; }
  int64_t Channels8() const { return (channels + 7) / 8 * 8; }
  size_t ImageBytes() const {
    return static_cast<size_t>(batches * PaddedH() * PaddedW() * Channels16()) * sizeof(int16_t);
  }
};

struct PackedDepthwise {
  int channels = 0, f_h = 0, f_w = 0;
  // Per 16-channel group and tap pair (t, t+1): 32 int16 = the vpunpcklwd then vpunpckhwd
  // interleaving of the two taps' (w + weights_offset) over the 16 channels; a missing t+1 is 0.
  std::vector<int16_t, CacheAlignedAllocator<int16_t>> weights;
  // Per-channel bias and requantization (only these fields of q are used), padded to 16.
  PackedGemmWeights q;
  size_t image_bytes = 0;
};

// Packs filter [1][f_h][f_w][channels]. False when the requantization is outside what the vector
// epilogue reproduces (negative multiplier); the reference then runs.
template <typename T>
bool PackDepthwise(const T* filter, int channels, int f_h, int f_w, int32_t weights_offset,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   PackedDepthwise* out);

// Float: weights [group of 8 channels][tap][8], bias padded to 8 (0 when absent).
struct PackedDepthwiseFloat {
  int channels = 0, f_h = 0, f_w = 0;
  bool has_bias = false;
  std::vector<float, CacheAlignedAllocator<float>> weights, bias;
};
// False (the reference keeps the op) for non-finite weights or bias.
bool PackDepthwiseFloat(const float* filter, int channels, int f_h, int f_w, const float* bias,
                        PackedDepthwiseFloat* out);
// Scratch: the zero-padded float image, channels padded to 8.
inline size_t DepthwiseFloatImageBytes(const DepthwiseGeometry& g) {
  return static_cast<size_t>(g.batches * g.PaddedH() * g.PaddedW() * g.Channels8()) * sizeof(float);
}
void DepthwiseFloatAvx2(const DepthwiseGeometry& g, const PackedDepthwiseFloat& w,
                        const ActivationRange& act, const float* input, float* output,
                        const KernelContext& ctx);

void DepthwiseInt8Avx2(const DepthwiseGeometry& g, const PackedDepthwise& w, int32_t input_offset,
                       int32_t output_offset, int32_t act_min, int32_t act_max, const int8_t* input,
                       int8_t* output, const KernelContext& ctx);
void DepthwiseUint8Avx2(const DepthwiseGeometry& g, const PackedDepthwise& w, int32_t input_offset,
                        int32_t output_offset, int32_t act_min, int32_t act_max,
                        const uint8_t* input, uint8_t* output, const KernelContext& ctx);

}  // namespace tfqat::runtime::optimized

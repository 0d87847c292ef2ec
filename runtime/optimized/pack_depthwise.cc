// Weight packing for the optimized depthwise conv (portable code; runs once at plan time).
#include <algorithm>
#include <cmath>

#include "runtime/optimized/depthwise_packed.h"

namespace tfqat::runtime::optimized {

template <typename T>
bool PackDepthwise(const T* filter, int channels, int f_h, int f_w, int32_t weights_offset,
                   const int32_t* bias, const int32_t* multiplier, const int32_t* shift,
                   PackedDepthwise* out) {
  if (channels <= 0 || f_h <= 0 || f_w <= 0 || weights_offset < -255 || weights_offset > 255) {
    return false;
  }
  // The per-channel epilogue arrays come from the GEMM packer (k = 1, a zero filter).
  const std::vector<T> dummy(channels, T{});
  if (!PackGemmWeights(dummy.data(), channels, 1, weights_offset, bias, multiplier, shift, 1,
                       &out->q)) {
    return false;
  }
  out->q.data.clear();
  out->channels = channels;
  out->f_h = f_h;
  out->f_w = f_w;
  const int taps = f_h * f_w, pairs = (taps + 1) / 2, groups = (channels + 15) / 16;
  out->weights.assign(static_cast<size_t>(groups) * pairs * 32, 0);
  auto w = [&](int tap, int c) -> int16_t {
    if (tap >= taps || c >= channels) return 0;
    return static_cast<int16_t>(
        static_cast<int32_t>(filter[static_cast<size_t>(tap) * channels + c]) + weights_offset);
  };
  for (int g = 0; g < groups; ++g)
    for (int p = 0; p < pairs; ++p) {
      int16_t* dst = out->weights.data() + (static_cast<size_t>(g) * pairs + p) * 32;
      // vpunpcklwd(a, b) per 128-bit lane L: a[8L], b[8L], ..., a[8L+3], b[8L+3]; vpunpckhwd the
      // same from element 8L + 4.
      for (int half = 0; half < 2; ++half)
        for (int lane = 0; lane < 2; ++lane)
          for (int j = 0; j < 4; ++j) {
            const int c = g * 16 + 8 * lane + 4 * half + j;
            dst[16 * half + 8 * lane + 2 * j] = w(2 * p, c);
            dst[16 * half + 8 * lane + 2 * j + 1] = w(2 * p + 1, c);
          }
    }
  return true;
}

bool PackDepthwiseFloat(const float* filter, int channels, int f_h, int f_w, const float* bias,
                        PackedDepthwiseFloat* out) {
  if (channels <= 0 || f_h <= 0 || f_w <= 0) return false;
  const int taps = f_h * f_w, groups = (channels + 7) / 8;
  for (int64_t i = 0; i < static_cast<int64_t>(taps) * channels; ++i)
    if (!std::isfinite(filter[i])) return false;
  for (int c = 0; bias != nullptr && c < channels; ++c)
    if (!std::isfinite(bias[c])) return false;
  out->channels = channels;
  out->f_h = f_h;
  out->f_w = f_w;
  out->has_bias = bias != nullptr;
  out->weights.assign(static_cast<size_t>(groups) * taps * 8, 0.f);
  out->bias.assign(static_cast<size_t>(groups) * 8, 0.f);
  for (int t = 0; t < taps; ++t)
    for (int c = 0; c < channels; ++c)
      out->weights[(static_cast<size_t>(c / 8) * taps + t) * 8 + c % 8] =
          filter[static_cast<size_t>(t) * channels + c];
  for (int c = 0; bias != nullptr && c < channels; ++c) out->bias[c] = bias[c];
  return true;
}

template bool PackDepthwise<int8_t>(const int8_t*, int, int, int, int32_t, const int32_t*,
                                    const int32_t*, const int32_t*, PackedDepthwise*);
template bool PackDepthwise<uint8_t>(const uint8_t*, int, int, int, int32_t, const int32_t*,
                                     const int32_t*, const int32_t*, PackedDepthwise*);

}  // namespace tfqat::runtime::optimized

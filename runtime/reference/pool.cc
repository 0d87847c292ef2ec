// AVERAGE_POOL_2D / MAX_POOL_2D reference kernels (padding cells are excluded from the window).
#include <algorithm>
#include <limits>

#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime::reference {
namespace {

template <typename T, bool kMax>
void Pool(const PoolParams& p, const Shape& is, const T* input, const Shape& os, T* output) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), depth = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2);
  for (int b = 0; b < batches; ++b)
    for (int oy = 0; oy < out_h; ++oy)
      for (int ox = 0; ox < out_w; ++ox) {
        const int iy0 = oy * p.stride_height - p.pad_height;
        const int ix0 = ox * p.stride_width - p.pad_width;
        const int fy0 = std::max(0, -iy0), fy1 = std::min(p.filter_height, in_h - iy0);
        const int fx0 = std::max(0, -ix0), fx1 = std::min(p.filter_width, in_w - ix0);
        for (int c = 0; c < depth; ++c) {
          int32_t acc = kMax ? std::numeric_limits<T>::lowest() : 0;
          int count = 0;
          for (int fy = fy0; fy < fy1; ++fy)
            for (int fx = fx0; fx < fx1; ++fx) {
              const int32_t v =
                  input[((static_cast<int64_t>(b) * in_h + iy0 + fy) * in_w + ix0 + fx) * depth + c];
              if (kMax) {
                acc = std::max(acc, v);
              } else {
                acc += v;
              }
              ++count;
            }
          if (!kMax) {
            if (count == 0) {
              acc = 0;
            } else {
              acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
            }
          }
          acc = std::min(std::max(acc, p.act.act_min), p.act.act_max);
          output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * depth + c] =
              static_cast<T>(acc);
        }
      }
}

template <bool kMax>
void PoolF(const PoolParams& p, const Shape& is, const float* input, const Shape& os,
           float* output) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), depth = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2);
  for (int b = 0; b < batches; ++b)
    for (int oy = 0; oy < out_h; ++oy)
      for (int ox = 0; ox < out_w; ++ox) {
        const int iy0 = oy * p.stride_height - p.pad_height;
        const int ix0 = ox * p.stride_width - p.pad_width;
        const int fy0 = std::max(0, -iy0), fy1 = std::min(p.filter_height, in_h - iy0);
        const int fx0 = std::max(0, -ix0), fx1 = std::min(p.filter_width, in_w - ix0);
        for (int c = 0; c < depth; ++c) {
          float acc = kMax ? std::numeric_limits<float>::lowest() : 0.f;
          int count = 0;
          for (int fy = fy0; fy < fy1; ++fy)
            for (int fx = fx0; fx < fx1; ++fx) {
              const float v =
                  input[((static_cast<int64_t>(b) * in_h + iy0 + fy) * in_w + ix0 + fx) * depth + c];
              acc = kMax ? std::max(acc, v) : acc + v;
              ++count;
            }
          if (!kMax) acc = count ? acc / count : 0.f;
          output[((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * depth + c] =
              std::min(std::max(acc, p.act.float_act_min), p.act.float_act_max);
        }
      }
}

}  // namespace

void AveragePoolInt8(const PoolParams& p, const Shape& is, const int8_t* in, const Shape& os,
                     int8_t* out, const KernelContext&) {
  Pool<int8_t, false>(p, is, in, os, out);
}
void AveragePoolUint8(const PoolParams& p, const Shape& is, const uint8_t* in, const Shape& os,
                      uint8_t* out, const KernelContext&) {
  Pool<uint8_t, false>(p, is, in, os, out);
}
void AveragePoolFloat(const PoolParams& p, const Shape& is, const float* in, const Shape& os,
                      float* out, const KernelContext&) {
  PoolF<false>(p, is, in, os, out);
}
void MaxPoolInt8(const PoolParams& p, const Shape& is, const int8_t* in, const Shape& os,
                 int8_t* out, const KernelContext&) {
  Pool<int8_t, true>(p, is, in, os, out);
}
void MaxPoolUint8(const PoolParams& p, const Shape& is, const uint8_t* in, const Shape& os,
                  uint8_t* out, const KernelContext&) {
  Pool<uint8_t, true>(p, is, in, os, out);
}
void MaxPoolFloat(const PoolParams& p, const Shape& is, const float* in, const Shape& os,
                  float* out, const KernelContext&) {
  PoolF<true>(p, is, in, os, out);
}

}  // namespace tfqat::runtime::reference

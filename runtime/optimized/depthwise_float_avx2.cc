// Float DEPTHWISE_CONV_2D (depth multiplier 1) on AVX2, bit-exact with the reference
// DepthwiseConvFloat: for 8 channels at a time, `total = total + in * w` over the taps in the
// reference's order (filter row, column) with a separate vmulps and vaddps, + bias, then
// vminps(hi, vmaxps(lo, v)) = std::min(std::max(v, lo), hi). The input is copied into a
// zero-padded image (channels padded to 8); a padding tap adds +-0 to a total that is never -0,
// which changes nothing, like the reference's skipped tap (conv_float_avx2.cc has the argument).
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "runtime/optimized/depthwise_packed.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

void CopyRows(const DepthwiseGeometry& g, const float* input, int64_t row_begin, int64_t row_end,
              float* image) {
  const int64_t hp = g.PaddedH(), wp = g.PaddedW(), c8 = g.Channels8();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / hp, iy = row % hp - g.pad_h;
    float* dst = image + row * wp * c8;
    std::memset(dst, 0, sizeof(float) * wp * c8);
    if (iy < 0 || iy >= g.in_h) continue;
    for (int64_t px = 0; px < wp; ++px) {
      const int64_t ix = px - g.pad_w;
      if (ix < 0 || ix >= g.in_w) continue;
      std::memcpy(dst + px * c8, input + ((b * g.in_h + iy) * g.in_w + ix) * g.channels,
                  sizeof(float) * g.channels);
    }
  }
}

}  // namespace

void DepthwiseFloatAvx2(const DepthwiseGeometry& g, const PackedDepthwiseFloat& w,
                        const ActivationRange& act, const float* input, float* output,
                        const KernelContext& ctx) {
  float* image = reinterpret_cast<float*>(ctx.scratch);
  const int threads = ctx.pool == nullptr ? 1 : std::max(1, ctx.num_threads);
  const int64_t image_rows = static_cast<int64_t>(g.batches) * g.PaddedH();
  // Small images are copied by the caller alone: a pool wake-up (~25 us here) costs more
  // than the copy (kSerialCopyBytes of int16/float take ~10 us).
  const int convert_tasks =
      DepthwiseFloatImageBytes(g) <= kSerialCopyBytes
          ? 1
          : static_cast<int>(std::min<int64_t>(threads, image_rows));
  ParallelFor(ctx.pool, convert_tasks, [&](int t) {
    CopyRows(g, input, image_rows * t / convert_tasks, image_rows * (t + 1) / convert_tasks, image);
  });
  const __m256 lo = _mm256_set1_ps(act.float_act_min), hi = _mm256_set1_ps(act.float_act_max);
  const int64_t wp = g.PaddedW(), c8 = g.Channels8();
  const int taps = g.f_h * g.f_w;
  std::vector<int64_t> tap_offset(taps);
  for (int t = 0; t < taps; ++t)
    tap_offset[t] = ((t / g.f_w) * g.dil_h * wp + (t % g.f_w) * g.dil_w) * c8;
  const int groups = static_cast<int>(c8 / 8);
  const int64_t rows = static_cast<int64_t>(g.batches) * g.out_h;
  std::atomic<int64_t> next{0};
  const int tasks = static_cast<int>(std::min<int64_t>(threads, rows));
  ParallelFor(ctx.pool, tasks, [&](int) {
    for (int64_t row; (row = next.fetch_add(1, std::memory_order_relaxed)) < rows;) {
      const int64_t b = row / g.out_h, oy = row % g.out_h;
      const float* in_row = image + (b * g.PaddedH() + oy * g.stride_h) * wp * c8;
      float* out_row = output + row * g.out_w * g.channels;
      for (int grp = 0; grp < groups; ++grp) {
        const float* wg = w.weights.data() + static_cast<int64_t>(grp) * taps * 8;
        const __m256 bias = _mm256_load_ps(w.bias.data() + grp * 8);
        const int ncols = std::min(8, g.channels - grp * 8);
        for (int ox = 0; ox < g.out_w; ++ox) {
          const float* px = in_row + static_cast<int64_t>(ox) * g.stride_w * c8 + grp * 8;
          __m256 total = _mm256_setzero_ps();
          for (int t = 0; t < taps; ++t)
            total = _mm256_add_ps(total, _mm256_mul_ps(_mm256_loadu_ps(px + tap_offset[t]),
                                                       _mm256_load_ps(wg + 8 * t)));
          if (w.has_bias) total = _mm256_add_ps(total, bias);
          total = _mm256_min_ps(hi, _mm256_max_ps(lo, total));
          float* o = out_row + static_cast<int64_t>(ox) * g.channels + grp * 8;
          if (ncols == 8) {
            _mm256_storeu_ps(o, total);
          } else {
            alignas(32) float tmp[8];
            _mm256_store_ps(tmp, total);
            std::memcpy(o, tmp, sizeof(float) * ncols);
          }
        }
      }
    }
  });
}

}  // namespace tfqat::runtime::optimized

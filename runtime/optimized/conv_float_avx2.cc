// Float CONV_2D on AVX2, bit-exact with the reference ConvFloat (docs/runtime_optimized.md):
// implicit convolution over a zero-padded copy of the input (dilation 1, ungrouped), the
// f32_gemm_6x16 micro-kernel (microkernel_f32_avx2.h: the reference's summation order with a
// separate multiply and add), then + bias and the clamp in the reference's order and NaN
// behaviour (std::min(std::max(v, lo), hi) = vminps(hi, vmaxps(lo, v))). A padding tap adds
// +-0 to a total that is never -0 (it starts at +0 and x + -x rounds to +0), so it changes
// nothing, exactly like the reference's skipped taps; non-finite weights keep the reference.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#include "runtime/optimized/conv_float_packed.h"
#include "runtime/optimized/microkernel_f32_avx2.h"
#include "runtime/optimized/on_demand_rows.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

struct FloatImage {
  int64_t h, w;
  static FloatImage Of(const ConvGeometry& g) {
    return {static_cast<int64_t>(g.out_h - 1) * g.stride_h + g.f_h,
            static_cast<int64_t>(g.out_w - 1) * g.stride_w + g.f_w};
  }
};

void CopyRows(const ConvGeometry& g, const FloatImage& fi, const float* input, int64_t row_begin,
              int64_t row_end, float* image) {
  const int64_t row_len = fi.w * g.in_d;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / fi.h, iy = row % fi.h - g.pad_h;
    float* dst = image + row * row_len;
    if (iy < 0 || iy >= g.in_h) {
      std::memset(dst, 0, sizeof(float) * row_len);
      continue;
    }
    const int64_t x0 = std::min<int64_t>(fi.w, std::max<int64_t>(0, g.pad_w));
    const int64_t x1 = std::max<int64_t>(x0, std::min<int64_t>(fi.w, g.in_w + g.pad_w));
    std::memset(dst, 0, sizeof(float) * x0 * g.in_d);
    std::memcpy(dst + x0 * g.in_d, input + ((b * g.in_h + iy) * g.in_w + (x0 - g.pad_w)) * g.in_d,
                sizeof(float) * (x1 - x0) * g.in_d);
    std::memset(dst + x1 * g.in_d, 0, sizeof(float) * (fi.w - x1) * g.in_d);
  }
}

template <int MR>
void Tile(const float* a, int64_t lda_bytes, int64_t seg_bytes, int nseg, int klen, const float* b,
          const float* bias, bool has_bias, __m256 lo, __m256 hi, float* out, int64_t out_stride,
          int ncols) {
  alignas(32) float acc[6 * 16];
  GemmTileF32_6x16<MR>(a, lda_bytes, seg_bytes, nseg, klen, b, acc);
  const __m256 b0 = _mm256_load_ps(bias), b1 = _mm256_load_ps(bias + 8);
  for (int r = 0; r < MR; ++r) {
    __m256 v0 = _mm256_load_ps(acc + 16 * r), v1 = _mm256_load_ps(acc + 16 * r + 8);
    if (has_bias) v0 = _mm256_add_ps(v0, b0), v1 = _mm256_add_ps(v1, b1);
    v0 = _mm256_min_ps(hi, _mm256_max_ps(lo, v0));
    v1 = _mm256_min_ps(hi, _mm256_max_ps(lo, v1));
    float* o = out + r * out_stride;
    if (ncols >= 16) {
      _mm256_storeu_ps(o, v0);
      _mm256_storeu_ps(o + 8, v1);
    } else {
      alignas(32) float tmp[16];
      _mm256_store_ps(tmp, v0);
      _mm256_store_ps(tmp + 8, v1);
      std::memcpy(o, tmp, sizeof(float) * ncols);
    }
  }
}

}  // namespace

size_t FloatImageBytes(const ConvGeometry& g) {
  const FloatImage fi = FloatImage::Of(g);
  return (static_cast<size_t>(g.batches) * fi.h * fi.w * g.in_d * sizeof(float) + 63) / 64 * 64;
}

// Output row tiles: 6 pixels, except that a row remainder of 1 or 2 pixels is merged with the
// last full tile and split evenly (7 = 4 + 3, 8 = 4 + 4): a 1- or 2-row tile has too few
// accumulators to hide the vaddps latency (3 cycles per k for 1/6 or 1/3 of the work), a 3- or
// 4-row tile still issues at the full rate.
static int FloatTileRows(int remaining) {
  return remaining == 7 || remaining == 8 ? 4 : std::min(6, remaining);
}

void ConvFloatAvx2(const ConvGeometry& g, const PackedFloatConv& w, const ActivationRange& act,
                   const float* input, float* output, const KernelContext& ctx) {
  const FloatImage fi = FloatImage::Of(g);
  const int threads = ctx.pool == nullptr ? 1 : std::max(1, ctx.num_threads);
  // Without padding and with an image the size of the input (1x1 stride 1, or VALID convs that
  // use every row and column), the padded image is the input itself: no copy.
  const bool is_input = g.pad_h == 0 && g.pad_w == 0 && fi.h == g.in_h && fi.w == g.in_w;
  const float* image = is_input ? input : reinterpret_cast<const float*>(ctx.scratch);
  float* dst = reinterpret_cast<float*>(ctx.scratch);
  const int64_t image_rows = static_cast<int64_t>(g.batches) * fi.h;
  // The padded image is built row by row on demand (on_demand_rows.h), in the compute's
  // parallel region.
  std::unique_ptr<OnDemandRows> on_demand;
  if (!is_input) on_demand = std::make_unique<OnDemandRows>(image_rows);
  const __m256 lo = _mm256_set1_ps(act.float_act_min), hi = _mm256_set1_ps(act.float_act_max);
  const int64_t pix_bytes = static_cast<int64_t>(g.in_d) * 4;
  const int64_t lda_bytes = pix_bytes * g.stride_w, seg_bytes = pix_bytes * fi.w;
  const int klen = g.f_w * g.in_d;
  const int64_t rows = static_cast<int64_t>(g.batches) * g.out_h;
  std::atomic<int64_t> next{0};  // rows handed out dynamically, as in conv_implicit_avx2.cc
  const int tasks = static_cast<int>(std::min<int64_t>(threads, rows));
  ParallelFor(ctx.pool, tasks, [&](int) {
    for (int64_t row; (row = next.fetch_add(1, std::memory_order_relaxed)) < rows;) {
      const int64_t b = row / g.out_h, oy = row % g.out_h;
      const int64_t first = b * fi.h + oy * g.stride_h;
      if (on_demand) {
        on_demand->Ensure(first, first + g.f_h,
                          [&](int64_t r) { CopyRows(g, fi, input, r, r + 1, dst); });
      }
      const float* a_row = image + first * fi.w * g.in_d;
      float* out_row = output + row * g.out_w * w.n;
      for (int x0 = 0, mr; x0 < g.out_w; x0 += mr) {
        mr = FloatTileRows(g.out_w - x0);
        const float* a = a_row + static_cast<int64_t>(x0) * g.stride_w * g.in_d;
        for (int p = 0; p < w.panels; ++p) {
          const float* bp = w.data.data() + static_cast<int64_t>(p) * w.k * kGemmNr;
          const float* bias = w.bias.data() + p * kGemmNr;
          float* o = out_row + static_cast<int64_t>(x0) * w.n + p * kGemmNr;
          const int ncols = std::min(kGemmNr, w.n - p * kGemmNr);
          switch (mr) {
            case 1:
              Tile<1>(a, lda_bytes, seg_bytes, g.f_h, klen, bp, bias, w.has_bias, lo, hi, o, w.n,
                      ncols);
              break;
            case 2:
              Tile<2>(a, lda_bytes, seg_bytes, g.f_h, klen, bp, bias, w.has_bias, lo, hi, o, w.n,
                      ncols);
              break;
            case 3:
              Tile<3>(a, lda_bytes, seg_bytes, g.f_h, klen, bp, bias, w.has_bias, lo, hi, o, w.n,
                      ncols);
              break;
            case 4:
              Tile<4>(a, lda_bytes, seg_bytes, g.f_h, klen, bp, bias, w.has_bias, lo, hi, o, w.n,
                      ncols);
              break;
            case 5:
              Tile<5>(a, lda_bytes, seg_bytes, g.f_h, klen, bp, bias, w.has_bias, lo, hi, o, w.n,
                      ncols);
              break;
            default:
              Tile<6>(a, lda_bytes, seg_bytes, g.f_h, klen, bp, bias, w.has_bias, lo, hi, o, w.n,
                      ncols);
              break;
          }
        }
      }
    }
  });
}

}  // namespace tfqat::runtime::optimized

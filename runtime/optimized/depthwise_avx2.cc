// Exact int8/uint8 DEPTHWISE_CONV_2D (depth multiplier 1) on AVX2 (docs/runtime_optimized.md).
// The input is copied once into scratch as a zero-padded int16 image with the input offset applied
// (channels padded to a multiple of 16), so every filter tap is in bounds and padding taps add 0,
// as the reference's skipped taps do. For 16 channels of one output pixel, taps are taken in pairs
// (t, t+1): vpunpcklwd / vpunpckhwd interleave the two taps' activations per channel and vpmaddwd
// multiplies them with the pre-interleaved weights (w + weights_offset) into int32 sums of the two
// products (|pair| <= 2 * 255 * 255, exact), accumulated with vpaddd. The lane order the unpacks
// produce (channels 0-3, 8-11 | 4-7, 12-15) is undone with two vperm2i128 before requantization.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/optimized/depthwise_packed.h"
#include "runtime/optimized/gemm_tile_avx2.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

template <typename T>
void ConvertRows(const DepthwiseGeometry& g, const T* input, int16_t offset, int64_t row_begin,
                 int64_t row_end, int16_t* image) {
  const int64_t hp = g.PaddedH(), wp = g.PaddedW(), c16 = g.Channels16();
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / hp, iy = row % hp - g.pad_h;
    int16_t* dst = image + row * wp * c16;
    std::memset(dst, 0, sizeof(int16_t) * wp * c16);
    if (iy < 0 || iy >= g.in_h) continue;
    for (int64_t px = 0; px < wp; ++px) {
      const int64_t ix = px - g.pad_w;
      if (ix < 0 || ix >= g.in_w) continue;
      ConvertRow(input + ((b * g.in_h + iy) * g.in_w + ix) * g.channels, g.channels, offset,
                 dst + px * c16);
    }
  }
}

template <typename T>
void Depthwise(const DepthwiseGeometry& g, const PackedDepthwise& w, int32_t input_offset,
               int32_t output_offset, int32_t act_min, int32_t act_max, const T* input, T* output,
               const KernelContext& ctx) {
  int16_t* image = reinterpret_cast<int16_t*>(ctx.scratch);
  const int threads = ctx.pool == nullptr ? 1 : std::max(1, ctx.num_threads);
  const int64_t image_rows = static_cast<int64_t>(g.batches) * g.PaddedH();
  // Small images are copied by the caller alone: a pool wake-up (~25 us here) costs more
  // than the copy (kSerialCopyBytes of int16/float take ~10 us).
  const int convert_tasks = g.ImageBytes() <= kSerialCopyBytes
                                ? 1
                                : static_cast<int>(std::min<int64_t>(threads, image_rows));
  ParallelFor(ctx.pool, convert_tasks, [&](int t) {
    ConvertRows(g, input, static_cast<int16_t>(input_offset), image_rows * t / convert_tasks,
                image_rows * (t + 1) / convert_tasks, image);
  });

  const Epilogue e = MakeEpilogue<T>(output_offset, act_min, act_max);
  const int64_t wp = g.PaddedW(), c16 = g.Channels16();
  const int taps = g.f_h * g.f_w, pairs = (taps + 1) / 2;
  std::vector<int64_t> tap_offset(2 * pairs, -1);  // in int16 elements; -1: no tap (odd count)
  for (int t = 0; t < taps; ++t)
    tap_offset[t] = ((t / g.f_w) * g.dil_h * wp + (t % g.f_w) * g.dil_w) * c16;
  const int groups = static_cast<int>(c16 / 16);
  const int64_t rows = static_cast<int64_t>(g.batches) * g.out_h;
  std::atomic<int64_t> next{0};  // rows handed out dynamically, as in conv_implicit_avx2.cc
  const int tasks = static_cast<int>(std::min<int64_t>(threads, rows));
  ParallelFor(ctx.pool, tasks, [&](int) {
    for (int64_t row; (row = next.fetch_add(1, std::memory_order_relaxed)) < rows;) {
      const int64_t b = row / g.out_h, oy = row % g.out_h;
      const int16_t* in_row = image + (b * g.PaddedH() + oy * g.stride_h) * wp * c16;
      T* out_row = output + row * g.out_w * g.channels;
      for (int grp = 0; grp < groups; ++grp) {
        const PanelConsts k = LoadPanelConsts(w.q, grp * 16, e);
        const int16_t* wg = w.weights.data() + static_cast<int64_t>(grp) * pairs * 32;
        const int ncols = std::min(16, g.channels - grp * 16);
        for (int ox = 0; ox < g.out_w; ++ox) {
          const int16_t* px = in_row + static_cast<int64_t>(ox) * g.stride_w * c16 + grp * 16;
          __m256i acc_lo = _mm256_setzero_si256(), acc_hi = _mm256_setzero_si256();
          for (int p = 0; p < pairs; ++p) {
            const __m256i x0 =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(px + tap_offset[2 * p]));
            const __m256i x1 = tap_offset[2 * p + 1] < 0
                                   ? _mm256_setzero_si256()
                                   : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                                         px + tap_offset[2 * p + 1]));
            const __m256i wl = _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 32 * p));
            const __m256i wh =
                _mm256_load_si256(reinterpret_cast<const __m256i*>(wg + 32 * p + 16));
            acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wl));
            acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wh));
          }
          const __m256i c0 = _mm256_permute2x128_si256(acc_lo, acc_hi, 0x20);  // channels 0-7
          const __m256i c1 = _mm256_permute2x128_si256(acc_lo, acc_hi, 0x31);  // channels 8-15
          T* o = out_row + static_cast<int64_t>(ox) * g.channels + grp * 16;
          StoreRow<T>(k, c0, c1, e, o, ncols);
        }
      }
    }
  });
}

}  // namespace

void DepthwiseInt8Avx2(const DepthwiseGeometry& g, const PackedDepthwise& w, int32_t input_offset,
                       int32_t output_offset, int32_t act_min, int32_t act_max, const int8_t* input,
                       int8_t* output, const KernelContext& ctx) {
  Depthwise<int8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}
void DepthwiseUint8Avx2(const DepthwiseGeometry& g, const PackedDepthwise& w, int32_t input_offset,
                        int32_t output_offset, int32_t act_min, int32_t act_max,
                        const uint8_t* input, uint8_t* output, const KernelContext& ctx) {
  Depthwise<uint8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}

}  // namespace tfqat::runtime::optimized

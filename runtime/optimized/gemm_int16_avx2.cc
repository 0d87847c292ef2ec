// Exact int8/uint8 convolution and fully-connected GEMM on AVX2 through an im2col gather (FC,
// and convs with dilation > 1 or TFQAT_CONV_IM2COL; conv_implicit_avx2.cc handles dilation-1
// convs without the copy), and MAX_POOL_2D. Micro-kernel: qs16_gemm_6x16__avx2_vpmaddwd
// (microkernel_avx2.h). Both operands are widened to int16 with their offsets applied, so every
// product pair fits int32 exactly (|pair| <= 130050); no vpmaddubsw, whose int16 saturation makes
// u8 x s8 full-range inexact. Requantization: requantize_avx2.h.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/gemm_tile_avx2.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

// im2col of output pixel `row` into dst[k2], in the filter's (fy, fx, ic) order; padding -> 0.
template <typename T>
void GatherRow(const ConvGeometry& g, const T* input, int64_t row, int16_t offset, int k2,
               int16_t* dst) {
  const int ox = static_cast<int>(row % g.out_w);
  const int oy = static_cast<int>((row / g.out_w) % g.out_h);
  const int64_t b = row / (static_cast<int64_t>(g.out_w) * g.out_h);
  const int iy0 = oy * g.stride_h - g.pad_h, ix0 = ox * g.stride_w - g.pad_w;
  int16_t* d = dst;
  for (int fy = 0; fy < g.f_h; ++fy) {
    const int iy = iy0 + fy * g.dil_h;
    if (iy < 0 || iy >= g.in_h) {
      std::memset(d, 0, sizeof(int16_t) * g.f_w * g.in_d);
      d += g.f_w * g.in_d;
      continue;
    }
    const T* in_row = input + ((b * g.in_h + iy) * g.in_w) * g.in_d;
    if (g.dil_w == 1 && ix0 >= 0 && ix0 + g.f_w <= g.in_w) {  // contiguous run of f_w pixels
      ConvertRow(in_row + static_cast<int64_t>(ix0) * g.in_d, g.f_w * g.in_d, offset, d);
      d += g.f_w * g.in_d;
      continue;
    }
    for (int fx = 0; fx < g.f_w; ++fx) {
      const int ix = ix0 + fx * g.dil_w;
      if (ix < 0 || ix >= g.in_w) {
        std::memset(d, 0, sizeof(int16_t) * g.in_d);
      } else {
        ConvertRow(in_row + static_cast<int64_t>(ix) * g.in_d, g.in_d, offset, d);
      }
      d += g.in_d;
    }
  }
  if (k2 > g.K()) dst[k2 - 1] = 0;
}

template <typename T>
struct ConvJob {
  const ConvGeometry* g;
  const PackedGemmWeights* w;
  const T* input;
  T* output;
  int16_t input_offset;
  Epilogue e;
  uint8_t* scratch;
  int64_t rows;
  int blocks;
  int tasks;
  bool split_panels;  // true: every task walks all row blocks for its share of the panels
};

template <typename T>
void RunBlock(const ConvJob<T>& j, int blk, int p_begin, int p_end, int16_t* a) {
  const PackedGemmWeights& w = *j.w;
  const int64_t m0 = static_cast<int64_t>(blk) * kGemmRowBlock;
  const int mb = static_cast<int>(std::min<int64_t>(kGemmRowBlock, j.rows - m0));
  for (int r = 0; r < mb; ++r) GatherRow(*j.g, j.input, m0 + r, j.input_offset, w.k2, a + r * w.k2);
  const int64_t lda_bytes = static_cast<int64_t>(w.k2) * 2;
  if (w.use_avxvnni) {
    RowsTimesPanels<T, true>(a, lda_bytes, 0, 1, w.k2 / 2, mb, w, p_begin, p_end, j.e,
                             j.output + m0 * w.n);
  } else {
    RowsTimesPanels<T, false>(a, lda_bytes, 0, 1, w.k2 / 2, mb, w, p_begin, p_end, j.e,
                              j.output + m0 * w.n);
  }
}

template <typename T>
void RunTask(const ConvJob<T>& j, int t) {
  int16_t* a = reinterpret_cast<int16_t*>(j.scratch + j.w->ScratchPerThread() * t);
  if (j.split_panels) {
    const int pb = static_cast<int>(static_cast<int64_t>(j.w->panels) * t / j.tasks);
    const int pe = static_cast<int>(static_cast<int64_t>(j.w->panels) * (t + 1) / j.tasks);
    if (pb == pe) return;
    for (int blk = 0; blk < j.blocks; ++blk) RunBlock(j, blk, pb, pe, a);
  } else {
    const int bb = static_cast<int>(static_cast<int64_t>(j.blocks) * t / j.tasks);
    const int be = static_cast<int>(static_cast<int64_t>(j.blocks) * (t + 1) / j.tasks);
    for (int blk = bb; blk < be; ++blk) RunBlock(j, blk, 0, j.w->panels, a);
  }
}

template <typename T>
void ConvGemm(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
              int32_t output_offset, int32_t act_min, int32_t act_max, const T* input, T* output,
              const KernelContext& ctx) {
  ConvJob<T> j;
  j.g = &g;
  j.w = &w;
  j.input = input;
  j.output = output;
  j.input_offset = static_cast<int16_t>(input_offset);
  j.e = MakeEpilogue<T>(output_offset, act_min, act_max);
  j.scratch = ctx.scratch;
  j.rows = g.Rows();
  j.blocks = static_cast<int>((j.rows + kGemmRowBlock - 1) / kGemmRowBlock);
  int threads = std::max(1, std::min(ctx.num_threads, w.threads));
  if (ctx.pool == nullptr) threads = 1;
  threads = std::min<int64_t>(threads, ctx.scratch_bytes / w.ScratchPerThread());
  j.split_panels = j.blocks < threads && w.panels > 1;
  j.tasks = j.split_panels ? std::min(threads, w.panels) : std::min(threads, j.blocks);
  ParallelFor(ctx.pool, j.tasks, [&j](int t) { RunTask(j, t); });
}

template <typename T, bool kSigned>
void MaxPoolImpl(const PoolParams& p, const Shape& is, const T* input, const Shape& os, T* output,
                 const KernelContext& ctx) {
  const int batches = is.Dim(0), in_h = is.Dim(1), in_w = is.Dim(2), depth = is.Dim(3);
  const int out_h = os.Dim(1), out_w = os.Dim(2);
  const int rows = batches * out_h;
  auto vmax = [](__m256i a, __m256i b) {
    return kSigned ? _mm256_max_epi8(a, b) : _mm256_max_epu8(a, b);
  };
  const int32_t lowest = std::numeric_limits<T>::lowest();
  const T lo_clamp = static_cast<T>(std::max(p.act.act_min, lowest));
  const T hi_clamp = static_cast<T>(std::min<int32_t>(p.act.act_max, std::numeric_limits<T>::max()));
  const T empty = static_cast<T>(std::min<int32_t>(std::max(lowest, p.act.act_min), p.act.act_max));
  auto body = [&](int task) {
    const int tasks = std::max(1, std::min(ctx.num_threads, rows));
    const int r0 = static_cast<int>(static_cast<int64_t>(rows) * task / tasks);
    const int r1 = static_cast<int>(static_cast<int64_t>(rows) * (task + 1) / tasks);
    const __m256i vlo = _mm256_set1_epi8(static_cast<char>(lo_clamp));
    const __m256i vhi = _mm256_set1_epi8(static_cast<char>(hi_clamp));
    for (int row = r0; row < r1; ++row) {
      const int b = row / out_h, oy = row % out_h;
      for (int ox = 0; ox < out_w; ++ox) {
        const int iy0 = oy * p.stride_height - p.pad_height;
        const int ix0 = ox * p.stride_width - p.pad_width;
        const int fy0 = std::max(0, -iy0), fy1 = std::min(p.filter_height, in_h - iy0);
        const int fx0 = std::max(0, -ix0), fx1 = std::min(p.filter_width, in_w - ix0);
        T* out = output + ((static_cast<int64_t>(b) * out_h + oy) * out_w + ox) * depth;
        if (fy0 >= fy1 || fx0 >= fx1) {
          std::fill(out, out + depth, empty);
          continue;
        }
        int c = 0;
        for (; c + 32 <= depth; c += 32) {
          __m256i m = _mm256_set1_epi8(static_cast<char>(lowest));
          for (int fy = fy0; fy < fy1; ++fy)
            for (int fx = fx0; fx < fx1; ++fx) {
              const T* in = input +
                  ((static_cast<int64_t>(b) * in_h + iy0 + fy) * in_w + ix0 + fx) * depth + c;
              m = vmax(m, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in)));
            }
          m = kSigned ? _mm256_min_epi8(_mm256_max_epi8(m, vlo), vhi)
                      : _mm256_min_epu8(_mm256_max_epu8(m, vlo), vhi);
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + c), m);
        }
        for (; c + 16 <= depth; c += 16) {  // 16 channels per vpmaxsb / vpmaxub (xmm)
          __m128i m = _mm_set1_epi8(static_cast<char>(lowest));
          for (int fy = fy0; fy < fy1; ++fy)
            for (int fx = fx0; fx < fx1; ++fx) {
              const T* in = input +
                  ((static_cast<int64_t>(b) * in_h + iy0 + fy) * in_w + ix0 + fx) * depth + c;
              const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
              m = kSigned ? _mm_max_epi8(m, v) : _mm_max_epu8(m, v);
            }
          const __m128i lo = _mm256_castsi256_si128(vlo), hi = _mm256_castsi256_si128(vhi);
          m = kSigned ? _mm_min_epi8(_mm_max_epi8(m, lo), hi) : _mm_min_epu8(_mm_max_epu8(m, lo), hi);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(out + c), m);
        }
        for (; c < depth; ++c) {
          T m = static_cast<T>(lowest);
          for (int fy = fy0; fy < fy1; ++fy)
            for (int fx = fx0; fx < fx1; ++fx)
              m = std::max(m, input[((static_cast<int64_t>(b) * in_h + iy0 + fy) * in_w + ix0 + fx) *
                                        depth + c]);
          out[c] = std::min(std::max(m, lo_clamp), hi_clamp);
        }
      }
    }
  };
  const int tasks = std::max(1, std::min(ctx.num_threads, rows));
  ParallelFor(ctx.pool, tasks, body);
}

}  // namespace

void ConvGemmInt8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                      int32_t output_offset, int32_t act_min, int32_t act_max, const int8_t* input,
                      int8_t* output, const KernelContext& ctx) {
  ConvGemm<int8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}
void ConvGemmUint8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                       int32_t output_offset, int32_t act_min, int32_t act_max,
                       const uint8_t* input, uint8_t* output, const KernelContext& ctx) {
  ConvGemm<uint8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}
void MaxPoolInt8Avx2(const PoolParams& p, const Shape& is, const int8_t* input, const Shape& os,
                     int8_t* output, const KernelContext& ctx) {
  MaxPoolImpl<int8_t, true>(p, is, input, os, output, ctx);
}
void MaxPoolUint8Avx2(const PoolParams& p, const Shape& is, const uint8_t* input, const Shape& os,
                      uint8_t* output, const KernelContext& ctx) {
  MaxPoolImpl<uint8_t, false>(p, is, input, os, output, ctx);
}

}  // namespace tfqat::runtime::optimized

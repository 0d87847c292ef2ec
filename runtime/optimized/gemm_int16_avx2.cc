// Exact int8/uint8 convolution and fully-connected GEMM on AVX2 (no VNNI), and MAX_POOL_2D.
// Micro-kernel: qs16_gemm_6x16__avx2_vpmaddwd. Both operands are widened to int16 with their
// offsets applied, so every product pair fits int32 exactly (|pair| <= 130050); no vpmaddubsw,
// whose int16 saturation makes u8 x s8 full-range inexact. Requantization is TFLite's
// MultiplyByQuantizedMultiplier (double rounding) reproduced lane by lane (see RequantizeAvx2).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

// SaturatingRoundingDoublingHighMul(x, m) for m >= 0 (never saturates then), then
// RoundingDivideByPOT(., rshift). |x| * m is formed as an unsigned 64-bit product on even and odd
// lanes; the nudge is 2^30 for x >= 0 and 2^30 - 1 for x < 0 on the magnitude, which is the same as
// the scalar (ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31 truncated towards zero.
inline __m256i RequantizeAvx2(__m256i x, __m256i mult, __m256i lshift, __m256i rshift) {
  x = _mm256_sllv_epi32(x, lshift);
  const __m256i neg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), x);
  const __m256i ax = _mm256_abs_epi32(x);
  const __m256i nudge = _mm256_add_epi32(_mm256_set1_epi32(1 << 30), neg);
  const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFFLL);
  const __m256i p_even = _mm256_add_epi64(_mm256_mul_epu32(ax, mult), _mm256_and_si256(nudge, lo32));
  const __m256i p_odd = _mm256_add_epi64(
      _mm256_mul_epu32(_mm256_srli_epi64(ax, 32), _mm256_srli_epi64(mult, 32)),
      _mm256_srli_epi64(nudge, 32));
  const __m256i r_even = _mm256_srli_epi64(p_even, 31);
  const __m256i r_odd = _mm256_slli_epi64(_mm256_srli_epi64(p_odd, 31), 32);
  __m256i r = _mm256_blend_epi32(r_even, r_odd, 0xAA);
  r = _mm256_sign_epi32(r, x);
  // RoundingDivideByPOT with per-lane exponent.
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, rshift), one);
  const __m256i rem = _mm256_and_si256(r, mask);
  const __m256i rneg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), r);
  const __m256i threshold = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), rneg);
  return _mm256_sub_epi32(_mm256_srav_epi32(r, rshift), _mm256_cmpgt_epi32(rem, threshold));
}

struct Epilogue {
  __m256i zp, lo, hi;
};

template <typename T>
inline void StoreRow(const __m256i acc0, const __m256i acc1, const PackedGemmWeights& w, int n0,
                     const Epilogue& e, T* out, int ncols) {
  const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.bias.data() + n0));
  const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.bias.data() + n0 + 8));
  auto ld = [&](const std::vector<int32_t>& v, int off) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v.data() + n0 + off));
  };
  __m256i c0 = RequantizeAvx2(_mm256_add_epi32(acc0, b0), ld(w.multiplier, 0), ld(w.left_shift, 0),
                              ld(w.right_shift, 0));
  __m256i c1 = RequantizeAvx2(_mm256_add_epi32(acc1, b1), ld(w.multiplier, 8), ld(w.left_shift, 8),
                              ld(w.right_shift, 8));
  c0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(c0, e.zp), e.lo), e.hi);
  c1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(c1, e.zp), e.lo), e.hi);
  const __m256i s16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(c0, c1), 0xD8);
  const __m128i lo = _mm256_castsi256_si128(s16), hi = _mm256_extracti128_si256(s16, 1);
  const __m128i bytes =
      std::is_same<T, int8_t>::value ? _mm_packs_epi16(lo, hi) : _mm_packus_epi16(lo, hi);
  if (ncols >= kGemmNr) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
  } else {
    alignas(16) uint8_t tmp[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), bytes);
    std::memcpy(out, tmp, ncols);
  }
}

// acc[r] (+)= sum over k pairs of A[r] . B, rows of A are `lda` int16 apart.
template <int MR, typename T>
inline void MicroKernel(const int16_t* a, int lda, const int16_t* b, int kpairs,
                        const PackedGemmWeights& w, int n0, const Epilogue& e, T* out,
                        int64_t out_stride, int ncols) {
  __m256i c[MR][2];
  for (int r = 0; r < MR; ++r) c[r][0] = c[r][1] = _mm256_setzero_si256();
  for (int p = 0; p < kpairs; ++p) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32 * p));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32 * p + 16));
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, a + static_cast<int64_t>(r) * lda + 2 * p, sizeof(pair));
      const __m256i av = _mm256_set1_epi32(pair);
      c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(av, b0));
      c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(av, b1));
    }
  }
  for (int r = 0; r < MR; ++r) StoreRow<T>(c[r][0], c[r][1], w, n0, e, out + r * out_stride, ncols);
}

// Same tile with AVX-VNNI's vpdpwssd (int16 pairs multiplied and accumulated into int32 in one
// instruction, no saturation: identical integers). Only called when the CPU reports avxvnni.
template <int MR, typename T>
__attribute__((target("avx2,fma,avxvnni"))) void MicroKernelVnni(
    const int16_t* a, int lda, const int16_t* b, int kpairs, const PackedGemmWeights& w, int n0,
    const Epilogue& e, T* out, int64_t out_stride, int ncols) {
  __m256i c[MR][2];
  for (int r = 0; r < MR; ++r) c[r][0] = c[r][1] = _mm256_setzero_si256();
  for (int p = 0; p < kpairs; ++p) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32 * p));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32 * p + 16));
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      std::memcpy(&pair, a + static_cast<int64_t>(r) * lda + 2 * p, sizeof(pair));
      const __m256i av = _mm256_set1_epi32(pair);
      c[r][0] = _mm256_dpwssd_avx_epi32(c[r][0], av, b0);
      c[r][1] = _mm256_dpwssd_avx_epi32(c[r][1], av, b1);
    }
  }
  for (int r = 0; r < MR; ++r) StoreRow<T>(c[r][0], c[r][1], w, n0, e, out + r * out_stride, ncols);
}

template <int MR, typename T>
inline void Tile(bool vnni, const int16_t* a, int lda, const int16_t* b, int kpairs,
                 const PackedGemmWeights& w, int n0, const Epilogue& e, T* out, int64_t out_stride,
                 int ncols) {
  if (vnni) {
    MicroKernelVnni<MR, T>(a, lda, b, kpairs, w, n0, e, out, out_stride, ncols);
  } else {
    MicroKernel<MR, T>(a, lda, b, kpairs, w, n0, e, out, out_stride, ncols);
  }
}

template <typename T>
inline __m256i Widen16(const T* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return std::is_same<T, int8_t>::value ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v);
}

// dst[i] = src[i] + offset as int16, n values.
template <typename T>
inline void ConvertRow(const T* src, int n, int16_t offset, int16_t* dst) {
  const __m256i off = _mm256_set1_epi16(offset);
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_add_epi16(Widen16(src + i), off));
  for (; i < n; ++i) dst[i] = static_cast<int16_t>(src[i] + offset);
}

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
  const int kpairs = w.k2 / 2;
  const int64_t ostride = w.n;
  for (int p = p_begin; p < p_end; ++p) {
    const int16_t* b = w.data.data() + static_cast<int64_t>(p) * kpairs * 32;
    const int n0 = p * kGemmNr;
    const int ncols = std::min(kGemmNr, w.n - n0);
    T* out = j.output + m0 * ostride + n0;
    int r0 = 0;
    for (; r0 + kGemmMr <= mb; r0 += kGemmMr)
      Tile<kGemmMr, T>(w.use_avxvnni, a + r0 * w.k2, w.k2, b, kpairs, w, n0, j.e, out + r0 * ostride,
                              ostride, ncols);
    const int rem = mb - r0;
    const int16_t* ar = a + r0 * w.k2;
    T* o = out + r0 * ostride;
    switch (rem) {
      case 1: Tile<1, T>(w.use_avxvnni, ar, w.k2, b, kpairs, w, n0, j.e, o, ostride, ncols); break;
      case 2: Tile<2, T>(w.use_avxvnni, ar, w.k2, b, kpairs, w, n0, j.e, o, ostride, ncols); break;
      case 3: Tile<3, T>(w.use_avxvnni, ar, w.k2, b, kpairs, w, n0, j.e, o, ostride, ncols); break;
      case 4: Tile<4, T>(w.use_avxvnni, ar, w.k2, b, kpairs, w, n0, j.e, o, ostride, ncols); break;
      case 5: Tile<5, T>(w.use_avxvnni, ar, w.k2, b, kpairs, w, n0, j.e, o, ostride, ncols); break;
      default: break;
    }
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
  j.e = {_mm256_set1_epi32(output_offset), _mm256_set1_epi32(act_min), _mm256_set1_epi32(act_max)};
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

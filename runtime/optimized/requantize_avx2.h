// Vector requantization for the optimized integer kernels (include from *_avx2.cc only):
// TFLite's MultiplyByQuantizedMultiplier (double rounding) reproduced lane by lane, then
// + output zero point, clamp and narrowing stores of one 16-channel output row.
#pragma once

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

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

}  // namespace tfqat::runtime::optimized

// Vector requantization for the optimized integer kernels (include from *_avx2.cc only):
// TFLite's MultiplyByQuantizedMultiplier (double rounding) reproduced lane by lane, then
// + output zero point, clamp and narrowing stores of one 16-channel output row.
#pragma once

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

// Per-channel requantization constants for 8 lanes, loaded (and derived) once per tile.
struct ChannelConsts {
  __m256i bias, mult, mult_odd, lshift, rshift, mask, half_mask;
};

inline ChannelConsts LoadChannelConsts(const PackedGemmWeights& w, int n) {
  auto ld = [n](const std::vector<int32_t>& v) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v.data() + n));
  };
  return {ld(w.bias),       ld(w.multiplier), ld(w.multiplier_odd), ld(w.left_shift),
          ld(w.right_shift), ld(w.round_mask), ld(w.round_half)};
}

// SaturatingRoundingDoublingHighMul(x, m) for m >= 0 (never saturates then), then
// RoundingDivideByPOT(., rshift). The scalar high-mul is (p + (p >= 0 ? 2^30 : 1 - 2^30)) / 2^31
// truncated towards zero with p = x * m; for p < 0 truncation is a ceiling, and
// ceil((p + 1 - 2^30) / 2^31) = floor((p + 2^30) / 2^31), so both signs are floor((p + 2^30) / 2^31):
// bits 31..62 of the signed 64-bit p + 2^30 (|p| < 2^62). vpmuldq forms p on even lanes (a 31-bit
// right shift takes the bits) and on odd lanes (a 1-bit left shift moves them into the high dword).
// kLeftShift = false: every channel's left shift is 0 (PackedGemmWeights::any_left_shift), the
// shift is skipped.
template <bool kLeftShift = true>
inline __m256i RequantizeAvx2(__m256i x, const ChannelConsts& c) {
  x = _mm256_add_epi32(x, c.bias);
  if constexpr (kLeftShift) x = _mm256_sllv_epi32(x, c.lshift);
  const __m256i round = _mm256_set1_epi64x(1LL << 30);
  const __m256i p_even = _mm256_add_epi64(_mm256_mul_epi32(x, c.mult), round);
  const __m256i p_odd =
      _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), c.mult_odd), round);
  const __m256i r =
      _mm256_blend_epi32(_mm256_srli_epi64(p_even, 31), _mm256_slli_epi64(p_odd, 1), 0xAA);
  // RoundingDivideByPOT with per-lane exponent.
  const __m256i rem = _mm256_and_si256(r, c.mask);
  const __m256i rneg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), r);
  const __m256i threshold = _mm256_sub_epi32(c.half_mask, rneg);
  return _mm256_sub_epi32(_mm256_srav_epi32(r, c.rshift), _mm256_cmpgt_epi32(rem, threshold));
}

struct Epilogue {
  __m256i zp, lo, hi;
};

// Requantizes one row of 16 accumulators (channels c0: first 8, c1: next 8) and stores ncols.
template <typename T, bool kLeftShift = true>
inline void StoreRow(const __m256i acc0, const __m256i acc1, const ChannelConsts& k0,
                     const ChannelConsts& k1, const Epilogue& e, T* out, int ncols) {
  __m256i c0 = RequantizeAvx2<kLeftShift>(acc0, k0);
  __m256i c1 = RequantizeAvx2<kLeftShift>(acc1, k1);
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

// StoreRow with the left-shift step chosen at run time (PackedGemmWeights::any_left_shift).
template <typename T>
inline void StoreRow(bool any_left_shift, const __m256i acc0, const __m256i acc1,
                     const ChannelConsts& k0, const ChannelConsts& k1, const Epilogue& e, T* out,
                     int ncols) {
  if (any_left_shift) {
    StoreRow<T, true>(acc0, acc1, k0, k1, e, out, ncols);
  } else {
    StoreRow<T, false>(acc0, acc1, k0, k1, e, out, ncols);
  }
}

}  // namespace tfqat::runtime::optimized

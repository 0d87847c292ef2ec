// Vector requantization for the optimized integer kernels (include from *_avx2.cc only):
// TFLite's MultiplyByQuantizedMultiplier (double rounding) reproduced lane by lane (two forms:
// the general one and the one-shift one most layers allow), then + output zero point, narrowing,
// clamp and the store of one 16-channel output row.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
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

// One shift instead of two roundings (PackedGemmWeights::one_shift, pack_weights.cc): 8 lanes of
// x * M + (the sign's rounding constant + 2^62) >> (31 + s), + (zero point - 2^(31 - s)).
struct OneShiftConsts {
  __m256i bias, mult, mult_odd, shift_even, shift_odd, fix_zp;
  __m256d add_even_pos, add_even_neg, add_odd_pos, add_odd_neg;
};

// Channels [n, n + 8) (n a multiple of 8), with the output zero point folded in.
inline OneShiftConsts LoadOneShiftConsts(const PackedGemmWeights& w, int n, __m256i zp) {
  const int32_t* t = w.one_shift_table.data() + static_cast<size_t>(n / 8) * kOneShiftBlock;
  auto ld = [t](int at) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(t + at)); };
  return {ld(kOneShiftBias),
          ld(kOneShiftMult),
          ld(kOneShiftMultOdd),
          ld(kOneShiftShiftEven),
          ld(kOneShiftShiftOdd),
          _mm256_add_epi32(ld(kOneShiftFix), zp),
          _mm256_castsi256_pd(ld(kOneShiftAddEvenPos)),
          _mm256_castsi256_pd(ld(kOneShiftAddEvenNeg)),
          _mm256_castsi256_pd(ld(kOneShiftAddOddPos)),
          _mm256_castsi256_pd(ld(kOneShiftAddOddNeg))};
}

// MultiplyByQuantizedMultiplier(x + bias) + zero point for 8 lanes, exactly (pack_weights.cc
// derives it): vpmuldq forms p = x * M on the even and (after a 32-bit shift) the odd lanes; the
// sign bit of p picks the rounding constant (vblendvpd); a logical shift by 31 + s leaves the even
// lanes' results in their low dwords, one by s - 1 the odd lanes' in their high dwords.
inline __m256i RequantizeOneShiftAvx2(__m256i x, const OneShiftConsts& c) {
  x = _mm256_add_epi32(x, c.bias);
  __m256i even = _mm256_mul_epi32(x, c.mult);
  __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), c.mult_odd);
  even = _mm256_add_epi64(even, _mm256_castpd_si256(_mm256_blendv_pd(
                                    c.add_even_pos, c.add_even_neg, _mm256_castsi256_pd(even))));
  odd = _mm256_add_epi64(odd, _mm256_castpd_si256(_mm256_blendv_pd(
                                  c.add_odd_pos, c.add_odd_neg, _mm256_castsi256_pd(odd))));
  even = _mm256_srlv_epi64(even, c.shift_even);
  odd = _mm256_srlv_epi64(odd, c.shift_odd);
  return _mm256_add_epi32(_mm256_blend_epi32(even, odd, 0xAA), c.fix_zp);
}

// Output zero point and activation clamp. The clamp runs on the narrowed bytes (the narrowing
// saturates to the type's range, which contains [act_min, act_max]) and only when the activation
// range is narrower than the type's.
struct Epilogue {
  __m256i zp;
  __m128i lo8, hi8;
  bool clamp;
};

template <typename T>
inline Epilogue MakeEpilogue(int32_t output_offset, int32_t act_min, int32_t act_max) {
  const int32_t tmin = std::numeric_limits<T>::min(), tmax = std::numeric_limits<T>::max();
  const int32_t lo = std::min(std::max(act_min, tmin), tmax);
  const int32_t hi = std::min(std::max(act_max, tmin), tmax);
  return {_mm256_set1_epi32(output_offset), _mm_set1_epi8(static_cast<char>(lo)),
          _mm_set1_epi8(static_cast<char>(hi)), lo > tmin || hi < tmax};
}

// Narrows one row of 16 requantized values (zero point added; channels c0: first 8, c1: next 8)
// to T with saturation, clamps to the activation range and stores ncols of them.
template <typename T>
inline void PackStoreRow(__m256i c0, __m256i c1, const Epilogue& e, T* out, int ncols) {
  const __m256i s16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(c0, c1), 0xD8);
  const __m128i lo = _mm256_castsi256_si128(s16), hi = _mm256_extracti128_si256(s16, 1);
  __m128i bytes;
  if constexpr (std::is_same<T, int8_t>::value) {
    bytes = _mm_packs_epi16(lo, hi);
    if (e.clamp) bytes = _mm_min_epi8(_mm_max_epi8(bytes, e.lo8), e.hi8);
  } else {
    bytes = _mm_packus_epi16(lo, hi);
    if (e.clamp) bytes = _mm_min_epu8(_mm_max_epu8(bytes, e.lo8), e.hi8);
  }
  if (ncols >= kGemmNr) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
  } else {
    alignas(16) uint8_t tmp[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), bytes);
    std::memcpy(out, tmp, ncols);
  }
}

// The requantization constants of one 16-channel panel (or depthwise group), in the form its
// weights allow: the one-shift tables, or the general two-rounding ones (with or without the
// left shift).
struct PanelConsts {
  bool one_shift, left_shift;
  OneShiftConsts s0, s1;
  ChannelConsts c0, c1;
};

inline PanelConsts LoadPanelConsts(const PackedGemmWeights& w, int n0, const Epilogue& e) {
  PanelConsts k;  // only the form in use is loaded
  k.one_shift = w.one_shift;
  k.left_shift = w.any_left_shift;
  if (k.one_shift) {
    k.s0 = LoadOneShiftConsts(w, n0, e.zp);
    k.s1 = LoadOneShiftConsts(w, n0 + 8, e.zp);
  } else {
    k.c0 = LoadChannelConsts(w, n0);
    k.c1 = LoadChannelConsts(w, n0 + 8);
  }
  return k;
}

// Requantizes one row of 16 accumulators of the panel and stores ncols outputs.
template <typename T>
inline void StoreRow(const PanelConsts& k, __m256i acc0, __m256i acc1, const Epilogue& e, T* out,
                     int ncols) {
  __m256i c0, c1;
  if (k.one_shift) {
    c0 = RequantizeOneShiftAvx2(acc0, k.s0);
    c1 = RequantizeOneShiftAvx2(acc1, k.s1);
  } else if (k.left_shift) {
    c0 = _mm256_add_epi32(RequantizeAvx2<true>(acc0, k.c0), e.zp);
    c1 = _mm256_add_epi32(RequantizeAvx2<true>(acc1, k.c1), e.zp);
  } else {
    c0 = _mm256_add_epi32(RequantizeAvx2<false>(acc0, k.c0), e.zp);
    c1 = _mm256_add_epi32(RequantizeAvx2<false>(acc1, k.c1), e.zp);
  }
  PackStoreRow<T>(c0, c1, e, out, ncols);
}

}  // namespace tfqat::runtime::optimized

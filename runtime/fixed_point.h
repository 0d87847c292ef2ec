// Integer requantization primitives with TFLite's exact rounding (ARITHMETIC.md,
// "Requantization"). Header-only so that reference and optimized kernels inline them.
#pragma once

#include <cstdint>
#include <limits>

namespace tfqat::runtime {

// (a * b * 2) / 2^32 rounded to nearest (ties away from zero for the positive side as in
// gemmlowp), saturating when a == b == INT32_MIN.
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == std::numeric_limits<int32_t>::min()) return std::numeric_limits<int32_t>::max();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent rounded to nearest, ties away from zero. exponent in [0, 31].
inline int32_t RoundingDivideByPOT(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + ((x < 0) ? 1 : 0);
  return (x >> exponent) + ((remainder > threshold) ? 1 : 0);
}

// TFLite's MultiplyByQuantizedMultiplier (double-rounding form, the default build).
// shift > 0: left shift before the multiply; shift < 0: rounding right shift after it.
inline int32_t MultiplyByQuantizedMultiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  return RoundingDivideByPOT(
      SaturatingRoundingDoublingHighMul(static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift),
                                        multiplier),
      right_shift);
}

// Multiplier < 1 form (shift <= 0), as used by ADD's input scaling.
inline int32_t MultiplyByQuantizedMultiplierSmallerThanOneExp(int32_t x, int32_t multiplier,
                                                              int shift) {
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, multiplier), -shift);
}

// Multiplier > 1 form (left shift >= 0).
inline int32_t MultiplyByQuantizedMultiplierGreaterThanOne(int32_t x, int32_t multiplier,
                                                           int left_shift) {
  return SaturatingRoundingDoublingHighMul(
      static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift), multiplier);
}

// real = multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (or 0 for real == 0).
// TFLite's QuantizeMultiplier (frexp, round, renormalise, flush tiny values to zero).
void QuantizeMultiplier(double real_multiplier, int32_t* multiplier, int* shift);

}  // namespace tfqat::runtime

// The vector requantization of the optimized kernels (runtime/optimized/requantize_avx2.h) against
// the scalar MultiplyByQuantizedMultiplier, lane by lane, on edge and random accumulators,
// multipliers and shifts (including INT32_MIN/MAX accumulators, ties, and left shifts that wrap).
// Compiled with -mavx2; skipped on CPUs without AVX2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "runtime/fixed_point.h"
#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/requantize_avx2.h"

namespace tfqat::runtime::optimized {
namespace {

bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

int32_t Wrap(int64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

TEST(RequantizeAvx2, MatchesScalarMultiplyByQuantizedMultiplier) {
  if (!HasAvx2()) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937 rng(11);
  const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  std::vector<int32_t> edge = {0, 1, -1, 2, -2, lo, hi, lo + 1, hi - 1, 1 << 30, -(1 << 30),
                               (1 << 15) + 1, -(1 << 15) - 1, 12345, -12345};
  std::uniform_int_distribution<int32_t> any(lo, hi), small(-200000, 200000);
  std::uniform_int_distribution<int32_t> mult_d(1 << 30, hi);
  std::uniform_int_distribution<int> shift_d(-31, 4);
  int checked = 0, checked_no_lshift = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<int32_t> bias(8), mult(8), shift(8);
    for (int c = 0; c < 8; ++c) {
      bias[c] = round % 3 == 0 ? 0 : small(rng);
      mult[c] = round % 7 == 0 ? (c % 2 ? hi : (1 << 30)) : mult_d(rng);
      shift[c] = round % 5 == 0 ? -(c * 4) : shift_d(rng);
    }
    const int8_t filter[8] = {};
    PackedGemmWeights w;
    ASSERT_TRUE(PackGemmWeights<int8_t>(filter, 8, 1, 0, bias.data(), mult.data(), shift.data(), 1, &w));
    const ChannelConsts k = LoadChannelConsts(w, 0);
    alignas(32) int32_t x[8], got[8];
    for (int i = 0; i < 8; ++i) {
      x[i] = round < 200 ? edge[(round + i) % edge.size()] : (round % 2 ? any(rng) : small(rng));
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(got),
                       RequantizeAvx2(_mm256_load_si256(reinterpret_cast<const __m256i*>(x)), k));
    // Without left shifts the epilogue may skip the shift (any_left_shift is what selects it).
    alignas(32) int32_t got_no_lshift[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(got_no_lshift),
                       RequantizeAvx2<false>(_mm256_load_si256(reinterpret_cast<const __m256i*>(x)), k));
    bool any_left = false;
    for (int c = 0; c < 8; ++c) any_left = any_left || shift[c] > 0;
    ASSERT_EQ(w.any_left_shift, any_left);
    for (int i = 0; i < 8; ++i) {
      if (!any_left) {
        ASSERT_EQ(got_no_lshift[i], got[i]) << "x=" << x[i] << " shift=" << shift[i];
        ++checked_no_lshift;
      }
      const int32_t want =
          MultiplyByQuantizedMultiplier(Wrap(static_cast<int64_t>(x[i]) + bias[i]), mult[i], shift[i]);
      ASSERT_EQ(got[i], want) << "x=" << x[i] << " bias=" << bias[i] << " mult=" << mult[i]
                              << " shift=" << shift[i];
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3000 * 8);
  EXPECT_GT(checked_no_lshift, 1000);  // rounds with shifts -(c * 4), and random all-negative ones
}

// The one-shift form (PackedGemmWeights::one_shift) + zero point, against the scalar function, on
// the same kinds of accumulators and on constructed ties: x * M landing exactly on, one below and
// one above each of the two rounding points, where a wrong rounding constant would show.
TEST(RequantizeAvx2, OneShiftMatchesScalarIncludingTies) {
  if (!HasAvx2()) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937 rng(23);
  const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  std::uniform_int_distribution<int32_t> any(lo, hi), small(-3000000, 3000000);
  std::uniform_int_distribution<int32_t> mult_d(1 << 30, hi);
  std::uniform_int_distribution<int> shift_d(1, 31), zp_d(-128, 255);
  int checked = 0, ties = 0;
  for (int round = 0; round < 6000; ++round) {
    std::vector<int32_t> bias(8), mult(8), shift(8);
    for (int c = 0; c < 8; ++c) {
      bias[c] = round % 3 == 0 ? 0 : small(rng);
      // Multipliers that are powers of two (or close) make x * M hit the rounding points exactly.
      mult[c] = round % 4 == 0 ? (1 << 30) : round % 4 == 1 ? (1 << 30) + (1 << (c + 10)) : mult_d(rng);
      if (round % 97 == 0 && c == 3) mult[c] = 0;
      shift[c] = -shift_d(rng);
    }
    const int8_t filter[8] = {};
    PackedGemmWeights w;
    ASSERT_TRUE(PackGemmWeights<int8_t>(filter, 8, 1, 0, bias.data(), mult.data(), shift.data(), 1, &w));
    ASSERT_TRUE(w.one_shift);
    const int32_t zp = zp_d(rng);
    const OneShiftConsts k = LoadOneShiftConsts(w, 0, _mm256_set1_epi32(zp));
    alignas(32) int32_t x[8], got[8];
    for (int i = 0; i < 8; ++i) {
      if (round % 4 < 2 && mult[i] != 0) {
        // x + bias = t * 2^(s - 1 + 31 - 30) / (M / 2^30) -> for M = 2^30: x + bias = t * 2^s / 2,
        // i.e. exactly on a half of the final division, plus -1, 0 or +1.
        const int s = -shift[i];
        const int64_t half = int64_t{1} << (s - 1);
        const int64_t t = small(rng) % 2000;
        const int64_t v = (2 * t + 1) * half + (round % 3) - 1 - bias[i];
        x[i] = static_cast<int32_t>(std::max<int64_t>(lo, std::min<int64_t>(hi, v)));
        ++ties;
      } else {
        x[i] = round % 2 ? any(rng) : small(rng);
      }
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(got),
                       RequantizeOneShiftAvx2(_mm256_load_si256(reinterpret_cast<const __m256i*>(x)), k));
    for (int i = 0; i < 8; ++i) {
      const int32_t want =
          MultiplyByQuantizedMultiplier(Wrap(static_cast<int64_t>(x[i]) + bias[i]), mult[i], shift[i]);
      ASSERT_EQ(got[i], Wrap(static_cast<int64_t>(want) + zp))
          << "x=" << x[i] << " bias=" << bias[i] << " mult=" << mult[i] << " shift=" << shift[i]
          << " zp=" << zp;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6000 * 8);
  EXPECT_GT(ties, 10000);
}

// Which weights get the one-shift form: every real channel shifting right by >= 1; a multiplier
// >= 0.5 (shift 0) or > 1 (left shift) keeps the general form.
TEST(RequantizeAvx2, OneShiftOnlyWhenEveryChannelShiftsRight) {
  const int8_t filter[3] = {};
  const int32_t mult[3] = {1 << 30, 1 << 30, 1 << 30};
  PackedGemmWeights w;
  const int32_t right[3] = {-1, -7, -31};
  ASSERT_TRUE(PackGemmWeights<int8_t>(filter, 3, 1, 0, nullptr, mult, right, 1, &w));
  EXPECT_TRUE(w.one_shift);
  const int32_t with_zero[3] = {-1, 0, -31};
  ASSERT_TRUE(PackGemmWeights<int8_t>(filter, 3, 1, 0, nullptr, mult, with_zero, 1, &w));
  EXPECT_FALSE(w.one_shift);
  const int32_t with_left[3] = {-1, 2, -31};
  ASSERT_TRUE(PackGemmWeights<int8_t>(filter, 3, 1, 0, nullptr, mult, with_left, 1, &w));
  EXPECT_FALSE(w.one_shift);
}

// Narrowing + clamp: saturation to the type, then the activation range, on bytes.
TEST(RequantizeAvx2, PackStoreRowSaturatesThenClamps) {
  if (!HasAvx2()) GTEST_SKIP() << "CPU lacks AVX2";
  alignas(32) int32_t v[16] = {-100000, -129, -128, -127, -1, 0, 1, 5,
                               6, 7, 126, 127, 128, 255, 256, 100000};
  const __m256i c0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(v));
  const __m256i c1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(v + 8));
  int8_t s8[16];
  PackStoreRow<int8_t>(c0, c1, MakeEpilogue<int8_t>(0, -1000, 1000), s8, 16);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(s8[i], std::min(127, std::max(-128, v[i]))) << i;
  PackStoreRow<int8_t>(c0, c1, MakeEpilogue<int8_t>(0, -1, 6), s8, 16);  // RELU6-like range
  for (int i = 0; i < 16; ++i) EXPECT_EQ(s8[i], std::min(6, std::max(-1, v[i]))) << i;
  uint8_t u8[16] = {};
  PackStoreRow<uint8_t>(c0, c1, MakeEpilogue<uint8_t>(0, 3, 200), u8, 10);  // 10 columns stored
  for (int i = 0; i < 10; ++i) EXPECT_EQ(u8[i], std::min(200, std::max(3, v[i]))) << i;
  for (int i = 10; i < 16; ++i) EXPECT_EQ(u8[i], 0) << i;
  EXPECT_FALSE(MakeEpilogue<uint8_t>(5, 0, 255).clamp);
  EXPECT_TRUE(MakeEpilogue<uint8_t>(5, 5, 255).clamp);
}

}  // namespace
}  // namespace tfqat::runtime::optimized

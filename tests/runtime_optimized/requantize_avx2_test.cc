// The vector requantization of the optimized kernels (runtime/optimized/requantize_avx2.h) against
// the scalar MultiplyByQuantizedMultiplier, lane by lane, on edge and random accumulators,
// multipliers and shifts (including INT32_MIN/MAX accumulators, ties, and left shifts that wrap).
// Compiled with -mavx2; skipped on CPUs without AVX2.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tfqat::runtime::optimized

// What the exact int8 path cannot go below on the 1x1 benchmark conv (56x56x64 -> 64, batch 1,
// 12.8 M multiply-adds), one thread, in the same program as BM_Conv*_1x1: the micro-kernel alone
// over the conv's 523 x 4 tiles (int16 operands in L1/L2, accumulators discarded), and the
// micro-kernel plus the one-shift requantization and narrowing stores (no int16 widening of the
// input, no thread pool). The gap between these and BM_ConvInt8_1x1/1 is the driver; the first
// is the floor set by vpmaddwd + vpaddd throughput (docs/PERFORMANCE.md). Built with AVX2.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/gemm_tile_avx2.h"

namespace tfqat::runtime::optimized {
namespace {

constexpr int kPixels = 56 * 56, kDepth = 64, kOut = 64;

struct Problem {
  std::vector<int16_t, CacheAlignedAllocator<int16_t>> a;
  PackedGemmWeights w;
  std::vector<int8_t> out;
  Problem() : a(static_cast<size_t>(kPixels) * kDepth), out(static_cast<size_t>(kPixels) * kOut) {
    std::mt19937 rng(5);
    for (auto& v : a) v = static_cast<int16_t>(static_cast<int>(rng() % 256) - 128);
    std::vector<int8_t> filter(static_cast<size_t>(kOut) * kDepth);
    for (auto& v : filter) v = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<int32_t> bias(kOut, 100), mult(kOut, 1759218604), shift(kOut, -11);  // 0.0004
    PackGemmWeights<int8_t>(filter.data(), kOut, kDepth, 0, bias.data(), mult.data(),
                            shift.data(), 1, &w);
  }
};

void BM_ExactFloor1x1_MicroKernelOnly(benchmark::State& state) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2")) return state.SkipWithError("CPU lacks AVX2");
  Problem p;
  alignas(32) int32_t acc[6 * 16];
  const int pairs = kDepth / 2;
  for (auto _ : state) {
    for (int p0 = 0; p0 < kPixels; p0 += kGemmMr) {
      const int mr = std::min(kGemmMr, kPixels - p0);
      for (int panel = 0; panel < p.w.panels; ++panel)
        GemmTileRows<false>(mr, p.a.data() + static_cast<int64_t>(p0) * kDepth, kDepth * 2, 0, 1,
                            pairs, p.w.data.data() + static_cast<int64_t>(panel) * pairs * 32,
                            acc);
      benchmark::DoNotOptimize(acc);
    }
  }
  state.counters["GOPS"] = benchmark::Counter(2.0 * kPixels * kDepth * kOut,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ExactFloor1x1_MicroKernelAndRequantize(benchmark::State& state) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2")) return state.SkipWithError("CPU lacks AVX2");
  Problem p;
  const Epilogue e = MakeEpilogue<int8_t>(0, -128, 127);
  for (auto _ : state) {
    RowsTimesPanels<int8_t, false>(p.a.data(), kDepth * 2, 0, 1, kDepth / 2, kPixels, p.w, 0,
                                   p.w.panels, e, p.out.data());
    benchmark::DoNotOptimize(p.out.data());
  }
  state.counters["GOPS"] = benchmark::Counter(2.0 * kPixels * kDepth * kOut,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_ExactFloor1x1_MicroKernelOnly)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ExactFloor1x1_MicroKernelAndRequantize)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace tfqat::runtime::optimized

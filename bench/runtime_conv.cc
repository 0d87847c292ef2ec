// Optimized int8/uint8 conv kernels (runtime/optimized/) on the benchmark shapes:
// 56x56x64 -> 64, batch 1, 3x3 SAME and 1x1, 1 and 2 threads (int8, uint8, float); depthwise
// 3x3 on 56x56x128.
// Counters: GOPS (2 ops per MAC).
#include <benchmark/benchmark.h>

#include <limits>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "runtime/fixed_point.h"
#include "runtime/kernel_set.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime {
namespace {

// One pool per thread count for the whole process, like a long-lived interpreter (and the peers'
// thread pools): with short repetitions a fresh pool per repetition measured thread start-up.
ThreadPool& PoolFor(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  std::unique_ptr<ThreadPool>& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return *p;
}

template <typename T>
void BM_Conv(benchmark::State& state, int k, KernelChoice choice) {
  const int threads = static_cast<int>(state.range(0));
  const int h = 56, w = 56, c = 64, oc = 64;
  std::mt19937 rng(7);
  ConvParams p;
  p.pad_height = p.pad_width = k / 2;
  p.padding = PaddingKind::kSame;
  const bool s8 = std::is_same<T, int8_t>::value;
  p.input_offset = s8 ? 0 : -128;
  p.output_offset = s8 ? 0 : 128;
  p.act.act_min = s8 ? -128 : 0;
  p.act.act_max = s8 ? 127 : 255;
  std::vector<int32_t> mult(oc), shift(oc);
  for (int i = 0; i < oc; ++i) {
    int sh;
    QuantizeMultiplier(0.0004, &mult[i], &sh);
    shift[i] = sh;
  }
  p.output_multiplier = mult.data();
  p.output_shift = shift.data();
  Shape is{4, {1, h, w, c}}, fs{4, {oc, k, k, c}}, os{4, {1, h, w, oc}}, bs{1, {oc}};
  std::vector<T> in(is.FlatSize()), f(fs.FlatSize()), out(os.FlatSize());
  for (auto& x : in) x = static_cast<T>(rng());
  for (auto& x : f) x = static_cast<T>(s8 ? static_cast<int>(rng() % 255) - 127 : rng() % 256);
  std::vector<int32_t> bias(oc, 100);
  const KernelSet& set = SelectKernelSet(choice);
  KernelPrepareArgs a;
  a.op = KernelOp::kConv;
  a.type = s8 ? KernelType::kInt8 : KernelType::kUint8;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = f.data();
  a.bias_data = bias.data();
  a.num_threads = threads;
  KernelPrepareResult prep = set.prepare ? set.prepare(a) : KernelPrepareResult{};
  std::vector<uint8_t> scratch(prep.scratch_bytes + 64);
  ThreadPool& pool = PoolFor(threads);
  KernelContext ctx;
  ctx.pool = &pool;
  ctx.num_threads = threads;
  // 64-byte aligned like the interpreter's scratch (aligned_alloc).
  ctx.scratch = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  ctx.scratch_bytes = prep.scratch_bytes;
  ctx.prepared = prep.state.get();
  auto fn = s8 ? reinterpret_cast<ConvFn<T, int32_t>>(set.int8.conv)
               : reinterpret_cast<ConvFn<T, int32_t>>(set.uint8.conv);
  // One untimed call: page faults on fresh scratch/outputs and pool start-up stay out of the
  // timing, like the peers' warm-up runs.
  fn(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
  for (auto _ : state) {
    fn(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
    benchmark::DoNotOptimize(out.data());
  }
  const double ops = 2.0 * h * w * oc * k * k * c;
  state.counters["GOPS"] = benchmark::Counter(ops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

// Float conv on the same shapes (bit-exact with the reference ConvFloat), no activation.
void BM_ConvFloat(benchmark::State& state, int k, KernelChoice choice) {
  const int threads = static_cast<int>(state.range(0));
  const int h = 56, w = 56, c = 64, oc = 64;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.f, 1.f);
  ConvParams p;
  p.pad_height = p.pad_width = k / 2;
  p.padding = PaddingKind::kSame;
  p.act.float_act_min = -std::numeric_limits<float>::infinity();
  p.act.float_act_max = std::numeric_limits<float>::infinity();
  Shape is{4, {1, h, w, c}}, fs{4, {oc, k, k, c}}, os{4, {1, h, w, oc}}, bs{1, {oc}};
  std::vector<float> in(is.FlatSize()), f(fs.FlatSize()), out(os.FlatSize()), bias(oc);
  for (auto& x : in) x = nd(rng);
  for (auto& x : f) x = nd(rng) * 0.1f;
  for (auto& x : bias) x = nd(rng);
  const KernelSet& set = SelectKernelSet(choice);
  KernelPrepareArgs a;
  a.op = KernelOp::kConv;
  a.type = KernelType::kFloat32;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = f.data();
  a.bias_data = bias.data();
  a.num_threads = threads;
  KernelPrepareResult prep = set.prepare ? set.prepare(a) : KernelPrepareResult{};
  std::vector<uint8_t> scratch(prep.scratch_bytes + 64);
  ThreadPool& pool = PoolFor(threads);
  KernelContext ctx;
  ctx.pool = &pool;
  ctx.num_threads = threads;
  ctx.scratch = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  ctx.scratch_bytes = prep.scratch_bytes;
  ctx.prepared = prep.state.get();
  // One untimed call: page faults on fresh scratch/outputs and pool start-up stay out of the
  // timing, like the peers' warm-up runs.
  set.float32.conv(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
  for (auto _ : state) {
    set.float32.conv(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
    benchmark::DoNotOptimize(out.data());
  }
  const double flops = 2.0 * h * w * oc * k * k * c;
  state.counters["GFLOPS"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
void BM_ConvFloat_3x3(benchmark::State& s) { BM_ConvFloat(s, 3, KernelChoice::kOptimized); }
void BM_ConvFloat_1x1(benchmark::State& s) { BM_ConvFloat(s, 1, KernelChoice::kOptimized); }
BENCHMARK(BM_ConvFloat_3x3)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvFloat_1x1)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Depthwise 3x3 SAME, 56x56x128, batch 1 (a MobileNet-sized layer), depth multiplier 1.
template <typename T>
void BM_Depthwise(benchmark::State& state, KernelChoice choice) {
  const int threads = static_cast<int>(state.range(0));
  const int h = 56, w = 56, c = 128, k = 3;
  std::mt19937 rng(9);
  ConvParams p;
  p.pad_height = p.pad_width = 1;
  p.padding = PaddingKind::kSame;
  p.depth_multiplier = 1;
  const bool s8 = std::is_same<T, int8_t>::value;
  p.input_offset = s8 ? 0 : -128;
  p.weights_offset = s8 ? 0 : -128;
  p.output_offset = s8 ? 0 : 128;
  p.act.act_min = s8 ? -128 : 0;
  p.act.act_max = s8 ? 127 : 255;
  std::vector<int32_t> mult(c), shift(c);
  for (int i = 0; i < c; ++i) {
    int sh;
    QuantizeMultiplier(0.003, &mult[i], &sh);
    shift[i] = sh;
  }
  p.output_multiplier = mult.data();
  p.output_shift = shift.data();
  Shape is{4, {1, h, w, c}}, fs{4, {1, k, k, c}}, os{4, {1, h, w, c}}, bs{1, {c}};
  std::vector<T> in(is.FlatSize()), f(fs.FlatSize()), out(os.FlatSize());
  for (auto& x : in) x = static_cast<T>(rng());
  for (auto& x : f) x = static_cast<T>(rng());
  std::vector<int32_t> bias(c, 50);
  const KernelSet& set = SelectKernelSet(choice);
  KernelPrepareArgs a;
  a.op = KernelOp::kDepthwiseConv;
  a.type = s8 ? KernelType::kInt8 : KernelType::kUint8;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = f.data();
  a.bias_data = bias.data();
  a.num_threads = threads;
  KernelPrepareResult prep = set.prepare ? set.prepare(a) : KernelPrepareResult{};
  std::vector<uint8_t> scratch(prep.scratch_bytes + 64);
  ThreadPool& pool = PoolFor(threads);
  KernelContext ctx;
  ctx.pool = &pool;
  ctx.num_threads = threads;
  ctx.scratch = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  ctx.scratch_bytes = prep.scratch_bytes;
  ctx.prepared = prep.state.get();
  auto fn = s8 ? reinterpret_cast<ConvFn<T, int32_t>>(set.int8.depthwise_conv)
               : reinterpret_cast<ConvFn<T, int32_t>>(set.uint8.depthwise_conv);
  // One untimed call: page faults on fresh scratch/outputs and pool start-up stay out of the
  // timing, like the peers' warm-up runs.
  fn(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
  for (auto _ : state) {
    fn(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
    benchmark::DoNotOptimize(out.data());
  }
  const double ops = 2.0 * h * w * c * k * k;
  state.counters["GOPS"] = benchmark::Counter(ops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
void BM_DepthwiseInt8_3x3(benchmark::State& s) { BM_Depthwise<int8_t>(s, KernelChoice::kOptimized); }
void BM_DepthwiseUint8_3x3(benchmark::State& s) { BM_Depthwise<uint8_t>(s, KernelChoice::kOptimized); }
void BM_DepthwiseInt8_3x3_Reference(benchmark::State& s) { BM_Depthwise<int8_t>(s, KernelChoice::kReference); }
BENCHMARK(BM_DepthwiseInt8_3x3)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DepthwiseUint8_3x3)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DepthwiseInt8_3x3_Reference)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ConvInt8_3x3(benchmark::State& s) { BM_Conv<int8_t>(s, 3, KernelChoice::kOptimized); }
void BM_ConvUint8_3x3(benchmark::State& s) { BM_Conv<uint8_t>(s, 3, KernelChoice::kOptimized); }
void BM_ConvInt8_1x1(benchmark::State& s) { BM_Conv<int8_t>(s, 1, KernelChoice::kOptimized); }
void BM_ConvUint8_1x1(benchmark::State& s) { BM_Conv<uint8_t>(s, 1, KernelChoice::kOptimized); }
void BM_ConvInt8_3x3_Reference(benchmark::State& s) { BM_Conv<int8_t>(s, 3, KernelChoice::kReference); }
BENCHMARK(BM_ConvInt8_3x3)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvUint8_3x3)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvInt8_1x1)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvUint8_1x1)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ConvInt8_3x3_Reference)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace tfqat::runtime

BENCHMARK_MAIN();

// Every optimized kernel against the reference kernel on the same inputs: raw integers must be
// identical. Parameterised over shape classes (1x1, 3x3, 5x5, strides, dilations, SAME/VALID
// padding, odd channel counts), extreme zero points and weights, and 1..4 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/fixed_point.h"
#include "runtime/kernel_set.h"
#include "runtime/optimized/gemm_packed.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime {
const KernelSet* GetOptimizedKernelSet();
namespace {

Shape S4(int a, int b, int c, int d) {
  Shape s;
  s.rank = 4;
  s.dims[0] = a, s.dims[1] = b, s.dims[2] = c, s.dims[3] = d;
  return s;
}
Shape S2(int a, int b) {
  Shape s;
  s.rank = 2;
  s.dims[0] = a, s.dims[1] = b;
  return s;
}

enum class Extreme { kRandom, kMaxMagnitude };

struct ConvCase {
  int batches, h, w, in_d, out_d, fh, fw, stride, dil;
  bool same;
  int threads;
  Extreme extreme;
  // One channel's multiplier > 1 (a left shift); false: every multiplier < 1, so the epilogue
  // skips the left shift (PackedGemmWeights::any_left_shift).
  bool left_shift = true;
  std::string Name() const {
    return "b" + std::to_string(batches) + "_" + std::to_string(h) + "x" + std::to_string(w) + "x" +
           std::to_string(in_d) + "to" + std::to_string(out_d) + "_k" + std::to_string(fh) + "x" +
           std::to_string(fw) + "_s" + std::to_string(stride) + "_d" + std::to_string(dil) +
           (same ? "_same" : "_valid") + "_t" + std::to_string(threads) +
           (extreme == Extreme::kMaxMagnitude ? "_extreme" : "") + (left_shift ? "" : "_nolshift");
  }
};

// Fills multipliers/shifts as the planner would (QuantizeMultiplier of a real scale).
// Scales keep the outputs spread over the type's range for a reduction of length k; the last of
// several channels gets a multiplier > 1 (left shift path).
void Multipliers(std::mt19937& rng, int n, int k, std::vector<int32_t>* mult,
                 std::vector<int32_t>* shift, bool left_shift = true) {
  std::uniform_real_distribution<double> scale(0.3 * 30 / (std::sqrt(k) * 16384.0),
                                               3.0 * 30 / (std::sqrt(k) * 16384.0));
  mult->resize(n);
  shift->resize(n);
  for (int c = 0; c < n; ++c) {
    int sh = 0;
    QuantizeMultiplier(left_shift && n > 1 && c == n - 1 ? 1.5 : scale(rng), &(*mult)[c], &sh);
    (*shift)[c] = sh;
  }
}

struct Runner {
  explicit Runner(int threads) : pool(threads), threads(threads) {}
  // Runs prepare and returns a context with the prepared state and enough scratch.
  KernelContext Context(const KernelSet& set, const KernelPrepareArgs& a) {
    prepared = set.prepare ? set.prepare(a) : KernelPrepareResult{};
    scratch.assign(prepared.scratch_bytes + 64, 0);
    KernelContext ctx;
    ctx.pool = &pool;
    ctx.num_threads = threads;
    ctx.scratch = scratch.data();
    ctx.scratch_bytes = prepared.scratch_bytes;
    ctx.prepared = prepared.state.get();
    return ctx;
  }
  ThreadPool pool;
  int threads;
  KernelPrepareResult prepared;
  std::vector<uint8_t> scratch;
};

template <typename T>
void FillActivations(std::mt19937& rng, Extreme e, std::vector<T>* v) {
  std::uniform_int_distribution<int> d(std::numeric_limits<T>::lowest(), std::numeric_limits<T>::max());
  for (auto& x : *v) {
    x = static_cast<T>(d(rng));
    if (e == Extreme::kMaxMagnitude) x = (d(rng) & 1) ? std::numeric_limits<T>::max() : std::numeric_limits<T>::lowest();
  }
}

template <typename T>
void RunConv(const ConvCase& c) {
  const KernelSet* opt = GetOptimizedKernelSet();
  if (opt == nullptr) GTEST_SKIP() << "CPU lacks AVX2: optimized set unavailable";
  const bool is_int8 = std::is_same<T, int8_t>::value;
  std::mt19937 rng(1234 + c.h * 7 + c.in_d * 13 + c.out_d + c.threads);
  ConvParams p;
  p.stride_height = p.stride_width = c.stride;
  p.dilation_height = p.dilation_width = c.dil;
  const int eff_h = (c.fh - 1) * c.dil + 1, eff_w = (c.fw - 1) * c.dil + 1;
  int out_h, out_w;
  if (c.same) {
    out_h = (c.h + c.stride - 1) / c.stride;
    out_w = (c.w + c.stride - 1) / c.stride;
    p.padding = PaddingKind::kSame;
    p.pad_height = std::max(0, ((out_h - 1) * c.stride + eff_h - c.h) / 2);
    p.pad_width = std::max(0, ((out_w - 1) * c.stride + eff_w - c.w) / 2);
  } else {
    out_h = (c.h - eff_h) / c.stride + 1;
    out_w = (c.w - eff_w) / c.stride + 1;
  }
  ASSERT_GT(out_h, 0);
  ASSERT_GT(out_w, 0);
  const bool extreme = c.extreme == Extreme::kMaxMagnitude;
  if (is_int8) {
    p.input_offset = extreme ? 128 : -static_cast<int>(rng() % 256 - 128);
    p.weights_offset = 0;
    p.output_offset = extreme ? -128 : static_cast<int>(rng() % 256) - 128;
  } else {
    p.input_offset = extreme ? -255 : -static_cast<int>(118 + rng() % 21);
    p.weights_offset = extreme ? 0 : -static_cast<int>(118 + rng() % 21);
    p.output_offset = static_cast<int>(rng() % 256);
  }
  p.act.act_min = std::numeric_limits<T>::lowest();
  p.act.act_max = std::numeric_limits<T>::max();
  if (c.threads == 2) p.act.act_min = p.output_offset;  // a fused ReLU
  std::vector<int32_t> mult, shift;
  Multipliers(rng, c.out_d, c.fh * c.fw * c.in_d, &mult, &shift, c.left_shift);
  p.output_multiplier = mult.data();
  p.output_shift = shift.data();

  const Shape is = S4(c.batches, c.h, c.w, c.in_d), fs = S4(c.out_d, c.fh, c.fw, c.in_d),
              os = S4(c.batches, out_h, out_w, c.out_d), bs = S2(1, c.out_d);
  std::vector<T> input(is.FlatSize()), filter(fs.FlatSize());
  FillActivations(rng, c.extreme, &input);
  std::uniform_int_distribution<int> wd(is_int8 ? -127 : 0, is_int8 ? 127 : 255);
  for (auto& x : filter) x = static_cast<T>(extreme ? ((rng() & 1) ? (is_int8 ? -127 : 0) : (is_int8 ? 127 : 255)) : wd(rng));
  if (is_int8 && !extreme) filter[0] = -128;  // outside the narrow range: still exact
  std::vector<int32_t> bias(c.out_d);
  const int32_t brange = static_cast<int32_t>(3000 * std::sqrt(c.fh * c.fw * c.in_d));
  std::uniform_int_distribution<int32_t> bd(-brange, brange);
  for (auto& b : bias) b = bd(rng);

  KernelPrepareArgs a;
  a.op = KernelOp::kConv;
  a.type = is_int8 ? KernelType::kInt8 : KernelType::kUint8;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = filter.data();
  a.bias_data = bias.data();
  a.num_threads = c.threads;
  Runner run(c.threads);
  const KernelSet& merged = SelectKernelSet(KernelChoice::kOptimized);
  KernelContext ctx = run.Context(merged, a);
  ASSERT_NE(ctx.prepared, nullptr) << "prepare did not pack the weights";
  // The driver chosen at plan time: implicit conv for dilation 1 unless forced off.
  const bool want_implicit = c.dil == 1 && std::getenv("TFQAT_CONV_IM2COL") == nullptr;
  EXPECT_EQ(static_cast<const optimized::PackedGemmWeights*>(ctx.prepared)->implicit_conv, want_implicit);
  // 3x3 stride 1 with 16..900 input and >= 16 output channels: exact Winograd F(2x2, 3x3).
  const bool want_winograd = want_implicit && c.fh == 3 && c.fw == 3 && c.stride == 1 &&
                             c.in_d >= 16 && c.in_d <= 900 && c.out_d >= 16 &&
                             std::getenv("TFQAT_CONV_NO_WINOGRAD") == nullptr;
  EXPECT_EQ(static_cast<const optimized::PackedGemmWeights*>(ctx.prepared)->winograd, want_winograd);
  EXPECT_EQ(static_cast<const optimized::PackedGemmWeights*>(ctx.prepared)->any_left_shift,
            c.left_shift && c.out_d > 1);
  std::vector<T> want(os.FlatSize()), got(os.FlatSize(), 0x5A);
  const auto& ref = is_int8 ? nullptr : nullptr;
  (void)ref;
  KernelContext ref_ctx;
  if constexpr (std::is_same<T, int8_t>::value) {
    ReferenceKernelSet().int8.conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, want.data(), ref_ctx);
    merged.int8.conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, got.data(), ctx);
  } else {
    ReferenceKernelSet().uint8.conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, want.data(), ref_ctx);
    merged.uint8.conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, got.data(), ctx);
  }
  int mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] != got[i] && ++mismatches < 5)
      ADD_FAILURE() << "output " << i << ": reference " << int(want[i]) << ", optimized " << int(got[i]);
  EXPECT_EQ(mismatches, 0);
  // The outputs must not be trivially saturated (the test would then prove little).
  int distinct = 0;
  std::vector<bool> seen(256);
  for (T v : want) if (!seen[static_cast<uint8_t>(v)]) seen[static_cast<uint8_t>(v)] = true, ++distinct;
  if (!extreme) EXPECT_GT(distinct, 2);
}

class ConvTest : public ::testing::TestWithParam<ConvCase> {};
TEST_P(ConvTest, Int8MatchesReference) { RunConv<int8_t>(GetParam()); }
TEST_P(ConvTest, Uint8MatchesReference) { RunConv<uint8_t>(GetParam()); }
// The same cases through the plain-AVX2 micro-kernel when the CPU would pick AVX-VNNI.
TEST_P(ConvTest, Int8MatchesReferenceWithoutAvxVnni) {
  setenv("TFQAT_DISABLE_AVXVNNI", "1", 1);
  RunConv<int8_t>(GetParam());
  unsetenv("TFQAT_DISABLE_AVXVNNI");
}
TEST_P(ConvTest, Uint8MatchesReferenceWithoutAvxVnni) {
  setenv("TFQAT_DISABLE_AVXVNNI", "1", 1);
  RunConv<uint8_t>(GetParam());
  unsetenv("TFQAT_DISABLE_AVXVNNI");
}
// Dilation-1 convs run the implicit convolution by default; the same cases through the
// im2col gather (TFQAT_CONV_IM2COL, read at plan time) so both conv drivers stay exact.
TEST_P(ConvTest, Int8MatchesReferenceThroughIm2col) {
  setenv("TFQAT_CONV_IM2COL", "1", 1);
  RunConv<int8_t>(GetParam());
  unsetenv("TFQAT_CONV_IM2COL");
}
TEST_P(ConvTest, Uint8MatchesReferenceThroughIm2col) {
  setenv("TFQAT_CONV_IM2COL", "1", 1);
  RunConv<uint8_t>(GetParam());
  unsetenv("TFQAT_CONV_IM2COL");
}

// 3x3 stride-1 convs run the Winograd driver by default; the same cases through the implicit
// conv (TFQAT_CONV_NO_WINOGRAD, read at plan time).
TEST_P(ConvTest, Int8MatchesReferenceWithoutWinograd) {
  setenv("TFQAT_CONV_NO_WINOGRAD", "1", 1);
  RunConv<int8_t>(GetParam());
  unsetenv("TFQAT_CONV_NO_WINOGRAD");
}
TEST_P(ConvTest, Uint8MatchesReferenceWithoutWinograd) {
  setenv("TFQAT_CONV_NO_WINOGRAD", "1", 1);
  RunConv<uint8_t>(GetParam());
  unsetenv("TFQAT_CONV_NO_WINOGRAD");
}

std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> v;
  for (int t = 1; t <= 4; ++t) {
    v.push_back({1, 9, 7, 64, 64, 3, 3, 1, 1, true, t, Extreme::kRandom});     // the bench shape, small
    v.push_back({1, 8, 8, 64, 64, 1, 1, 1, 1, false, t, Extreme::kRandom});    // 1x1 = pure GEMM
    v.push_back({2, 11, 13, 3, 17, 5, 5, 1, 1, false, t, Extreme::kRandom});   // LeNet-like, odd C
    v.push_back({1, 12, 10, 7, 33, 3, 3, 2, 1, true, t, Extreme::kRandom});    // stride 2, SAME
    v.push_back({1, 13, 13, 5, 9, 3, 3, 1, 2, true, t, Extreme::kRandom});     // dilation 2
    v.push_back({1, 6, 6, 31, 20, 3, 3, 1, 1, true, t, Extreme::kMaxMagnitude});
    v.push_back({3, 5, 4, 1, 1, 2, 3, 1, 1, false, t, Extreme::kRandom});      // 1 channel
    // Implicit-conv shape classes (even depth, dilation 1): stride 2 with 2 batches and a partial
    // panel; 5x3 filter (asymmetric padding); 1x1 stride 2; flat 1x1 over 3 batches (105 pixels,
    // not a multiple of the 6-row tile); an odd number of k pairs per filter row (3x3x2); a wide
    // row (23 pixels: 3 full tiles + 5); dilation 2 with even depth (im2col path).
    v.push_back({2, 9, 15, 8, 20, 3, 3, 2, 1, true, t, Extreme::kRandom});
    v.push_back({1, 10, 17, 16, 33, 5, 3, 1, 1, true, t, Extreme::kRandom});
    v.push_back({1, 9, 9, 32, 16, 1, 1, 2, 1, false, t, Extreme::kRandom});
    v.push_back({3, 5, 7, 6, 17, 1, 1, 1, 1, false, t, Extreme::kRandom});
    v.push_back({1, 7, 8, 2, 16, 3, 3, 1, 1, true, t, Extreme::kRandom});
    v.push_back({1, 4, 23, 4, 48, 3, 3, 1, 1, false, t, Extreme::kMaxMagnitude});
    v.push_back({1, 13, 13, 6, 9, 3, 3, 1, 2, true, t, Extreme::kRandom});
    v.push_back({2, 12, 12, 1, 16, 5, 5, 1, 1, true, t, Extreme::kRandom});    // LeNet conv1, SAME
    // Winograd shape classes: odd output height and width (VALID, partial 2x2 tiles), 3 batches
    // with blocks spanning images, odd depth 17 (scalar tail + padded k), a partial output
    // panel (40), more tiles than one block (20x22 SAME: 110 tiles), depth 48 (no tail),
    // the largest exact depth (900) at maximum magnitude, and just past it (901: implicit conv).
    v.push_back({1, 10, 9, 64, 40, 3, 3, 1, 1, false, t, Extreme::kRandom});
    v.push_back({3, 5, 7, 17, 16, 3, 3, 1, 1, true, t, Extreme::kRandom});
    v.push_back({1, 20, 22, 48, 32, 3, 3, 1, 1, true, t, Extreme::kRandom});
    v.push_back({2, 7, 6, 16, 17, 3, 3, 1, 1, true, t, Extreme::kMaxMagnitude});
    v.push_back({1, 4, 3, 900, 16, 3, 3, 1, 1, true, t, Extreme::kMaxMagnitude});
    v.push_back({1, 3, 4, 901, 16, 3, 3, 1, 1, true, t, Extreme::kMaxMagnitude});
    // Multipliers all < 1 (no left shift): Winograd, flat 1x1, strided implicit conv.
    v.push_back({1, 9, 7, 64, 64, 3, 3, 1, 1, true, t, Extreme::kRandom, false});
    v.push_back({1, 8, 8, 64, 48, 1, 1, 1, 1, false, t, Extreme::kRandom, false});
    v.push_back({1, 12, 10, 16, 33, 3, 3, 2, 1, true, t, Extreme::kRandom, false});
  }
  return v;
}
INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest, ::testing::ValuesIn(ConvCases()),
                         [](const auto& info) { return info.param.Name(); });

struct FcCase {
  int batch, in, out, threads;
};
template <typename T>
void RunFc(const FcCase& c) {
  const KernelSet* opt = GetOptimizedKernelSet();
  if (opt == nullptr) GTEST_SKIP() << "CPU lacks AVX2: optimized set unavailable";
  const bool is_int8 = std::is_same<T, int8_t>::value;
  std::mt19937 rng(99 + c.batch * 31 + c.in + c.out * 3 + c.threads);
  FullyConnectedParams p;
  p.input_offset = is_int8 ? -static_cast<int>(rng() % 256 - 128) : -static_cast<int>(118 + rng() % 21);
  p.weights_offset = is_int8 ? 0 : -static_cast<int>(118 + rng() % 21);
  p.output_offset = is_int8 ? static_cast<int>(rng() % 256) - 128 : static_cast<int>(rng() % 256);
  p.act.act_min = std::numeric_limits<T>::lowest();
  p.act.act_max = std::numeric_limits<T>::max();
  std::vector<int32_t> mult, shift;
  Multipliers(rng, 1, c.in, &mult, &shift);
  mult.assign(c.out, mult[0]);
  shift.assign(c.out, shift[0]);
  p.output_multiplier = mult.data();
  p.output_shift = shift.data();
  const Shape is = S2(c.batch, c.in), fs = S2(c.out, c.in), os = S2(c.batch, c.out), bs = S2(1, c.out);
  std::vector<T> input(is.FlatSize()), filter(fs.FlatSize());
  FillActivations(rng, Extreme::kRandom, &input);
  FillActivations(rng, Extreme::kRandom, &filter);
  std::vector<int32_t> bias(c.out);
  for (auto& b : bias) b = static_cast<int32_t>(rng() % 20001) - 10000;
  KernelPrepareArgs a;
  a.op = KernelOp::kFullyConnected;
  a.type = is_int8 ? KernelType::kInt8 : KernelType::kUint8;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = filter.data();
  a.bias_data = bias.data();
  a.num_threads = c.threads;
  Runner run(c.threads);
  const KernelSet& merged = SelectKernelSet(KernelChoice::kOptimized);
  KernelContext ctx = run.Context(merged, a);
  ASSERT_NE(ctx.prepared, nullptr);
  std::vector<T> want(os.FlatSize()), got(os.FlatSize());
  KernelContext ref_ctx;
  if constexpr (std::is_same<T, int8_t>::value) {
    ReferenceKernelSet().int8.fully_connected(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, want.data(), ref_ctx);
    merged.int8.fully_connected(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, got.data(), ctx);
  } else {
    ReferenceKernelSet().uint8.fully_connected(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, want.data(), ref_ctx);
    merged.uint8.fully_connected(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, got.data(), ctx);
  }
  EXPECT_EQ(want, got);
}
class FcTest : public ::testing::TestWithParam<FcCase> {};
TEST_P(FcTest, Int8MatchesReference) { RunFc<int8_t>(GetParam()); }
TEST_P(FcTest, Uint8MatchesReference) { RunFc<uint8_t>(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Shapes, FcTest,
                         ::testing::Values(FcCase{1, 400, 120, 1}, FcCase{1, 400, 120, 2},
                                           FcCase{256, 84, 10, 2}, FcCase{7, 33, 17, 3},
                                           FcCase{5, 1, 1, 4}, FcCase{64, 1000, 50, 4}));

// Without prepared weights the optimized entries fall back to the reference (still exact).
TEST(OptimizedFallback, ConvWithoutPreparedStateUsesReference) {
  if (GetOptimizedKernelSet() == nullptr) GTEST_SKIP() << "CPU lacks AVX2";
  ConvParams p;
  std::vector<int32_t> mult(2, 1 << 30), shift(2, 0);
  p.output_multiplier = mult.data();
  p.output_shift = shift.data();
  p.act.act_min = -128;
  p.act.act_max = 127;
  const Shape is = S4(1, 2, 2, 1), fs = S4(2, 1, 1, 1), os = S4(1, 2, 2, 2), bs = S2(1, 2);
  std::vector<int8_t> in = {1, 2, 3, 4}, f = {2, -3}, out(8);
  std::vector<int32_t> bias = {0, 0};
  KernelContext ctx;
  SelectKernelSet(KernelChoice::kOptimized).int8.conv(p, is, in.data(), fs, f.data(), bs, bias.data(), os, out.data(), ctx);
  // acc = x * w, multiplier 0.5 through SaturatingRoundingDoublingHighMul: ties round up
  // (-1.5 -> -1, -4.5 -> -4), as in gemmlowp.
  EXPECT_EQ(out, (std::vector<int8_t>{1, -1, 2, -3, 3, -4, 4, -6}));
}

// Float CONV_2D: the optimized kernel must give the reference's floats bit for bit (same
// summation order, separate multiply and add, same clamp); cases with and without bias, with
// RELU6 / no activation, padding, strides, odd depths, and special input values.
void RunConvFloat(const ConvCase& c, bool with_bias, bool relu6, bool special_values) {
  if (GetOptimizedKernelSet() == nullptr) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937 rng(4321 + c.h * 5 + c.in_d * 11 + c.out_d + c.threads);
  ConvParams p;
  p.stride_height = p.stride_width = c.stride;
  p.dilation_height = p.dilation_width = c.dil;
  int out_h, out_w;
  if (c.same) {
    out_h = (c.h + c.stride - 1) / c.stride;
    out_w = (c.w + c.stride - 1) / c.stride;
    p.padding = PaddingKind::kSame;
    p.pad_height = std::max(0, ((out_h - 1) * c.stride + c.fh - c.h) / 2);
    p.pad_width = std::max(0, ((out_w - 1) * c.stride + c.fw - c.w) / 2);
  } else {
    out_h = (c.h - c.fh) / c.stride + 1;
    out_w = (c.w - c.fw) / c.stride + 1;
  }
  p.act.float_act_min = relu6 ? 0.f : -std::numeric_limits<float>::infinity();
  p.act.float_act_max = relu6 ? 6.f : std::numeric_limits<float>::infinity();
  const Shape is = S4(c.batches, c.h, c.w, c.in_d), fs = S4(c.out_d, c.fh, c.fw, c.in_d),
              os = S4(c.batches, out_h, out_w, c.out_d), bs = S2(1, c.out_d);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> input(is.FlatSize()), filter(fs.FlatSize()), bias(c.out_d);
  for (auto& x : input) x = nd(rng);
  for (auto& x : filter) x = nd(rng) * 0.1f;
  for (auto& x : bias) x = nd(rng);
  if (special_values) {
    input[0] = -0.f;
    input[1] = std::numeric_limits<float>::infinity();
    input[input.size() / 2] = std::numeric_limits<float>::quiet_NaN();
    input[input.size() - 1] = 1e-40f;  // denormal
  }
  KernelPrepareArgs a;
  a.op = KernelOp::kConv;
  a.type = KernelType::kFloat32;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = filter.data();
  a.bias_data = with_bias ? bias.data() : nullptr;
  a.num_threads = c.threads;
  Runner run(c.threads);
  const KernelSet& merged = SelectKernelSet(KernelChoice::kOptimized);
  KernelContext ctx = run.Context(merged, a);
  ASSERT_NE(ctx.prepared, nullptr) << "prepare did not pack the float weights";
  std::vector<float> want(os.FlatSize()), got(os.FlatSize(), 123.f);
  const float* b = with_bias ? bias.data() : nullptr;
  ReferenceKernelSet().float32.conv(p, is, input.data(), fs, filter.data(), bs, b, os, want.data(), KernelContext{});
  merged.float32.conv(p, is, input.data(), fs, filter.data(), bs, b, os, got.data(), ctx);
  int mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&want[i], &got[i], sizeof(float)) != 0 && ++mismatches < 5)
      ADD_FAILURE() << "output " << i << ": reference " << want[i] << ", optimized " << got[i];
  EXPECT_EQ(mismatches, 0);
}

class ConvFloatTest : public ::testing::TestWithParam<ConvCase> {};
TEST_P(ConvFloatTest, BitExactWithBias) { RunConvFloat(GetParam(), true, false, false); }
TEST_P(ConvFloatTest, BitExactWithoutBiasRelu6) { RunConvFloat(GetParam(), false, true, false); }
TEST_P(ConvFloatTest, BitExactSpecialValues) { RunConvFloat(GetParam(), true, false, true); }
INSTANTIATE_TEST_SUITE_P(Shapes, ConvFloatTest,
                         ::testing::Values(ConvCase{1, 9, 7, 64, 64, 3, 3, 1, 1, true, 1, Extreme::kRandom},
                                           ConvCase{1, 8, 8, 64, 64, 1, 1, 1, 1, false, 2, Extreme::kRandom},
                                           ConvCase{2, 11, 13, 3, 17, 5, 5, 1, 1, false, 3, Extreme::kRandom},
                                           ConvCase{1, 12, 10, 7, 33, 3, 3, 2, 1, true, 2, Extreme::kRandom},
                                           ConvCase{2, 12, 12, 1, 16, 5, 5, 1, 1, true, 1, Extreme::kRandom},
                                           ConvCase{1, 4, 23, 4, 48, 3, 3, 1, 1, false, 4, Extreme::kRandom},
                                           // Row widths 14 (6 + 4 + 4) and 13 (6 + 4 + 3: row
                                           // remainders of 2 and 1 are split), 2-3 batches and
                                           // threads building the padded rows on demand.
                                           ConvCase{2, 6, 14, 16, 24, 3, 3, 1, 1, true, 2, Extreme::kRandom},
                                           ConvCase{3, 5, 13, 8, 16, 3, 3, 1, 1, true, 3, Extreme::kRandom},
                                           ConvCase{2, 9, 16, 5, 16, 3, 3, 2, 1, true, 4, Extreme::kRandom}),
                         [](const auto& info) { return info.param.Name(); });

// DEPTHWISE_CONV_2D (depth multiplier 1): padded int16 image + paired taps, vs the reference.
struct DwCase {
  int batches, h, w, c, fh, fw, stride, dil;
  bool same;
  int threads;
  bool left_shift = true;  // as in ConvCase
  std::string Name() const {
    return "b" + std::to_string(batches) + "_" + std::to_string(h) + "x" + std::to_string(w) + "x" +
           std::to_string(c) + "_k" + std::to_string(fh) + "x" + std::to_string(fw) + "_s" +
           std::to_string(stride) + "_d" + std::to_string(dil) + (same ? "_same" : "_valid") + "_t" +
           std::to_string(threads) + (left_shift ? "" : "_nolshift");
  }
};

template <typename T>
void RunDepthwise(const DwCase& c) {
  if (GetOptimizedKernelSet() == nullptr) GTEST_SKIP() << "CPU lacks AVX2";
  const bool is_int8 = std::is_same<T, int8_t>::value;
  std::mt19937 rng(77 + c.c * 3 + c.h + c.threads);
  ConvParams p;
  p.stride_height = p.stride_width = c.stride;
  p.dilation_height = p.dilation_width = c.dil;
  p.depth_multiplier = 1;
  const int eff_h = (c.fh - 1) * c.dil + 1, eff_w = (c.fw - 1) * c.dil + 1;
  int out_h, out_w;
  if (c.same) {
    out_h = (c.h + c.stride - 1) / c.stride;
    out_w = (c.w + c.stride - 1) / c.stride;
    p.padding = PaddingKind::kSame;
    p.pad_height = std::max(0, ((out_h - 1) * c.stride + eff_h - c.h) / 2);
    p.pad_width = std::max(0, ((out_w - 1) * c.stride + eff_w - c.w) / 2);
  } else {
    out_h = (c.h - eff_h) / c.stride + 1;
    out_w = (c.w - eff_w) / c.stride + 1;
  }
  if (is_int8) {
    p.input_offset = -static_cast<int>(rng() % 256 - 128);
    p.output_offset = static_cast<int>(rng() % 256) - 128;
  } else {
    p.input_offset = -static_cast<int>(118 + rng() % 21);
    p.weights_offset = -static_cast<int>(100 + rng() % 60);
    p.output_offset = static_cast<int>(rng() % 256);
  }
  p.act.act_min = std::numeric_limits<T>::lowest();
  p.act.act_max = std::numeric_limits<T>::max();
  if (c.threads == 2) p.act.act_min = p.output_offset;  // a fused ReLU
  std::vector<int32_t> mult, shift;
  Multipliers(rng, c.c, c.fh * c.fw, &mult, &shift, c.left_shift);
  p.output_multiplier = mult.data();
  p.output_shift = shift.data();
  const Shape is = S4(c.batches, c.h, c.w, c.c), fs = S4(1, c.fh, c.fw, c.c),
              os = S4(c.batches, out_h, out_w, c.c), bs = S2(1, c.c);
  std::vector<T> input(is.FlatSize()), filter(fs.FlatSize());
  FillActivations(rng, Extreme::kRandom, &input);
  FillActivations(rng, Extreme::kRandom, &filter);
  if (is_int8) filter[0] = -128;
  std::vector<int32_t> bias(c.c);
  for (auto& b : bias) b = static_cast<int32_t>(rng() % 20001) - 10000;
  KernelPrepareArgs a;
  a.op = KernelOp::kDepthwiseConv;
  a.type = is_int8 ? KernelType::kInt8 : KernelType::kUint8;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = filter.data();
  a.bias_data = bias.data();
  a.num_threads = c.threads;
  Runner run(c.threads);
  const KernelSet& merged = SelectKernelSet(KernelChoice::kOptimized);
  KernelContext ctx = run.Context(merged, a);
  ASSERT_NE(ctx.prepared, nullptr) << "prepare did not pack the depthwise weights";
  std::vector<T> want(os.FlatSize()), got(os.FlatSize(), 0x5A);
  KernelContext ref_ctx;
  if constexpr (std::is_same<T, int8_t>::value) {
    ReferenceKernelSet().int8.depthwise_conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, want.data(), ref_ctx);
    merged.int8.depthwise_conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, got.data(), ctx);
  } else {
    ReferenceKernelSet().uint8.depthwise_conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, want.data(), ref_ctx);
    merged.uint8.depthwise_conv(p, is, input.data(), fs, filter.data(), bs, bias.data(), os, got.data(), ctx);
  }
  int mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] != got[i] && ++mismatches < 5)
      ADD_FAILURE() << "output " << i << ": reference " << int(want[i]) << ", optimized " << int(got[i]);
  EXPECT_EQ(mismatches, 0);
  std::vector<bool> seen(256);
  int distinct = 0;
  for (T v : want) if (!seen[static_cast<uint8_t>(v)]) seen[static_cast<uint8_t>(v)] = true, ++distinct;
  EXPECT_GT(distinct, 2);
}

// Float depthwise, bit for bit (with/without bias, RELU6, special input values).
void RunDepthwiseFloat(const DwCase& c, bool with_bias, bool relu6, bool special_values) {
  if (GetOptimizedKernelSet() == nullptr) GTEST_SKIP() << "CPU lacks AVX2";
  std::mt19937 rng(99 + c.c * 3 + c.h + c.threads);
  ConvParams p;
  p.stride_height = p.stride_width = c.stride;
  p.dilation_height = p.dilation_width = c.dil;
  p.depth_multiplier = 1;
  const int eff_h = (c.fh - 1) * c.dil + 1, eff_w = (c.fw - 1) * c.dil + 1;
  int out_h, out_w;
  if (c.same) {
    out_h = (c.h + c.stride - 1) / c.stride;
    out_w = (c.w + c.stride - 1) / c.stride;
    p.padding = PaddingKind::kSame;
    p.pad_height = std::max(0, ((out_h - 1) * c.stride + eff_h - c.h) / 2);
    p.pad_width = std::max(0, ((out_w - 1) * c.stride + eff_w - c.w) / 2);
  } else {
    out_h = (c.h - eff_h) / c.stride + 1;
    out_w = (c.w - eff_w) / c.stride + 1;
  }
  p.act.float_act_min = relu6 ? 0.f : -std::numeric_limits<float>::infinity();
  p.act.float_act_max = relu6 ? 6.f : std::numeric_limits<float>::infinity();
  const Shape is = S4(c.batches, c.h, c.w, c.c), fs = S4(1, c.fh, c.fw, c.c),
              os = S4(c.batches, out_h, out_w, c.c), bs = S2(1, c.c);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> input(is.FlatSize()), filter(fs.FlatSize()), bias(c.c);
  for (auto& x : input) x = nd(rng);
  for (auto& x : filter) x = nd(rng);
  for (auto& x : bias) x = nd(rng);
  if (special_values) {
    input[0] = -0.f;
    input[1] = std::numeric_limits<float>::infinity();
    input[input.size() / 2] = std::numeric_limits<float>::quiet_NaN();
    input[input.size() - 1] = 1e-40f;
  }
  KernelPrepareArgs a;
  a.op = KernelOp::kDepthwiseConv;
  a.type = KernelType::kFloat32;
  a.params = &p;
  a.input_shape = is, a.filter_shape = fs, a.bias_shape = bs, a.output_shape = os;
  a.filter_data = filter.data();
  a.bias_data = with_bias ? bias.data() : nullptr;
  a.num_threads = c.threads;
  Runner run(c.threads);
  const KernelSet& merged = SelectKernelSet(KernelChoice::kOptimized);
  KernelContext ctx = run.Context(merged, a);
  ASSERT_NE(ctx.prepared, nullptr) << "prepare did not pack the float depthwise weights";
  std::vector<float> want(os.FlatSize()), got(os.FlatSize(), 123.f);
  const float* b = with_bias ? bias.data() : nullptr;
  ReferenceKernelSet().float32.depthwise_conv(p, is, input.data(), fs, filter.data(), bs, b, os, want.data(), KernelContext{});
  merged.float32.depthwise_conv(p, is, input.data(), fs, filter.data(), bs, b, os, got.data(), ctx);
  int mismatches = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&want[i], &got[i], sizeof(float)) != 0 && ++mismatches < 5)
      ADD_FAILURE() << "output " << i << ": reference " << want[i] << ", optimized " << got[i];
  EXPECT_EQ(mismatches, 0);
}

class DepthwiseTest : public ::testing::TestWithParam<DwCase> {};
TEST_P(DepthwiseTest, Int8MatchesReference) { RunDepthwise<int8_t>(GetParam()); }
TEST_P(DepthwiseTest, Uint8MatchesReference) { RunDepthwise<uint8_t>(GetParam()); }
TEST_P(DepthwiseTest, FloatBitExactWithBias) { RunDepthwiseFloat(GetParam(), true, false, false); }
TEST_P(DepthwiseTest, FloatBitExactWithoutBiasRelu6) { RunDepthwiseFloat(GetParam(), false, true, false); }
TEST_P(DepthwiseTest, FloatBitExactSpecialValues) { RunDepthwiseFloat(GetParam(), true, false, true); }
INSTANTIATE_TEST_SUITE_P(Shapes, DepthwiseTest,
                         ::testing::Values(DwCase{1, 9, 11, 32, 3, 3, 1, 1, true, 1},   // MobileNet 3x3
                                           DwCase{2, 10, 9, 17, 3, 3, 2, 1, true, 2},   // stride 2, odd C
                                           DwCase{1, 8, 8, 40, 5, 5, 1, 1, true, 3},    // 5x5 (odd taps)
                                           DwCase{1, 12, 12, 8, 3, 3, 1, 2, true, 2},   // dilation 2
                                           DwCase{1, 7, 6, 64, 2, 3, 1, 1, false, 4},   // 2x3 VALID
                                           DwCase{3, 4, 5, 3, 1, 1, 1, 1, false, 1},    // 1x1, 3 channels
                                           DwCase{1, 9, 11, 32, 3, 3, 1, 1, true, 2, false}),  // no left shift
                         [](const auto& info) { return info.param.Name(); });

struct PoolCase {
  int h, w, c, f, stride, pad, threads;
};
class MaxPoolTest : public ::testing::TestWithParam<PoolCase> {};
TEST_P(MaxPoolTest, Int8AndUint8MatchReference) {
  if (GetOptimizedKernelSet() == nullptr) GTEST_SKIP() << "CPU lacks AVX2";
  const PoolCase c = GetParam();
  std::mt19937 rng(5 + c.c);
  PoolParams p;
  p.filter_height = p.filter_width = c.f;
  p.stride_height = p.stride_width = c.stride;
  p.pad_height = p.pad_width = c.pad;
  const int oh = (c.h + 2 * c.pad - c.f) / c.stride + 1, ow = (c.w + 2 * c.pad - c.f) / c.stride + 1;
  const Shape is = S4(2, c.h, c.w, c.c), os = S4(2, oh, ow, c.c);
  ThreadPool pool(c.threads);
  KernelContext ctx;
  ctx.pool = &pool;
  ctx.num_threads = c.threads;
  {
    std::vector<int8_t> in(is.FlatSize()), want(os.FlatSize()), got(os.FlatSize());
    FillActivations(rng, Extreme::kRandom, &in);
    p.act.act_min = -100;
    p.act.act_max = 120;
    ReferenceKernelSet().int8.max_pool(p, is, in.data(), os, want.data(), KernelContext{});
    SelectKernelSet(KernelChoice::kOptimized).int8.max_pool(p, is, in.data(), os, got.data(), ctx);
    EXPECT_EQ(want, got);
  }
  {
    std::vector<uint8_t> in(is.FlatSize()), want(os.FlatSize()), got(os.FlatSize());
    FillActivations(rng, Extreme::kRandom, &in);
    p.act.act_min = 3;
    p.act.act_max = 255;
    ReferenceKernelSet().uint8.max_pool(p, is, in.data(), os, want.data(), KernelContext{});
    SelectKernelSet(KernelChoice::kOptimized).uint8.max_pool(p, is, in.data(), os, got.data(), ctx);
    EXPECT_EQ(want, got);
  }
}
INSTANTIATE_TEST_SUITE_P(Shapes, MaxPoolTest,
                         ::testing::Values(PoolCase{24, 24, 6, 2, 2, 0, 1}, PoolCase{8, 8, 50, 2, 2, 0, 2},
                                           PoolCase{7, 9, 33, 3, 2, 1, 3}, PoolCase{5, 5, 64, 3, 1, 1, 4},
                                           PoolCase{28, 28, 16, 2, 2, 0, 2}, PoolCase{6, 6, 20, 2, 2, 0, 1}));

}  // namespace
}  // namespace tfqat::runtime

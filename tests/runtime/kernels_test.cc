// Reference kernels and fixed-point helpers against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/fixed_point.h"
#include "runtime/kernel_set.h"
#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime {
namespace {

namespace ref = reference;

Shape S(std::initializer_list<int32_t> d) {
  Shape s;
  for (int32_t v : d) s.dims[s.rank++] = v;
  return s;
}

ActivationRange Int8Full() {
  ActivationRange a;
  a.act_min = -128;
  a.act_max = 127;
  a.float_act_min = -INFINITY;
  a.float_act_max = INFINITY;
  return a;
}

TEST(FixedPoint, RoundingAndMultipliers) {
  EXPECT_EQ(RoundingDivideByPOT(5, 1), 3);    // 2.5 -> 3 (away from zero)
  EXPECT_EQ(RoundingDivideByPOT(-5, 1), -3);  // -2.5 -> -3
  EXPECT_EQ(RoundingDivideByPOT(-4, 1), -2);
  EXPECT_EQ(RoundingDivideByPOT(7, 2), 2);    // 1.75 -> 2
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(INT32_MIN, INT32_MIN), INT32_MAX);
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(1 << 30, 1 << 30), 1 << 29);  // 0.5 * 0.5
  int32_t m;
  int s;
  QuantizeMultiplier(0.5, &m, &s);
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(0.75, &m, &s);
  EXPECT_EQ(m, 1610612736);
  EXPECT_EQ(s, 0);
  QuantizeMultiplier(2.0, &m, &s);
  EXPECT_EQ(m, 1 << 30);
  EXPECT_EQ(s, 2);
  QuantizeMultiplier(0.0, &m, &s);
  EXPECT_EQ(m, 0);
  QuantizeMultiplier(std::ldexp(1.0, -40), &m, &s);  // below 2^-31: flushed to zero
  EXPECT_EQ(m, 0);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(100, 1 << 30, 0), 50);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(101, 1 << 30, 0), 51);    // 50.5 -> 51
  // SRDHM rounds a negative tie toward +inf: (-101 * 2^30 + 1 - 2^30) / 2^31 truncates to -50.
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-101, 1 << 30, 0), -50);
  EXPECT_EQ(MultiplyByQuantizedMultiplier(-101, 1 << 30, -1), -25);  // -50 / 2 -> -25
  EXPECT_EQ(MultiplyByQuantizedMultiplier(3, 1 << 30, 2), 6);       // 3 * 0.5 * 4
  EXPECT_EQ(MultiplyByQuantizedMultiplier(3, 1 << 30, -1), 1);      // 0.75 -> 1
}

TEST(ReferenceKernels, ConvInt8PerChannel) {
  // Input 1x2x2x1 = [1,2,3,4] (zp -1), two 2x2 filters [1,1,1,1] and [1,0,0,-1], bias [10, 0],
  // multipliers 0.5 and 1.0, output zp 3.
  const int8_t in[] = {1, 2, 3, 4};
  const int8_t f[] = {1, 1, 1, 1, 1, 0, 0, -1};
  const int32_t bias[] = {10, 0};
  int32_t mult[2], shift[2];
  QuantizeMultiplier(0.5, &mult[0], &shift[0]);
  QuantizeMultiplier(1.0, &mult[1], &shift[1]);
  ConvParams p;
  p.input_offset = 1;
  p.output_offset = 3;
  p.output_multiplier = mult;
  p.output_shift = shift;
  p.act = Int8Full();
  int8_t out[2] = {};
  ref::ConvInt8(p, S({1, 2, 2, 1}), in, S({2, 2, 2, 1}), f, S({2}), bias, S({1, 1, 1, 2}), out, {});
  EXPECT_EQ(out[0], 15);  // ((2+3+4+5) + 10) * 0.5 + 3
  EXPECT_EQ(out[1], 0);   // (2 - 5) * 1 + 3
  // SAME padding with stride 1: 4 outputs, zero (real) padding.
  p.pad_height = 0;
  p.pad_width = 0;
  int8_t out4[8] = {};
  ref::ConvInt8(p, S({1, 2, 2, 1}), in, S({2, 2, 2, 1}), f, S({2}), bias, S({1, 2, 2, 2}), out4, {});
  // Output (0,1): window covers in(0,1)=3 and in(1,1)=5 (offset applied): f0 -> 8+10=18 -> 9+3.
  EXPECT_EQ(out4[2], 12);
  // Activation clamp: RELU6-like bounds [3, 10].
  p.act.act_min = 3;
  p.act.act_max = 10;
  ref::ConvInt8(p, S({1, 2, 2, 1}), in, S({2, 2, 2, 1}), f, S({2}), bias, S({1, 1, 1, 2}), out, {});
  EXPECT_EQ(out[0], 10);
  EXPECT_EQ(out[1], 3);
}

TEST(ReferenceKernels, ConvUint8WithWeightZeroPoint) {
  // in [10, 20] (zp 10), weights [12, 8] (zp 10) -> (0*2) + (10*-2) = -20, bias 30 -> 10,
  // multiplier 0.25 -> 2.5 -> 3, + zp 100.
  const uint8_t in[] = {10, 20};
  const uint8_t f[] = {12, 8};
  const int32_t bias[] = {30};
  int32_t m[1], s[1];
  QuantizeMultiplier(0.25, &m[0], &s[0]);
  ConvParams p;
  p.input_offset = -10;
  p.weights_offset = -10;
  p.output_offset = 100;
  p.output_multiplier = m;
  p.output_shift = s;
  p.act.act_min = 0;
  p.act.act_max = 255;
  uint8_t out[1];
  ref::ConvUint8(p, S({1, 1, 1, 2}), in, S({1, 1, 1, 2}), f, S({1}), bias, S({1, 1, 1, 1}), out, {});
  EXPECT_EQ(out[0], 103);
}

TEST(ReferenceKernels, DepthwiseMultiplier) {
  const int8_t in[] = {3, 5};
  const int8_t f[] = {1, 2, 3, 4};
  int32_t m[4], s[4];
  for (int i = 0; i < 4; ++i) QuantizeMultiplier(1.0, &m[i], &s[i]);
  ConvParams p;
  p.depth_multiplier = 2;
  p.output_multiplier = m;
  p.output_shift = s;
  p.act = Int8Full();
  int8_t out[4];
  ref::DepthwiseConvInt8(p, S({1, 1, 1, 2}), in, S({1, 1, 1, 4}), f, S({}), nullptr, S({1, 1, 1, 4}), out, {});
  EXPECT_EQ(out[0], 3);
  EXPECT_EQ(out[1], 6);
  EXPECT_EQ(out[2], 15);
  EXPECT_EQ(out[3], 20);
}

TEST(ReferenceKernels, TransposeConvScattersTheFilter) {
  const int8_t in[] = {2};
  const int8_t f[] = {1, 2, 3, 4};  // [oc=1, 2, 2, ic=1]
  int32_t m[1], s[1];
  QuantizeMultiplier(1.0, &m[0], &s[0]);
  ConvParams p;
  p.output_multiplier = m;
  p.output_shift = s;
  p.act = Int8Full();
  int8_t out[4];
  int32_t scratch[4];
  KernelContext ctx;
  ctx.scratch = reinterpret_cast<uint8_t*>(scratch);
  ctx.scratch_bytes = sizeof(scratch);
  ref::TransposeConvInt8(p, S({1, 1, 1, 1}), in, S({1, 2, 2, 1}), f, S({}), nullptr, S({1, 2, 2, 1}), out, ctx);
  EXPECT_EQ(out[0], 2);
  EXPECT_EQ(out[1], 4);
  EXPECT_EQ(out[2], 6);
  EXPECT_EQ(out[3], 8);
}

TEST(ReferenceKernels, FullyConnectedUint8) {
  const uint8_t in[] = {1, 2};
  const uint8_t w[] = {3, 4};
  const int32_t bias[] = {5};
  int32_t m[1], s[1];
  QuantizeMultiplier(1.0, &m[0], &s[0]);
  FullyConnectedParams p;
  p.input_offset = -1;
  p.weights_offset = -2;
  p.output_offset = 10;
  p.output_multiplier = m;
  p.output_shift = s;
  p.act.act_min = 0;
  p.act.act_max = 255;
  uint8_t out[1];
  ref::FullyConnectedUint8(p, S({1, 2}), in, S({1, 2}), w, S({1}), bias, S({1, 1}), out, {});
  EXPECT_EQ(out[0], 17);  // 0*1 + 1*2 + 5 + 10
}

TEST(ReferenceKernels, AddAndMulWithBroadcast) {
  // All scales 1, zero points 0: ADD's multipliers are 0.5, 0.5 and 2^-19 (left shift 20).
  ArithmeticParams p;
  p.left_shift = 20;
  QuantizeMultiplier(0.5, &p.input1_multiplier, &p.input1_shift);
  QuantizeMultiplier(0.5, &p.input2_multiplier, &p.input2_shift);
  QuantizeMultiplier(2.0 / (1 << 20), &p.output_multiplier, &p.output_shift);
  p.act = Int8Full();
  const int8_t a[] = {3, -7, 100};
  const int8_t b[] = {4};
  int8_t out[3];
  ref::AddInt8(p, S({1, 3}), a, S({1, 1}), b, S({1, 3}), out, {});
  EXPECT_EQ(out[0], 7);
  EXPECT_EQ(out[1], -3);
  EXPECT_EQ(out[2], 104);
  ArithmeticParams q;
  QuantizeMultiplier(0.5, &q.output_multiplier, &q.output_shift);
  q.input1_offset = 1;
  q.act = Int8Full();
  ref::MulInt8(q, S({1, 3}), a, S({1, 1}), b, S({1, 3}), out, {});
  EXPECT_EQ(out[0], 8);    // (3+1)*4*0.5
  EXPECT_EQ(out[1], -12);  // (-7+1)*4*0.5
  EXPECT_EQ(out[2], 127);  // 202 saturates
}

TEST(ReferenceKernels, Pools) {
  PoolParams p;
  p.filter_height = p.filter_width = 2;
  p.stride_height = p.stride_width = 2;
  p.act = Int8Full();
  const int8_t pos[] = {1, 2, 3, 5}, neg[] = {-1, -2, -3, -5};
  int8_t out[1];
  ref::AveragePoolInt8(p, S({1, 2, 2, 1}), pos, S({1, 1, 1, 1}), out, {});
  EXPECT_EQ(out[0], 3);   // 11/4 = 2.75 -> 3
  ref::AveragePoolInt8(p, S({1, 2, 2, 1}), neg, S({1, 1, 1, 1}), out, {});
  EXPECT_EQ(out[0], -3);  // -2.75 -> -3
  ref::MaxPoolInt8(p, S({1, 2, 2, 1}), neg, S({1, 1, 1, 1}), out, {});
  EXPECT_EQ(out[0], -1);
  // SAME-style padding: window partly outside counts only the valid cells.
  p.pad_height = p.pad_width = 1;
  p.stride_height = p.stride_width = 1;
  ref::AveragePoolInt8(p, S({1, 2, 2, 1}), pos, S({1, 1, 1, 1}), out, {});
  EXPECT_EQ(out[0], 1);  // only in(0,0) = 1
}

TEST(ReferenceKernels, SoftmaxQuantized) {
  // beta * input_scale = 1: multiplier for 2^26, diff_min from CalculateInputRadius.
  SoftmaxParams p;
  QuantizeMultiplier(1.0 * (1 << 26), &p.input_multiplier, &p.input_left_shift);
  p.diff_min = -static_cast<int32_t>(std::floor(31.0 * (1 << 26) / (1 << p.input_left_shift)));
  const int8_t eq[] = {5, 5};
  int8_t out[2];
  ref::SoftmaxQuantized(p, S({1, 2}), eq, out);
  EXPECT_EQ(out[0], 0);  // 0.5 * 256 - 128
  EXPECT_EQ(out[1], 0);
  const int8_t far[] = {100, -100};
  ref::SoftmaxQuantized(p, S({1, 2}), far, out);
  EXPECT_EQ(out[0], 127);
  EXPECT_EQ(out[1], -128);
  // ln(3) apart: probabilities 0.75 / 0.25 -> 64 / -64 within the fixed-point error.
  QuantizeMultiplier(std::log(3.0) * (1 << 26), &p.input_multiplier, &p.input_left_shift);
  p.diff_min = -static_cast<int32_t>(std::floor(31.0 * (1 << 26) / (1 << p.input_left_shift)));
  const uint8_t two[] = {1, 0};
  uint8_t uout[2];
  ref::SoftmaxQuantized(p, S({1, 2}), two, uout);
  EXPECT_EQ(uout[0], 192);
  EXPECT_EQ(uout[1], 64);
}

TEST(ReferenceKernels, PadConcatMean) {
  PadParams pp;
  pp.rank = 2;
  pp.before[1] = 1;
  pp.after[0] = 1;
  pp.pad_value = 7;
  const int8_t x[] = {1, 2};
  int8_t y[6];
  ref::Pad(pp, S({1, 2}), x, S({2, 3}), y);
  EXPECT_EQ(std::vector<int8_t>(y, y + 6), (std::vector<int8_t>{7, 1, 2, 7, 7, 7}));

  // uint8 concatenation requantizes an input with another scale: x * 2 / 1.
  const uint8_t a[] = {3}, b[] = {4};
  const Shape sa = S({1, 1}), sb = S({1, 1});
  const Shape* shapes[] = {&sa, &sb};
  const uint8_t* ins[] = {a, b};
  const int32_t zps[] = {0, 0};
  const float scales[] = {2.f, 1.f};
  ConcatParams cp;
  cp.axis = 1;
  cp.num_inputs = 2;
  cp.input_zero_point = zps;
  cp.input_scale = scales;
  cp.output_scale = 1.f;
  uint8_t c[2];
  ref::Concatenation(cp, shapes, ins, S({1, 2}), c);
  EXPECT_EQ(c[0], 6);
  EXPECT_EQ(c[1], 4);

  // int8 spatial mean: sum(x - zp) * (in/out scale) / count, rounded half away.
  ReduceParams rp;
  rp.num_axes = 2;
  rp.axes[0] = 1;
  rp.axes[1] = 2;
  rp.keep_dims = true;
  rp.input_zero_point = -1;
  rp.output_zero_point = 2;
  QuantizeMultiplier(1.0, &rp.multiplier, &rp.shift);
  const int8_t mx[] = {0, 1, 2, 4};  // minus zp: 1, 2, 3, 5 -> 11 / 4 = 2.75 -> 3
  int8_t mo[1];
  ref::MeanQuantized(rp, S({1, 2, 2, 1}), mx, S({1, 1, 1, 1}), mo);
  EXPECT_EQ(mo[0], 5);
}

TEST(ReferenceKernels, QuantizeDequantizeRequantize) {
  QuantizeParams q;
  q.scale = 0.5f;
  q.zero_point = 1;
  const float f[] = {1.25f, -1.25f, 1000.f};  // 2.5 -> 3, -2.5 -> -3 (half away from zero)
  int8_t o[3];
  ref::QuantizeFloat(q, S({3}), f, o);
  EXPECT_EQ(o[0], 4);
  EXPECT_EQ(o[1], -2);
  EXPECT_EQ(o[2], 127);
  float back[3];
  ref::Dequantize(q, S({3}), o, back);
  EXPECT_FLOAT_EQ(back[0], 1.5f);
  EXPECT_FLOAT_EQ(back[1], -1.5f);
  QuantizeParams r;
  r.input_zero_point = 128;
  r.zero_point = 0;
  QuantizeMultiplier(1.0, &r.multiplier, &r.shift);
  const uint8_t u[] = {0, 128, 255};
  int8_t s[3];
  ref::Requantize(r, S({3}), u, s);
  EXPECT_EQ(s[0], -128);
  EXPECT_EQ(s[1], 0);
  EXPECT_EQ(s[2], 127);
}

TEST(ReferenceKernels, LogisticAndTanhQuantized) {
  // Input scale 1/16 (x in [-8, 8)), Q4.27 rescale: multiplier for 1/16 * 2^27.
  ActivationFnParams p;
  p.input_zero_point = 128;
  QuantizeMultiplier(1.0 / 16 * (1 << 27), &p.input_multiplier, &p.input_left_shift);
  p.input_range_radius = static_cast<int32_t>(std::floor(15.0 * (1 << 27) / (1 << p.input_left_shift)));
  const uint8_t x[] = {128, 0, 255, 144, 112};  // 0, -8, ~8, 1, -1
  uint8_t y[5];
  ref::LogisticQuantized(p, S({5}), x, y);
  EXPECT_EQ(y[0], 128);  // 0.5 * 256
  EXPECT_LE(y[1], 1);    // sigmoid(-8) = 0.00034
  EXPECT_EQ(y[2], 255);  // 1.0 saturates at 255
  EXPECT_EQ(y[3], 187);  // sigmoid(1) * 256 = 187.1
  EXPECT_EQ(y[4], 69);   // sigmoid(-1) * 256 = 68.9
  p.output_zero_point = 128;
  ref::TanhQuantized(p, S({5}), x, y);
  EXPECT_EQ(y[0], 128);
  EXPECT_EQ(y[1], 0);
  EXPECT_EQ(y[2], 255);
  EXPECT_EQ(y[3], 225);  // 128 + tanh(1) * 128 = 225.5 (Q0.31 rounding decides) -> 225 or 226
  EXPECT_EQ(y[4], 31);
  ActivationFnParams q = p;
  q.input_zero_point = 0;
  q.output_zero_point = 0;
  const int8_t xi[] = {0, 16, -16};
  int8_t yi[3];
  ref::LogisticQuantized(q, S({3}), xi, yi);
  EXPECT_EQ(yi[0], 0);
  EXPECT_EQ(yi[1], 187 - 128);
  EXPECT_EQ(yi[2], 69 - 128);
  ref::TanhQuantized(q, S({3}), xi, yi);
  EXPECT_EQ(yi[0], 0);
  EXPECT_EQ(yi[1], -yi[2]);
}

TEST(KernelSet, ReferenceSetIsCompleteAndSelectable) {
  const KernelSet& r = ReferenceKernelSet();
  EXPECT_NE(r.int8.conv, nullptr);
  EXPECT_NE(r.uint8.depthwise_conv, nullptr);
  EXPECT_NE(r.float32.fully_connected, nullptr);
  EXPECT_EQ(&SelectKernelSet(KernelChoice::kReference), &r);
  const KernelSet& a = SelectKernelSet(KernelChoice::kAuto);
  EXPECT_NE(a.int8.conv, nullptr);
  EXPECT_NE(a.float32.max_pool, nullptr);
}

}  // namespace
}  // namespace tfqat::runtime

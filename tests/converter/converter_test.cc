// Converter unit suite: the nudge, lowering structure (read back from the written flatbuffer),
// quantization parameters, every-problem-at-once errors, dummy quantization, and the CLI.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "converter/convert.h"
#include "converter/fake_quant_nudge.h"
#include "gmock/gmock.h"
#include "graph/graph_io.h"
#include "gtest/gtest.h"
#include "proto/tflite_schema_generated.h"
#include "tests/converter/test_support.h"

namespace tfqat::testing {
namespace {

using converter::ConvertOptions;
using converter::ElemType;
using ::testing::HasSubstr;

HostTensor<float> Vec(std::vector<float> v) {
  HostTensor<float> t;
  t.shape = {static_cast<int64_t>(v.size())};
  t.values = std::move(v);
  return t;
}

// input -> conv(+bias+relu6) -> dw(+bias+relu) -> 1x1 conv -> add(residual)+relu -> concat ->
// maxpool -> reshape -> matmul(+bias) -> softmax; every activation fake-quantized.
tensorflow::GraphDef SmallNet(bool with_ranges = true, bool per_channel = false) {
  std::mt19937 rng(1);
  GraphBuilder b;
  auto fq = [&](const std::string& name, const std::string& in, float lo, float hi) {
    return with_ranges ? FakeQuant(&b, name, in, lo, hi) : in;
  };
  auto weights = [&](const std::string& name, HostTensor<float> w) {
    if (!with_ranges) return b.Const(name, w);
    if (per_channel && w.shape.size() == 4) {  // FULLY_CONNECTED stays per tensor
      const int64_t oc = w.shape.back();
      std::vector<float> mn(oc, 0.f), mx(oc, 0.f);
      for (size_t k = 0; k < w.values.size(); ++k) mx[k % oc] = std::max(mx[k % oc], std::fabs(w.values[k]));
      for (int64_t c = 0; c < oc; ++c) mn[c] = -mx[c];
      return FakeQuantPerChannel(&b, name + "/weights_quant", b.Const(name, w), mn, mx);
    }
    return QuantWeights(&b, name, w);
  };
  std::string x = fq("input/act_quant", b.Placeholder("input", {1, 4, 4, 2}), -1.f, 1.f);
  std::string c1 = b.Conv2D("c1/Conv2D", x, weights("c1/w", RandomTensor(&rng, {3, 3, 2, 4}, -1, 1)), 1, "SAME");
  c1 = b.Unary("Relu6", "c1/Relu6", b.BiasAdd("c1/BiasAdd", c1, b.Const("c1/b", Vec({0.1f, -0.1f, 0.2f, 0.f}))));
  const std::string a1 = fq("c1/act_quant", c1, 0.f, 6.f);
  std::string d = b.DepthwiseConv2dNative("d/depthwise", a1, weights("d/w", RandomTensor(&rng, {3, 3, 4, 1}, -1, 1)), 1, "SAME");
  d = b.Unary("Relu", "d/Relu", b.BiasAdd("d/BiasAdd", d, b.Const("d/b", Vec({0.f, 0.1f, 0.f, -0.1f}))));
  const std::string a2 = fq("d/act_quant", d, 0.f, 4.f);
  std::string c3 = b.Conv2D("c3/Conv2D", a2, weights("c3/w", RandomTensor(&rng, {1, 1, 4, 4}, -1, 1)), 1, "SAME");
  c3 = b.BiasAdd("c3/BiasAdd", c3, b.Const("c3/b", Vec({0.f, 0.f, 0.f, 0.f})));
  const std::string a3 = fq("c3/act_quant", c3, -3.f, 3.f);
  const std::string add = fq("add/act_quant", b.Unary("Relu", "add/Relu", b.Binary("AddV2", "add/add", a1, a3)), 0.f, 6.f);
  const std::string cat = fq("cat/act_quant", b.ConcatV2("cat/concat", {add, a2}, -1), 0.f, 6.f);
  const std::string pool = b.Pool("MaxPool", "pool/MaxPool", cat, 2, 2, "VALID");
  const std::string flat = b.Reshape("flat/Reshape", pool, {1, -1});
  std::string fc = b.MatMul("fc/MatMul", flat, weights("fc/w", RandomTensor(&rng, {32, 3}, -0.3f, 0.3f)));
  fc = fq("logits", b.BiasAdd("fc/BiasAdd", fc, b.Const("fc/b", Vec({0.1f, 0.2f, 0.3f}))), -4.f, 4.f);
  b.Unary("Softmax", "probs", fc);
  return b.Build();
}

const tflite::Model* Parse(const std::string& bytes) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_TRUE(tflite::VerifyModelBuffer(v));
  return tflite::GetModel(bytes.data());
}

std::vector<tflite::BuiltinOperator> OpCodes(const tflite::Model* m) {
  std::vector<tflite::BuiltinOperator> out;
  for (const auto* op : *m->subgraphs()->Get(0)->operators())
    out.push_back(m->operator_codes()->Get(op->opcode_index())->builtin_code());
  return out;
}

const tflite::Tensor* TensorNamed(const tflite::Model* m, const std::string& name) {
  for (const auto* t : *m->subgraphs()->Get(0)->tensors())
    if (t->name()->str() == name) return t;
  return nullptr;
}

// ---- the nudge ------------------------------------------------------------------------------

TEST(NudgeTest, MatchesTheKernelOnKnownRanges) {
  // [-1, 1], 8 bits: scale 2/255; zero point from min is 127.5 in exact arithmetic (a double
  // converter picks 128) but 127.49999 in the kernel's float32, so the kernel's grid has 127.
  auto r = converter::NudgeFakeQuantRange(-1.f, 1.f, 8, false);
  EXPECT_FLOAT_EQ(r.scale, 2.f / 255.f);
  EXPECT_EQ(r.zero_point, 127);
  EXPECT_FLOAT_EQ(r.nudged_min, -127.f * (2.f / 255.f));
  // [-3, 3]: float gives exactly 127.5 -> 128 (half away from zero).
  EXPECT_EQ(converter::NudgeFakeQuantRange(-3.f, 3.f, 8, false).zero_point, 128);
  // Narrow range [-1, 1]: scale 2/254, zero point 1 + 127 = 128: symmetric.
  r = converter::NudgeFakeQuantRange(-1.f, 1.f, 8, true);
  EXPECT_EQ(r.quant_min, 1);
  EXPECT_EQ(r.zero_point, 128);
  EXPECT_FLOAT_EQ(r.scale, 2.f / 254.f);
  // Ranges not containing 0 are clamped: [0.5, 2] -> zero point 0, nudged_min 0.
  r = converter::NudgeFakeQuantRange(0.5f, 2.f, 8, false);
  EXPECT_EQ(r.zero_point, 0);
  EXPECT_EQ(r.nudged_min, 0.f);
  r = converter::NudgeFakeQuantRange(-3.f, -1.f, 8, false);
  EXPECT_EQ(r.zero_point, 255);
  EXPECT_EQ(r.nudged_max, 0.f);
}

TEST(NudgeTest, FollowsFloatArithmeticWhereDoubleWouldDiffer) {
  // tensorflow#38845: a converter computing in double picks another zero point on some ranges.
  // Find such ranges and check we keep the kernel's float32 choice.
  int found = 0;
  for (int i = 1; i < 200000 && found < 5; ++i) {
    const float mn = -static_cast<float>(i) * 1e-5f, mx = 1.f + static_cast<float>(i % 977) * 1e-4f;
    const double ds = (static_cast<double>(mx) - mn) / 255.0;
    const double dzp = std::round(0.0 - mn / ds);
    const float fs = (mx - mn) / 255.f;
    const float fzp = std::round(0.f - mn / fs);
    if (dzp == fzp) continue;
    ++found;
    auto r = converter::NudgeFakeQuantRange(mn, mx, 8, false);
    EXPECT_EQ(r.zero_point, static_cast<int32_t>(fzp)) << "min " << mn << " max " << mx;
  }
  EXPECT_GT(found, 0) << "no range found where float and double disagree";
}

// ---- structure --------------------------------------------------------------------------------

TEST(ConverterTest, LowersAndFusesTheResidualNet) {
  ConvertOptions o;
  o.inference_type = ElemType::kUInt8;
  o.output_arrays = {"probs"};
  auto r = converter::Convert(SmallNet(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  const tflite::Model* m = Parse(r->flatbuffer);
  using B = tflite::BuiltinOperator;
  // c1 and d: fused bias + activation; concat's second input (range [0,4] vs [0,6]) requantized.
  EXPECT_THAT(OpCodes(m), ::testing::ElementsAre(B::CONV_2D, B::DEPTHWISE_CONV_2D, B::CONV_2D, B::ADD,
                                                  B::QUANTIZE, B::CONCATENATION, B::MAX_POOL_2D, B::RESHAPE,
                                                  B::FULLY_CONNECTED, B::SOFTMAX));
  const auto* ops = m->subgraphs()->Get(0)->operators();
  EXPECT_EQ(ops->Get(0)->builtin_options_as_Conv2DOptions()->fused_activation_function(),
            tflite::ActivationFunctionType::RELU6);
  EXPECT_EQ(ops->Get(1)->builtin_options_as_DepthwiseConv2DOptions()->fused_activation_function(),
            tflite::ActivationFunctionType::RELU);
  EXPECT_EQ(ops->Get(2)->builtin_options_as_Conv2DOptions()->fused_activation_function(),
            tflite::ActivationFunctionType::NONE);
  EXPECT_EQ(ops->Get(3)->builtin_options_as_AddOptions()->fused_activation_function(),
            tflite::ActivationFunctionType::RELU);
  EXPECT_EQ(ops->Get(5)->builtin_options_as_ConcatenationOptions()->axis(), 3);
  // No FakeQuant/Identity/BiasAdd leftovers: 10 operators for 10 TFLite ops.
  EXPECT_EQ(r->report.requantized.size(), 1u);
  EXPECT_EQ(m->subgraphs()->Get(0)->outputs()->size(), 1u);
  const auto* out = m->subgraphs()->Get(0)->tensors()->Get(m->subgraphs()->Get(0)->outputs()->Get(0));
  EXPECT_EQ(out->name()->str(), "probs");
  // Fixed softmax output parameters (uint8: 1/256, 0).
  EXPECT_FLOAT_EQ(out->quantization()->scale()->Get(0), 1.f / 256.f);
  EXPECT_EQ(out->quantization()->zero_point()->Get(0), 0);
}

TEST(ConverterTest, ParametersComeFromTheNudgedRanges) {
  for (ElemType type : {ElemType::kUInt8, ElemType::kInt8}) {
    ConvertOptions o;
    o.inference_type = type;
    o.output_arrays = {"logits"};
    auto r = converter::Convert(SmallNet(true, type == ElemType::kInt8), o);
    ASSERT_TRUE(r.ok()) << r.status();
    const tflite::Model* m = Parse(r->flatbuffer);
    const int shift = type == ElemType::kInt8 ? -128 : 0;
    const auto* in = TensorNamed(m, "input");
    ASSERT_NE(in, nullptr);
    EXPECT_EQ(in->type(), type == ElemType::kInt8 ? tflite::TensorType::INT8 : tflite::TensorType::UINT8);
    // [-1, 1]: the kernel's float32 zero point is 127 (127.49999), not the exact 127.5 -> 128.
    EXPECT_FLOAT_EQ(in->quantization()->scale()->Get(0), 2.f / 255.f);
    EXPECT_EQ(in->quantization()->zero_point()->Get(0), 127 + shift);
    // c3's output range [-3, 3]: zero point 127.5 (exact in float) -> 128.
    const auto* c3 = TensorNamed(m, "c3/BiasAdd");
    ASSERT_NE(c3, nullptr);
    EXPECT_FLOAT_EQ(c3->quantization()->scale()->Get(0), 6.f / 255.f);
    EXPECT_EQ(c3->quantization()->zero_point()->Get(0), 128 + shift);
    const auto* logits = TensorNamed(m, "logits");
    ASSERT_NE(logits, nullptr);
    EXPECT_EQ(logits->quantization()->zero_point()->Get(0), 127 + shift);  // [-4, 4]: 127.49999
  }
}

TEST(ConverterTest, WeightsSitOnTheTrainedGridAndBiasScaleIsInputTimesWeight) {
  for (ElemType type : {ElemType::kUInt8, ElemType::kInt8}) {
    const bool int8 = type == ElemType::kInt8;
    const tensorflow::GraphDef g = SmallNet(true, int8);
    ConvertOptions o;
    o.inference_type = type;
    o.output_arrays = {"logits"};
    auto r = converter::Convert(g, o);
    ASSERT_TRUE(r.ok()) << r.status();
    const tflite::Model* m = Parse(r->flatbuffer);
    // c1 weights: TF [3,3,2,4] -> TFLite [4,3,3,2]; dequantized value == FakeQuant(w) from the
    // reference executor (the training graph's view of the weights).
    const std::string fq = int8 ? "c1/w/weights_quant" : "c1/w/weights_quant";
    auto ref = RunReference(g, {}, {fq});
    ASSERT_TRUE(ref.ok()) << ref.status();
    const auto* w = TensorNamed(m, fq);
    ASSERT_NE(w, nullptr);
    ASSERT_EQ(w->shape()->size(), 4u);
    EXPECT_EQ(w->shape()->Get(0), 4);
    EXPECT_EQ(w->shape()->Get(3), 2);
    const auto* q = w->quantization();
    EXPECT_EQ(q->scale()->size(), int8 ? 4u : 1u);
    EXPECT_EQ(q->quantized_dimension(), 0);
    const auto* data = m->buffers()->Get(w->buffer())->data();
    ASSERT_EQ(data->size(), 72u);
    for (int oc = 0; oc < 4; ++oc)
      for (int h = 0; h < 3; ++h)
        for (int ww = 0; ww < 3; ++ww)
          for (int ic = 0; ic < 2; ++ic) {
            const int i = ((oc * 3 + h) * 3 + ww) * 2 + ic;
            const float s = q->scale()->Get(int8 ? oc : 0);
            const int zp = static_cast<int>(q->zero_point()->Get(int8 ? oc : 0));
            const int v = int8 ? static_cast<int8_t>(data->Get(i)) : data->Get(i);
            if (int8) {
              EXPECT_EQ(zp, 0);
              EXPECT_GE(v, -127);
            }
            const float expected = ref->at(fq).values[((h * 3 + ww) * 2 + ic) * 4 + oc];
            EXPECT_NEAR((v - zp) * s, expected, 1e-5f) << "element " << i;
          }
    // Depthwise per-channel axis is 3 in int8.
    const auto* dw = TensorNamed(m, "d/w/weights_quant");
    ASSERT_NE(dw, nullptr);
    EXPECT_EQ(dw->quantization()->quantized_dimension(), int8 ? 3 : 0);
    // Bias: int32, scale S_in * S_w[c].
    const auto* b = TensorNamed(m, "c1/BiasAdd");
    const auto* bias = TensorNamed(m, "c1/b");
    ASSERT_NE(bias, nullptr);
    (void)b;
    EXPECT_EQ(bias->type(), tflite::TensorType::INT32);
    const float s_in = TensorNamed(m, "input")->quantization()->scale()->Get(0);
    for (size_t c = 0; c < bias->quantization()->scale()->size(); ++c)
      EXPECT_FLOAT_EQ(bias->quantization()->scale()->Get(c), s_in * q->scale()->Get(c));
    const auto* bias_data = reinterpret_cast<const int32_t*>(m->buffers()->Get(bias->buffer())->data()->data());
    const float b0 = 0.1f;
    EXPECT_EQ(bias_data[0], static_cast<int32_t>(std::round(b0 / (s_in * q->scale()->Get(0)))));
  }
}

TEST(ConverterTest, FakeQuantAfterASameRangeOpRequantizesOnlyWhenTheRangeDiffers) {
  for (float hi : {6.f, 3.f}) {
    GraphBuilder b;
    std::string x = FakeQuant(&b, "in/q", b.Placeholder("input", {1, 4}), 0.f, 6.f);
    x = b.Reshape("r", x, {2, 2});
    FakeQuant(&b, "out", x, 0.f, hi);
    ConvertOptions o;
    o.output_arrays = {"out"};
    auto r = converter::Convert(b.Build(), o);
    ASSERT_TRUE(r.ok()) << r.status();
    const tflite::Model* m = Parse(r->flatbuffer);
    using B = tflite::BuiltinOperator;
    if (hi == 6.f) EXPECT_THAT(OpCodes(m), ::testing::ElementsAre(B::RESHAPE));
    else EXPECT_THAT(OpCodes(m), ::testing::ElementsAre(B::RESHAPE, B::QUANTIZE));
  }
}

TEST(ConverterTest, BatchNormFoldedWeightsAreConstantFolded) {
  // FakeQuant(Mul(w, gamma/sigma)) as batch-norm folding leaves it after freeze.
  GraphBuilder b;
  std::string x = FakeQuant(&b, "in/q", b.Placeholder("input", {1, 2, 2, 1}), -1.f, 1.f);
  HostTensor<float> w;
  w.shape = {1, 1, 1, 2};
  w.values = {0.5f, -0.25f};
  const std::string mul = b.Binary("Mul", "bn/mul_fold", b.Const("w", w), b.Const("bn/scale", Vec({2.f, 4.f})));
  const std::string wq = FakeQuant(&b, "bn/weights_quant", mul, -1.f, 1.f, true);
  std::string c = b.Conv2D("conv", x, wq, 1, "VALID");
  c = b.Binary("Add", "bn/add_fold", c, b.Const("bn/offset", Vec({0.5f, 0.25f})));
  FakeQuant(&b, "out", c, -2.f, 2.f);
  ConvertOptions o;
  o.output_arrays = {"out"};
  auto r = converter::Convert(b.Build(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  const tflite::Model* m = Parse(r->flatbuffer);
  EXPECT_THAT(OpCodes(m), ::testing::ElementsAre(tflite::BuiltinOperator::CONV_2D));
  const auto* wt = TensorNamed(m, "bn/weights_quant");
  ASSERT_NE(wt, nullptr);
  const auto* d = m->buffers()->Get(wt->buffer())->data();
  const float s = wt->quantization()->scale()->Get(0);
  const int zp = static_cast<int>(wt->quantization()->zero_point()->Get(0));
  EXPECT_NEAR((d->Get(0) - zp) * s, 1.f, 1e-6);   // 0.5 * 2
  EXPECT_NEAR((d->Get(1) - zp) * s, -1.f, 1e-6);  // -0.25 * 4
}

// ---- errors -------------------------------------------------------------------------------------

TEST(ConverterErrorsTest, ReportsEveryProblemAtOnceNamingNodesAndFixes) {
  GraphBuilder b;
  std::string x = FakeQuant(&b, "in/q", b.Placeholder("input", {1, 4, 4, 1}), -1.f, 1.f);
  HostTensor<float> w;
  w.shape = {1, 1, 1, 1};
  w.values = {0.5f};
  // conv1's output has no FakeQuant (lacks min/max); conv2's weights have none either; exp is
  // unsupported; q4 is 4-bit. One run reports all of them.
  std::string c1 = b.Conv2D("conv1", x, QuantWeights(&b, "w1", w), 1, "SAME");
  std::string c2 = b.Conv2D("conv2", c1, b.Const("w2_plain", w), 1, "SAME");
  c2 = FakeQuant(&b, "conv2/q", c2, -1.f, 1.f);
  const std::string e = b.Unary("Exp", "weird/exp", c2);
  FakeQuant(&b, "q4", e, 0.f, 1.f, false, 4);
  ConvertOptions o;
  o.output_arrays = {"q4", "conv2/q"};
  converter::Diagnostics diag;
  auto r = converter::Convert(b.Build(), o, &diag);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("4 problems (nothing was written)"));
  EXPECT_THAT(msg, HasSubstr("node 'weird/exp' (Exp): unsupported op; fix:"));
  EXPECT_THAT(msg, HasSubstr("node 'q4' (FakeQuantWithMinMaxVars): num_bits=4 is not supported"));
  EXPECT_THAT(msg, HasSubstr("tensor 'conv1' has no min/max (output of node 'conv1' (Conv2D)); fix: insert a FakeQuant"));
  EXPECT_THAT(msg, HasSubstr("weights 'w2_plain' of node 'conv2' (Conv2D) have no FakeQuant"));
  EXPECT_EQ(diag.errors.size(), 4u) << msg;
  for (const auto& e2 : diag.errors) EXPECT_THAT(e2, HasSubstr("fix:"));
}

TEST(ConverterErrorsTest, BadArraysAndFlagsAreNamed) {
  ConvertOptions o;
  o.output_arrays = {"nope"};
  o.input_arrays = {"c1/Conv2D"};
  auto r = converter::Convert(SmallNet(), o);
  ASSERT_FALSE(r.ok());
  const std::string msg(r.status().message());
  EXPECT_THAT(msg, HasSubstr("--output-arrays: no node 'nope'"));
  EXPECT_THAT(msg, HasSubstr("node 'c1/Conv2D' (Conv2D): is listed in --input-arrays but is not a Placeholder"));
  ConvertOptions f;
  f.inference_type = ElemType::kFloat32;
  f.mean_values = {128.f};
  f.std_values = {128.f};
  f.output_arrays = {"probs"};
  auto rf = converter::Convert(SmallNet(), f);
  ASSERT_FALSE(rf.ok());
  EXPECT_THAT(std::string(rf.status().message()), HasSubstr("--mean-values/--std-dev-values describe quantized inputs"));
}

TEST(ConverterErrorsTest, PerChannelWeightsNeedInt8) {
  ConvertOptions o;
  o.inference_type = ElemType::kUInt8;
  o.output_arrays = {"logits"};
  auto r = converter::Convert(SmallNet(true, /*per_channel=*/false), o);
  ASSERT_TRUE(r.ok());
  // Per-channel FakeQuant on MatMul is refused in every mode; on conv only in uint8.
  GraphBuilder b;
  std::string x = FakeQuant(&b, "in/q", b.Placeholder("input", {1, 2, 2, 1}), -1.f, 1.f);
  HostTensor<float> w;
  w.shape = {1, 1, 1, 2};
  w.values = {0.5f, -0.25f};
  const std::string wq = FakeQuantPerChannel(&b, "wq", b.Const("w", w), {-0.5f, -0.25f}, {0.5f, 0.25f});
  FakeQuant(&b, "out", b.Conv2D("conv", x, wq, 1, "VALID"), -2.f, 2.f);
  o.output_arrays = {"out"};
  auto u8 = converter::Convert(b.Build(), o);
  ASSERT_FALSE(u8.ok());
  EXPECT_THAT(std::string(u8.status().message()), HasSubstr("--inference-type int8"));
  o.inference_type = ElemType::kInt8;
  EXPECT_TRUE(converter::Convert(b.Build(), o).ok());
}

TEST(ConverterErrorsTest, AsymmetricWeightRangeInInt8IsRequantizedWithAWarning) {
  GraphBuilder b;
  std::string x = FakeQuant(&b, "in/q", b.Placeholder("input", {1, 2}), -1.f, 1.f);
  HostTensor<float> w;
  w.shape = {2, 2};
  w.values = {0.5f, -0.1f, 0.3f, 0.2f};
  FakeQuant(&b, "out", b.MatMul("fc", x, QuantWeights(&b, "w", w, /*symmetric=*/false)), -2.f, 2.f);
  ConvertOptions o;
  o.inference_type = ElemType::kInt8;
  o.output_arrays = {"out"};
  auto r = converter::Convert(b.Build(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->report.asymmetric_weights.size(), 1u);
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_THAT(r->warnings[0], HasSubstr("not symmetric"));
  const tflite::Model* m = Parse(r->flatbuffer);
  const auto* t = TensorNamed(m, "w/weights_quant");
  EXPECT_EQ(t->quantization()->zero_point()->Get(0), 0);
}

TEST(ConverterTest, DefaultRangesAreListedWarnedAndRecordedInMetadata) {
  ConvertOptions o;
  o.output_arrays = {"probs"};
  auto plain = converter::Convert(SmallNet(/*with_ranges=*/false), o);
  ASSERT_FALSE(plain.ok());
  o.default_ranges = std::make_pair(-6.f, 6.f);
  auto r = converter::Convert(SmallNet(false), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->report.made_up_ranges, ::testing::Contains(std::string("c1/Relu6")));
  EXPECT_THAT(r->report.made_up_ranges, ::testing::Contains(std::string("c1/w")));
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_THAT(r->warnings.back(), HasSubstr("performance tests only"));
  const tflite::Model* m = Parse(r->flatbuffer);
  bool found = false;
  for (const auto* md : *m->metadata()) {
    if (md->name()->str() != "tfqat_default_ranges") continue;
    found = true;
    const auto* d = m->buffers()->Get(md->buffer())->data();
    const std::string s(reinterpret_cast<const char*>(d->data()), d->size());
    EXPECT_THAT(s, HasSubstr("c1/Relu6"));
  }
  EXPECT_TRUE(found);
}

TEST(ConverterTest, FloatConversionKeepsFloatWeights) {
  ConvertOptions o;
  o.inference_type = ElemType::kFloat32;
  o.output_arrays = {"probs"};
  auto r = converter::Convert(SmallNet(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  const tflite::Model* m = Parse(r->flatbuffer);
  for (const auto* t : *m->subgraphs()->Get(0)->tensors()) {
    EXPECT_TRUE(t->type() == tflite::TensorType::FLOAT32 || t->type() == tflite::TensorType::INT32) << t->name()->str();
    EXPECT_EQ(t->quantization(), nullptr);
  }
  EXPECT_EQ(OpCodes(m).size(), 9u);  // no requantize in float
}

// ---- CLI ----------------------------------------------------------------------------------------

class ConvertCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("TFQAT_BIN");
    if (!bin) GTEST_SKIP() << "TFQAT_BIN not set (run through ctest)";
    bin_ = bin;
    dir_ = ScratchDir("cli");
  }
  std::string bin_, dir_;
};

TEST_F(ConvertCliTest, WritesAModelAndReportsJson) {
  ASSERT_TRUE(SaveGraphDef(SmallNet(), dir_ + "/net.pb").ok());
  std::string out;
  const int rc = RunCommand(absl::StrCat(bin_, " convert ", dir_, "/net.pb -o ", dir_,
                                         "/net.tflite --output-arrays logits --inference-type int8 "
                                         "--inference-input-type uint8 --mean-values 128 --std-dev-values 127.5 --json"),
                            &out);
  ASSERT_EQ(rc, 0) << out;
  auto j = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["inputs"][0]["dtype"], "uint8");
  EXPECT_EQ(j["inputs"][0]["quantization"]["zero_point"][0], 128);
  struct stat st;
  EXPECT_EQ(::stat((dir_ + "/net.tflite").c_str(), &st), 0);
}

TEST_F(ConvertCliTest, ErrorsExitTwoAndWriteNothing) {
  ASSERT_TRUE(SaveGraphDef(SmallNet(/*with_ranges=*/false), dir_ + "/bad.pb").ok());
  ::unlink((dir_ + "/bad.tflite").c_str());
  std::string out;
  const int rc = RunCommand(absl::StrCat(bin_, " convert ", dir_, "/bad.pb -o ", dir_, "/bad.tflite --output-arrays probs"), &out);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_THAT(out, HasSubstr("problems (nothing was written)"));
  EXPECT_THAT(out, HasSubstr("c1/Relu6"));
  struct stat st;
  EXPECT_NE(::stat((dir_ + "/bad.tflite").c_str(), &st), 0);
  // Bad flag values are errors too.
  EXPECT_EQ(RunCommand(absl::StrCat(bin_, " convert ", dir_, "/bad.pb -o ", dir_, "/x.tflite --inference-type int4"), &out), 2);
  EXPECT_THAT(out, HasSubstr("--inference-type"));
}

}  // namespace
}  // namespace tfqat::testing

// Tests of `tfqat audit`: one graph per kind of violation, rewritten graphs audit clean, the real
// QAT model audits truthfully, the legacy quantize_nodes scenario, the CLI (exit codes, JSON, SVG).
#include "rewriter/audit.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "graph/attrs.h"
#include "graph/graph_builder.h"
#include "graph/graph_io.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rewriter/quantize.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;

HostTensor<float> Filled(std::vector<int64_t> shape, float scale = 0.3f, int seed = 1) {
  HostTensor<float> t;
  t.shape = shape;
  t.values.resize(t.num_elements());
  uint32_t s = 2463534242u + seed;
  for (auto& v : t.values) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    v = scale * (static_cast<float>(s % 2001) / 1000.f - 1.f);
  }
  return t;
}

HostTensor<float> Vec(std::vector<float> v) {
  HostTensor<float> t;
  t.shape = {static_cast<int64_t>(v.size())};
  t.values = std::move(v);
  return t;
}
HostTensor<float> Scalar(float v) {
  HostTensor<float> t;
  t.values = {v};
  return t;
}

// FakeQuantWithMinMaxVars(input, Const min, Const max).
std::string FQ(GraphBuilder& g, const std::string& name, const std::string& input, float min, float max,
               int bits = 8, bool narrow = false) {
  std::string mn = g.Const(name + "/min", Scalar(min));
  std::string mx = g.Const(name + "/max", Scalar(max));
  auto* n = g.AddNode(name, "FakeQuantWithMinMaxVars", {input, mn, mx});
  SetAttr(n, "num_bits", static_cast<int64_t>(bits));
  SetAttr(n, "narrow_range", narrow);
  return name;
}

std::string FQPerChannel(GraphBuilder& g, const std::string& name, const std::string& input, int channels) {
  std::vector<float> lo(channels, -1.0f), hi(channels, 1.0f);
  std::string mn = g.Const(name + "/min", Vec(lo));
  std::string mx = g.Const(name + "/max", Vec(hi));
  auto* n = g.AddNode(name, "FakeQuantWithMinMaxVarsPerChannel", {input, mn, mx});
  SetAttr(n, "num_bits", static_cast<int64_t>(8));
  SetAttr(n, "narrow_range", true);
  return name;
}

struct LayerOpts {
  bool weights_fq = true;
  bool act_fq = true;
  std::string act = "Relu6";
  int bits = 8;
  float act_min = 0.0f, act_max = 6.0f;
};

// x -> Conv2D(x, FQ(w)) -> BiasAdd(b) -> Relu6 -> FQ [0, 6]. Returns the layer's output tensor.
std::string Layer(GraphBuilder& g, const std::string& p, const std::string& x, int cin, int cout,
                  const LayerOpts& o = {}) {
  std::string w = g.Const(p + "/weights", Filled({3, 3, cin, cout}));
  std::string wq = o.weights_fq ? FQ(g, p + "/weights_quant", w, -0.3f, 0.3f, o.bits, true) : w;
  std::string c = g.Conv2D(p + "/Conv2D", x, wq, 1, "SAME");
  std::string b = g.BiasAdd(p + "/BiasAdd", c, g.Const(p + "/biases", Filled({cout}, 0.1f, 3)));
  std::string a = g.Unary(o.act, p + "/" + o.act, b);
  return o.act_fq ? FQ(g, p + "/act_quant", a, o.act_min, o.act_max, o.bits) : a;
}

AuditReport Audit(const tensorflow::GraphDef& g, std::vector<std::string> outputs = {}) {
  AuditOptions o;
  o.outputs = std::move(outputs);
  auto r = AuditGraph(g, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : AuditReport{};
}

std::vector<const AuditFinding*> With(const AuditReport& r, const std::string& rule) {
  std::vector<const AuditFinding*> out;
  for (const auto& f : r.findings)
    if (f.rule == rule) out.push_back(&f);
  return out;
}

const AuditTensor* TensorOf(const AuditReport& r, const std::string& node) {
  for (const auto& t : r.tensors)
    if (t.node == node) return &t;
  return nullptr;
}

std::string Dump(const AuditReport& r) { return RenderAuditText(r); }

// ---------------------------------------------------------------------------------------------
TEST(AuditTest, CorrectlyQuantizedGraphIsClean) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string l1 = Layer(g, "conv1", x, 3, 4);
  std::string p = g.Pool("MaxPool", "pool", l1, 2, 2, "SAME");
  std::string l2 = Layer(g, "conv2", p, 4, 4);
  std::string r = g.Reshape("flatten", l2, {1, -1});
  g.Unary("Softmax", "probs", r);
  AuditReport rep = Audit(g.Build());
  EXPECT_FALSE(rep.HasProblems()) << Dump(rep);
  ASSERT_EQ(rep.layers.size(), 2u);
  EXPECT_EQ(rep.layers[0].kind, "Conv2D+BiasAdd+Relu6");
  EXPECT_EQ(rep.layers[0].weights_quant, "conv1/weights_quant");
  // Where each tensor's range comes from.
  const AuditTensor* relu = TensorOf(rep, "conv1/Relu6");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->source, RangeSource::kFakeQuant);
  EXPECT_EQ(relu->from, "conv1/act_quant");
  ASSERT_TRUE(relu->has_values);
  EXPECT_FLOAT_EQ(relu->min, 0.0f);
  EXPECT_FLOAT_EQ(relu->max, 6.0f);
  const AuditTensor* pool = TensorOf(rep, "pool");
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->source, RangeSource::kPassThrough);
  EXPECT_EQ(pool->from, "conv1/act_quant");
  const AuditTensor* flat = TensorOf(rep, "flatten");
  ASSERT_NE(flat, nullptr);
  EXPECT_EQ(flat->source, RangeSource::kPassThrough);
  const AuditTensor* probs = TensorOf(rep, "probs");
  ASSERT_NE(probs, nullptr);
  EXPECT_EQ(probs->source, RangeSource::kFixed);
  EXPECT_FLOAT_EQ(probs->max, 255.0f / 256.0f);
  // Interior of a fused layer is not a tensor of its own.
  EXPECT_EQ(TensorOf(rep, "conv1/Conv2D"), nullptr);
  EXPECT_EQ(TensorOf(rep, "conv1/BiasAdd"), nullptr);
  // The input comes from the converter's flags (info only).
  auto inputs = With(rep, audit_rule::kInputRange);
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(inputs[0]->node, "input");
  EXPECT_EQ(inputs[0]->severity, AuditSeverity::kInfo);
}

TEST(AuditTest, EveryArrayLackingMinMaxIsListed) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  LayerOpts no_act;
  no_act.act_fq = false;
  std::string l1 = Layer(g, "conv1", x, 3, 4, no_act);
  std::string l2 = Layer(g, "conv2", l1, 4, 4, no_act);
  std::string l3 = Layer(g, "conv3", l2, 4, 4);
  std::string sum = g.Binary("AddV2", "sum", l3, l3);
  g.Unary("Identity", "out", sum);
  AuditReport rep = Audit(g.Build());
  auto missing = With(rep, audit_rule::kMissingRange);
  std::vector<std::string> nodes;
  for (auto* f : missing) nodes.push_back(f->node);
  EXPECT_THAT(nodes, ::testing::ElementsAre("conv1/Relu6", "conv2/Relu6", "sum")) << Dump(rep);
  EXPECT_THAT(missing[0]->message, HasSubstr("lacking min/max data"));
  EXPECT_THAT(missing[0]->message, HasSubstr("layer 'conv1/Conv2D' (Conv2D+BiasAdd+Relu6) needs a FakeQuant after its activation"));
  EXPECT_THAT(missing[2]->message, HasSubstr("elementwise AddV2"));
  EXPECT_THAT(missing[0]->fix, HasSubstr("tfqat rewrite"));
  EXPECT_THAT(missing[0]->fix, HasSubstr("--default-ranges-min"));
  EXPECT_EQ(missing[0]->severity, AuditSeverity::kError);
  EXPECT_TRUE(rep.HasProblems());
}

TEST(AuditTest, RangeTakenBackwardThroughSameRangeOp) {
  // conv1's Relu6 has no FakeQuant, but the MaxPool after it has: same range (converter rule 4).
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  LayerOpts no_act;
  no_act.act_fq = false;
  std::string l1 = Layer(g, "conv1", x, 3, 4, no_act);
  std::string p = g.Pool("MaxPool", "pool", l1, 2, 2, "SAME");
  FQ(g, "pool_quant", p, 0, 6);
  AuditReport rep = Audit(g.Build());
  EXPECT_TRUE(With(rep, audit_rule::kMissingRange).empty()) << Dump(rep);
  const AuditTensor* relu = TensorOf(rep, "conv1/Relu6");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->source, RangeSource::kPassThrough);
  EXPECT_EQ(relu->from, "pool_quant");
}

TEST(AuditTest, UnquantizedWeights) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  LayerOpts o;
  o.weights_fq = false;
  Layer(g, "conv1", x, 3, 4, o);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kUnquantizedWeights);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->node, "conv1/Conv2D");
  EXPECT_EQ(f[0]->op, "Conv2D");
  EXPECT_THAT(f[0]->message, HasSubstr("float weights 'conv1/weights' (Const) without a FakeQuant"));
  EXPECT_THAT(f[0]->fix, HasSubstr("tfqat rewrite"));
}

TEST(AuditTest, FakeQuantBetweenWeightedOpAndBias) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string w = FQ(g, "conv1/weights_quant", g.Const("conv1/weights", Filled({3, 3, 3, 4})), -0.3f, 0.3f, 8, true);
  std::string c = g.Conv2D("conv1/Conv2D", x, w, 1, "SAME");
  std::string q = FQ(g, "conv1/conv_quant", c, -4, 4);
  std::string b = g.BiasAdd("conv1/BiasAdd", q, g.Const("conv1/biases", Filled({4})));
  std::string a = g.Unary("Relu6", "conv1/Relu6", b);
  FQ(g, "conv1/act_quant", a, 0, 6);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kFakeQuantBeforeBias);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->node, "conv1/conv_quant");
  EXPECT_THAT(f[0]->message, HasSubstr("sits between 'conv1/Conv2D' (Conv2D) and its bias/batch norm 'conv1/BiasAdd' (BiasAdd)"));
  // The now unfused BiasAdd is a tensor of its own; like the converter, the audit gives it the
  // range of the ReLU6 after it (converter rule 4), so it is not "missing".
  const AuditTensor* bias = TensorOf(rep, "conv1/BiasAdd");
  ASSERT_NE(bias, nullptr) << Dump(rep);
  EXPECT_EQ(bias->source, RangeSource::kPassThrough);
  EXPECT_EQ(bias->from, "conv1/act_quant");
  EXPECT_TRUE(With(rep, audit_rule::kMissingRange).empty()) << Dump(rep);
}

TEST(AuditTest, FakeQuantBeforeActivation) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string w = FQ(g, "conv1/weights_quant", g.Const("conv1/weights", Filled({3, 3, 3, 4})), -0.3f, 0.3f, 8, true);
  std::string c = g.Conv2D("conv1/Conv2D", x, w, 1, "SAME");
  std::string b = g.BiasAdd("conv1/BiasAdd", c, g.Const("conv1/biases", Filled({4})));
  std::string q = FQ(g, "conv1/pre_act_quant", b, -4, 4);
  std::string a = g.Unary("Relu", "conv1/Relu", q);
  g.Unary("Identity", "out", a);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kFakeQuantBeforeActivation);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->node, "conv1/pre_act_quant");
  EXPECT_THAT(f[0]->message, HasSubstr("and its activation 'conv1/Relu' (Relu)"));
  EXPECT_THAT(f[0]->fix, HasSubstr("after the layer's activation"));
}

TEST(AuditTest, QuantizedBias) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string w = FQ(g, "conv1/weights_quant", g.Const("conv1/weights", Filled({3, 3, 3, 4})), -0.3f, 0.3f, 8, true);
  std::string c = g.Conv2D("conv1/Conv2D", x, w, 1, "SAME");
  std::string bq = FQ(g, "conv1/bias_quant", g.Const("conv1/biases", Filled({4})), -0.5f, 0.5f);
  std::string b = g.Binary("Add", "conv1/add", c, bq);
  std::string a = g.Unary("Relu6", "conv1/Relu6", b);
  FQ(g, "conv1/act_quant", a, 0, 6);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kBiasQuantized);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->node, "conv1/bias_quant");
  EXPECT_EQ(f[0]->severity, AuditSeverity::kWarning);
  EXPECT_THAT(f[0]->message, HasSubstr("quantizes the bias of 'conv1/Conv2D' (Conv2D)"));
  EXPECT_THAT(f[0]->message, HasSubstr("int32"));
  // Still converts: nothing lacks a range.
  EXPECT_TRUE(With(rep, audit_rule::kMissingRange).empty()) << Dump(rep);
}

TEST(AuditTest, NudgeMatchesTheKernelFormula) {
  // Independent values: [0.5, 2] at 8 bits has scale 1.5/255 and zero point from min -85 → 0,
  // so the kernel uses [0, 1.5]; [-2, -0.5] → zero point 255 → [-1.5, 0].
  NudgedRange a = NudgeRange(0.5f, 2.0f, 8, false);
  EXPECT_FLOAT_EQ(a.min, 0.0f);
  EXPECT_FLOAT_EQ(a.max, 1.5f);
  NudgedRange b = NudgeRange(-2.0f, -0.5f, 8, false);
  EXPECT_FLOAT_EQ(b.min, -1.5f);
  EXPECT_FLOAT_EQ(b.max, 0.0f);
  // [-1, 1]: 0 - (-1)/(2/255) is 127.49999 in float32 → zero point 127 (docs/converter.md).
  NudgedRange c = NudgeRange(-1.0f, 1.0f, 8, false);
  EXPECT_EQ(c.zero_point, 127.0f);
}

TEST(AuditTest, RangesThatExcludeZeroOrAreEmpty) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 4});
  std::string a = FQ(g, "positive", x, 0.5f, 2.0f);
  std::string b = FQ(g, "negative", g.Unary("Neg", "neg", a), -2.0f, -0.5f);
  std::string c = FQ(g, "equal", g.Unary("Neg", "neg2", b), 1.0f, 1.0f);
  FQ(g, "inverted", g.Unary("Neg", "neg3", c), 1.0f, -1.0f);
  AuditReport rep = Audit(g.Build());
  auto excl = With(rep, audit_rule::kRangeExcludesZero);
  ASSERT_EQ(excl.size(), 2u) << Dump(rep);
  EXPECT_EQ(excl[0]->node, "positive");
  EXPECT_THAT(excl[0]->message, HasSubstr("[0.5, 2] does not contain 0; TensorFlow nudges it to [0, 1.5]"));
  EXPECT_EQ(excl[1]->node, "negative");
  EXPECT_THAT(excl[1]->message, HasSubstr("nudges it to [-1.5, 0]"));
  auto empty = With(rep, audit_rule::kEmptyRange);
  ASSERT_EQ(empty.size(), 2u) << Dump(rep);
  EXPECT_EQ(empty[0]->node, "equal");
  EXPECT_THAT(empty[0]->message, HasSubstr("NaN"));
  EXPECT_EQ(empty[1]->node, "inverted");
  EXPECT_THAT(empty[1]->message, HasSubstr("negative"));
  EXPECT_EQ(empty[1]->severity, AuditSeverity::kError);
}

TEST(AuditTest, ConcatInputsWithDifferentRanges) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string a = Layer(g, "a", x, 3, 4);
  LayerOpts o;
  o.act_max = 3.0f;
  std::string b = Layer(g, "b", x, 3, 4, o);
  std::string cat = g.ConcatV2("concat", {a, b}, 3);
  g.Unary("Identity", "out", cat);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kConcatRanges);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->node, "concat");
  EXPECT_THAT(f[0]->message, HasSubstr("'a/act_quant' [0, 6]"));
  EXPECT_THAT(f[0]->message, HasSubstr("'b/act_quant' [0, 3]"));
  // Without a common range and without a FakeQuant of its own, the converter takes the union.
  EXPECT_THAT(f[0]->message, HasSubstr("onto the union of their ranges [0, 6]"));
  EXPECT_TRUE(With(rep, audit_rule::kMissingRange).empty()) << Dump(rep);
  const AuditTensor* t = TensorOf(rep, "concat");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->source, RangeSource::kPassThrough);
  EXPECT_FLOAT_EQ(t->max, 6.0f);
}

TEST(AuditTest, ConcatWithTiedRangesPassesThrough) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string a = Layer(g, "a", x, 3, 4);
  std::string b = Layer(g, "b", x, 3, 4);
  std::string cat = g.ConcatV2("concat", {a, b}, 3);
  g.Unary("Identity", "out", cat);
  AuditReport rep = Audit(g.Build());
  EXPECT_FALSE(rep.HasProblems()) << Dump(rep);
  const AuditTensor* t = TensorOf(rep, "concat");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->source, RangeSource::kPassThrough);
}

TEST(AuditTest, PerChannelOnTheWrongAxis) {
  for (int channels : {3, 4}) {
    GraphBuilder g;
    std::string x = g.Placeholder("input", {1, 8, 8, 3});
    std::string w = FQPerChannel(g, "conv1/weights_quant", g.Const("conv1/weights", Filled({3, 3, 3, 4})), channels);
    std::string c = g.Conv2D("conv1/Conv2D", x, w, 1, "SAME");
    std::string a = g.Unary("Relu6", "conv1/Relu6", c);
    FQ(g, "conv1/act_quant", a, 0, 6);
    AuditReport rep = Audit(g.Build());
    auto f = With(rep, audit_rule::kPerChannelAxis);
    if (channels == 4) {
      EXPECT_TRUE(f.empty()) << Dump(rep);
      EXPECT_FALSE(rep.HasProblems()) << Dump(rep);
      ASSERT_EQ(rep.layers.size(), 1u);
      EXPECT_TRUE(rep.layers[0].per_channel);
    } else {
      ASSERT_EQ(f.size(), 1u) << Dump(rep);
      EXPECT_EQ(f[0]->node, "conv1/weights_quant");
      EXPECT_THAT(f[0]->message, HasSubstr("has 3 channels, but the output-channel axis 3 of the HWIO filter has 4"));
    }
  }
}

TEST(AuditTest, PerChannelOnMatMulIsRefused) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 6});
  std::string w = FQPerChannel(g, "fc/weights_quant", g.Const("fc/weights", Filled({6, 5})), 5);
  std::string m = g.MatMul("fc/MatMul", x, w);
  FQ(g, "fc/act_quant", m, -3, 3);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kPerChannelAxis);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_THAT(f[0]->message, HasSubstr("FULLY_CONNECTED weights per tensor"));
}

TEST(AuditTest, MixedBitWidths) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string l1 = Layer(g, "conv1", x, 3, 4);
  LayerOpts four;
  four.bits = 4;
  Layer(g, "conv2", l1, 4, 4, four);
  AuditReport rep = Audit(g.Build());
  auto bits = With(rep, audit_rule::kBitWidth);
  ASSERT_EQ(bits.size(), 2u) << Dump(rep);  // conv2's weights and activation
  EXPECT_EQ(bits[0]->node, "conv2/weights_quant");
  EXPECT_THAT(bits[0]->message, HasSubstr("num_bits=4"));
  auto mixed = With(rep, audit_rule::kMixedBitWidths);
  ASSERT_EQ(mixed.size(), 1u);
  EXPECT_THAT(mixed[0]->message, HasSubstr("2 FakeQuant at 4 bits"));
  EXPECT_THAT(mixed[0]->message, HasSubstr("2 FakeQuant at 8 bits"));
}

TEST(AuditTest, UnmatchedWeightedOpSaysWhy) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string w = g.Placeholder("dynamic_weights", {3, 3, 3, 4});
  std::string c = g.Conv2D("conv1/Conv2D", x, w, 1, "SAME");
  FQ(g, "conv1/act_quant", c, -3, 3);
  AuditReport rep = Audit(g.Build());
  auto f = With(rep, audit_rule::kUnmatchedWeightedOp);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->node, "conv1/Conv2D");
  EXPECT_THAT(f[0]->message, HasSubstr("not part of any layer"));
  // The matcher's failure reason is passed on: it names the weights it expected.
  EXPECT_THAT(f[0]->message, HasSubstr("weights"));
}

TEST(AuditTest, FloatGraphHasNoFakeQuant) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  LayerOpts o;
  o.weights_fq = false;
  o.act_fq = false;
  Layer(g, "conv1", x, 3, 4, o);
  AuditReport rep = Audit(g.Build());
  EXPECT_EQ(With(rep, audit_rule::kNoFakeQuant).size(), 1u);
  EXPECT_EQ(With(rep, audit_rule::kUnquantizedWeights).size(), 1u);
  EXPECT_EQ(With(rep, audit_rule::kMissingRange).size(), 1u);
}

// The user quantized inception_v3 with `transform_graph ... quantize_weights quantize_nodes`
// and the converter said "Input array not found: input". Build that kind of graph.
tensorflow::GraphDef LegacyInceptionLike() {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  g.Const("input_min", Scalar(-1));
  g.Const("input_max", Scalar(1));
  auto* q = g.AddNode("input_quantize", "QuantizeV2", {"input", "input_min", "input_max"});
  SetAttr(q, "T", tensorflow::DT_QUINT8);
  SetAttr(q, "mode", "MIN_FIRST");
  HostTensor<uint8_t> wq;
  wq.shape = {3, 3, 3, 4};
  wq.values.assign(108, 128);
  auto* w = g.AddNode("conv/weights_quint8_const", "Const", {});
  SetAttr(w, "dtype", tensorflow::DT_QUINT8);
  tensorflow::TensorProto wt = EncodeTensor(wq);
  wt.set_dtype(tensorflow::DT_QUINT8);
  SetAttr(w, "value", wt);
  g.Const("conv/weights_min", Scalar(-0.5f));
  g.Const("conv/weights_max", Scalar(0.5f));
  auto* c = g.AddNode("conv/Conv2D_eightbit_quantized_conv", "QuantizedConv2D",
                      {"input_quantize", "conv/weights_quint8_const", "input_quantize:1", "input_quantize:2",
                       "conv/weights_min", "conv/weights_max"});
  SetAttr(c, "Tinput", tensorflow::DT_QUINT8);
  SetAttr(c, "Tfilter", tensorflow::DT_QUINT8);
  SetAttr(c, "out_type", tensorflow::DT_QINT32);
  SetAttr(c, "strides", std::vector<int64_t>{1, 1, 1, 1});
  SetAttr(c, "padding", "SAME");
  auto* rr = g.AddNode("conv/Conv2D_eightbit_requant_range", "RequantizationRange",
                       {"conv/Conv2D_eightbit_quantized_conv", "conv/Conv2D_eightbit_quantized_conv:1",
                        "conv/Conv2D_eightbit_quantized_conv:2"});
  SetAttr(rr, "Tinput", tensorflow::DT_QINT32);
  auto* rq = g.AddNode("conv/Conv2D_eightbit_requantize", "Requantize",
                       {"conv/Conv2D_eightbit_quantized_conv", "conv/Conv2D_eightbit_quantized_conv:1",
                        "conv/Conv2D_eightbit_quantized_conv:2", "conv/Conv2D_eightbit_requant_range",
                        "conv/Conv2D_eightbit_requant_range:1"});
  SetAttr(rq, "Tinput", tensorflow::DT_QINT32);
  SetAttr(rq, "out_type", tensorflow::DT_QUINT8);
  auto* relu = g.AddNode("conv/Relu_eightbit_quantized", "QuantizedRelu",
                         {"conv/Conv2D_eightbit_requantize", "conv/Conv2D_eightbit_requantize:1",
                          "conv/Conv2D_eightbit_requantize:2"});
  SetAttr(relu, "Tinput", tensorflow::DT_QUINT8);
  SetAttr(relu, "out_type", tensorflow::DT_QUINT8);
  auto* dq = g.AddNode("conv/Relu", "Dequantize",
                       {"conv/Relu_eightbit_quantized", "conv/Relu_eightbit_quantized:1",
                        "conv/Relu_eightbit_quantized:2"});
  SetAttr(dq, "T", tensorflow::DT_QUINT8);
  SetAttr(dq, "mode", "MIN_FIRST");
  g.Unary("Softmax", "softmax", "conv/Relu");
  (void)x;
  return g.Build();
}

TEST(AuditTest, LegacyQuantizeNodesGraphIsExplained) {
  AuditReport rep = Audit(LegacyInceptionLike());
  EXPECT_TRUE(rep.legacy_quantized);
  auto f = With(rep, audit_rule::kLegacyQuantized);
  ASSERT_EQ(f.size(), 1u) << Dump(rep);
  EXPECT_EQ(f[0]->severity, AuditSeverity::kError);
  EXPECT_EQ(f[0]->node, "input_quantize");
  EXPECT_EQ(f[0]->op, "QuantizeV2");
  EXPECT_THAT(f[0]->message, HasSubstr("quantize_nodes"));
  EXPECT_THAT(f[0]->message, HasSubstr("TFLite converter cannot take it"));
  EXPECT_THAT(f[0]->message, HasSubstr("1 QuantizedConv2D"));
  EXPECT_THAT(f[0]->message, HasSubstr("1 Requantize"));
  EXPECT_THAT(f[0]->message, HasSubstr("'input' feeds 'input_quantize' (QuantizeV2)"));
  EXPECT_THAT(f[0]->message, HasSubstr("Input array not found"));
  EXPECT_THAT(f[0]->fix, HasSubstr("float graph"));
  EXPECT_THAT(f[0]->fix, HasSubstr("tfqat rewrite"));
  // No cascade of per-tensor findings: the one explanation covers them.
  EXPECT_TRUE(With(rep, audit_rule::kMissingRange).empty()) << Dump(rep);
  EXPECT_TRUE(With(rep, audit_rule::kNoFakeQuant).empty());
}

TEST(AuditTest, BadOutputNameIsAnError) {
  GraphBuilder g;
  g.Placeholder("input", {1, 4});
  AuditOptions o;
  o.outputs = {"nope"};
  auto r = AuditGraph(g.Build(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nope"));
}

// ---------------------------------------------------------------------------------------------
// Graphs written by `tfqat rewrite` audit clean.

tensorflow::GraphDef FloatNet(int variant) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  auto layer = [&](const std::string& p, const std::string& in, int cin, int cout, bool relu) {
    std::string w = g.Identity(p + "/weights/read", g.Const(p + "/weights", Filled({3, 3, cin, cout}, 0.3f, cout)));
    std::string c = g.Conv2D(p + "/Conv2D", in, w, 1, "SAME");
    std::string b = g.BiasAdd(p + "/BiasAdd", c, g.Const(p + "/biases", Filled({cout}, 0.1f, 2)));
    return relu ? g.Unary("Relu6", p + "/Relu6", b) : b;
  };
  std::string out;
  if (variant == 0) {  // chain with pooling and a classifier
    std::string a = layer("conv1", x, 3, 4, true);
    std::string p = g.Pool("MaxPool", "pool", a, 2, 2, "SAME");
    std::string b = layer("conv2", p, 4, 4, true);
    std::string r = g.Reshape("flatten", b, {1, 64});
    std::string fw = g.Identity("fc/weights/read", g.Const("fc/weights", Filled({64, 10})));
    std::string m = g.MatMul("fc/MatMul", r, fw);
    std::string fb = g.BiasAdd("fc/BiasAdd", m, g.Const("fc/biases", Filled({10})));
    out = g.Unary("Softmax", "probs", fb);
  } else if (variant == 1) {  // inception-like concat
    std::string a = layer("branch_a", x, 3, 4, true);
    std::string b = layer("branch_b", x, 3, 2, true);
    std::string cat = g.ConcatV2("mixed/concat", {a, b}, 3);
    out = layer("head", cat, 6, 4, true);
  } else {  // residual block
    std::string a = layer("conv1", x, 3, 4, true);
    std::string b = layer("conv2", a, 4, 4, false);
    std::string s = g.Binary("AddV2", "block/add", b, a);
    out = g.Unary("Relu", "block/relu", s);
  }
  return g.Build();
}

TEST(AuditTest, RewrittenGraphsAuditClean) {
  for (int variant = 0; variant < 3; ++variant) {
    for (auto mode : {QuantizeOptions::Mode::kEval, QuantizeOptions::Mode::kTrain}) {
      for (bool per_channel : {false, true}) {
        SCOPED_TRACE(absl::StrCat("variant ", variant, " mode ", mode == QuantizeOptions::Mode::kEval ? "eval" : "train",
                                  per_channel ? " per-channel" : ""));
        tensorflow::GraphDef fl = FloatNet(variant);
        // The float graph is not clean...
        AuditReport before = Audit(fl);
        EXPECT_TRUE(before.HasProblems());
        EXPECT_FALSE(With(before, audit_rule::kUnquantizedWeights).empty());
        QuantizeOptions qo;
        qo.mode = mode;
        qo.per_channel = per_channel;
        auto q = InsertFakeQuant(fl, qo);
        ASSERT_TRUE(q.ok()) << q.status();
        // ...the rewritten one is.
        AuditReport after = Audit(q->graph);
        EXPECT_FALSE(after.HasProblems()) << Dump(after);
        EXPECT_GT(after.num_fake_quant, 0);
        for (const auto& l : after.layers) EXPECT_FALSE(l.weights_quant.empty()) << l.weighted_op;
        for (const auto& t : after.tensors) EXPECT_NE(t.source, RangeSource::kMissing) << t.tensor;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The real QAT model (power-of-two ranges, quantized biases): reported as it is.

TEST(AuditTest, RealQatModelAuditsTruthfully) {
  const std::string path = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/tf2ir/mobilenet_v2_ssd_0.25_160_qat_frozen.pb";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << path;
  auto g = LoadGraphDef(path);
  ASSERT_TRUE(g.ok()) << g.status();
  // Independent counts from the graph itself.
  int fq = 0, bias_quant = 0, weights_quant = 0;
  for (const auto& n : g->node()) {
    if (n.op() != "FakeQuantWithMinMaxVars") continue;
    ++fq;
    if (absl::StrContains(n.name(), "bias_quant")) ++bias_quant;
    if (absl::StrContains(n.name(), "weights_quant")) ++weights_quant;
  }
  ASSERT_EQ(fq, 227);
  AuditReport rep = Audit(*g);
  EXPECT_EQ(rep.num_fake_quant, 227);
  // Every quantized bias is reported, and nothing else is called a bias.
  auto bias = With(rep, audit_rule::kBiasQuantized);
  EXPECT_EQ(static_cast<int>(bias.size()), bias_quant) << Dump(rep);
  for (auto* f : bias) EXPECT_THAT(f->node, HasSubstr("bias_quant"));
  // Every weighted op has its weights quantized (behind the folded batch norm's Mul).
  EXPECT_TRUE(With(rep, audit_rule::kUnquantizedWeights).empty()) << Dump(rep);
  int with_wq = 0;
  for (const auto& l : rep.layers) with_wq += l.weights_quant.empty() ? 0 : 1;
  EXPECT_EQ(with_wq, weights_quant);
  EXPECT_FALSE(rep.legacy_quantized);
  EXPECT_TRUE(rep.HasProblems());
  // Layers ending in an Identity "activation" (the linear bottleneck projections) still have
  // their output range checked: every layer output is a listed tensor.
  for (const auto& l : rep.layers) EXPECT_NE(TensorOf(rep, l.output), nullptr) << l.output;
  // The SSD heads concatenate box predictions quantized on different power-of-two ranges.
  auto concat = With(rep, audit_rule::kConcatRanges);
  ASSERT_EQ(concat.size(), 2u) << Dump(rep);
  EXPECT_EQ(concat[0]->node, "concat");
  EXPECT_THAT(concat[0]->message, HasSubstr("'BoxPredictor_0/Reshape' [-16, 15.875]"));
  EXPECT_EQ(concat[1]->node, "concat_1");
  // Every FakeQuant range here is a power of two wide (min_po2/max_po2): none is flagged as empty.
  EXPECT_TRUE(With(rep, audit_rule::kEmptyRange).empty());
  EXPECT_TRUE(With(rep, audit_rule::kBitWidth).empty());
  // The one tensor without a range: the final RealDiv (scale_logits) has no FakeQuant.
  auto missing = With(rep, audit_rule::kMissingRange);
  ASSERT_EQ(missing.size(), 1u) << Dump(rep);
  EXPECT_EQ(missing[0]->op, "RealDiv");
  EXPECT_EQ(rep.Count(AuditSeverity::kError), 1);
  EXPECT_EQ(rep.Count(AuditSeverity::kWarning), 74);
}

// ---------------------------------------------------------------------------------------------
// Renderers and the CLI.

TEST(AuditTest, JsonSchema) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  LayerOpts o;
  o.act_fq = false;
  Layer(g, "conv1", x, 3, 4, o);
  AuditReport rep = Audit(g.Build());
  auto j = nlohmann::json::parse(RenderAuditJson(rep));
  EXPECT_EQ(j["schema"], "tfqat.audit/1");
  EXPECT_EQ(j["summary"]["missing_ranges"], 1);
  EXPECT_EQ(j["summary"]["clean"], false);
  ASSERT_TRUE(j["findings"].is_array());
  EXPECT_EQ(j["findings"][0]["severity"], "error");
  EXPECT_EQ(j["findings"][0]["rule"], "missing-range");
  EXPECT_EQ(j["findings"][0]["node"], "conv1/Relu6");
  bool found = false;
  for (const auto& t : j["tensors"]) {
    if (t["node"] == "conv1/Relu6") {
      found = true;
      EXPECT_EQ(t["source"], "missing");
      EXPECT_TRUE(t["min"].is_null());
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(j["layers"][0]["kind"], "Conv2D+BiasAdd+Relu6");
}

TEST(AuditTest, DotMarksMissingRangesAndAround) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  LayerOpts o;
  o.act_fq = false;
  std::string a = Layer(g, "conv1", x, 3, 4, o);
  std::string b = Layer(g, "conv2", a, 4, 4);
  Layer(g, "conv3", b, 4, 4);
  tensorflow::GraphDef gd = g.Build();
  AuditReport rep = Audit(gd);
  auto dot = RenderAuditDot(gd, rep, {});
  ASSERT_TRUE(dot.ok());
  EXPECT_THAT(*dot, HasSubstr("conv1/Relu6\\nRelu6\\nNO min/max"));
  EXPECT_THAT(*dot, HasSubstr("#f8d7da"));
  EXPECT_THAT(*dot, HasSubstr("conv3/act_quant"));
  AuditRenderOptions ro;
  ro.around = "conv1/Relu6";
  ro.depth = 1;
  auto near = RenderAuditDot(gd, rep, ro);
  ASSERT_TRUE(near.ok());
  EXPECT_THAT(*near, HasSubstr("conv1/Relu6"));
  EXPECT_THAT(*near, HasSubstr("conv2/Conv2D"));
  EXPECT_THAT(*near, ::testing::Not(HasSubstr("conv3/")));
  ro.around = "missing_node";
  EXPECT_FALSE(RenderAuditDot(gd, rep, ro).ok());
}

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("TFQAT_BIN");
    if (bin == nullptr || !std::filesystem::exists(bin)) GTEST_SKIP() << "TFQAT_BIN not set (run under ctest)";
    bin_ = bin;
    dir_ = std::filesystem::temp_directory_path() / absl::StrCat("tfqat_audit_test_", getpid());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  int RunCli(const std::string& args) {
    std::string cmd = absl::StrCat("'", bin_, "' audit ", args, " > '", (dir_ / "stdout").string(), "' 2> '",
                                   (dir_ / "stderr").string(), "'");
    int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ / name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string Save(const std::string& name, const tensorflow::GraphDef& g) {
    std::string p = (dir_ / name).string();
    EXPECT_TRUE(SaveGraphDef(g, p).ok());
    return p;
  }
  std::string bin_;
  std::filesystem::path dir_;
};

TEST_F(AuditCliTest, ExitCodes) {
  GraphBuilder good;
  Layer(good, "conv1", good.Placeholder("input", {1, 8, 8, 3}), 3, 4);
  EXPECT_EQ(RunCli(Save("good.pb", good.Build())), 0) << Read("stdout") << Read("stderr");
  EXPECT_THAT(Read("stdout"), HasSubstr("clean"));

  GraphBuilder bad;
  LayerOpts o;
  o.act_fq = false;
  Layer(bad, "conv1", bad.Placeholder("input", {1, 8, 8, 3}), 3, 4, o);
  EXPECT_EQ(RunCli(Save("bad.pbtxt", bad.Build())), 1);
  std::string text = Read("stdout");
  EXPECT_THAT(text, HasSubstr("errors (1):"));
  EXPECT_THAT(text, HasSubstr("node 'conv1/Relu6' (Relu6) [missing-range]"));
  EXPECT_THAT(text, HasSubstr("fix: run `tfqat rewrite`"));

  EXPECT_EQ(RunCli(Save("legacy.pb", LegacyInceptionLike()) + " --json"), 1);
  auto j = nlohmann::json::parse(Read("stdout"));
  EXPECT_EQ(j["summary"]["legacy_quantized"], true);

  {
    std::ofstream junk(dir_ / "junk.pb");
    junk << "this is not a graph";
  }
  EXPECT_EQ(RunCli((dir_ / "junk.pb").string()), 2);
  EXPECT_EQ(RunCli((dir_ / "does_not_exist.pb").string()), 2);
  EXPECT_EQ(RunCli(Save("good2.pb", good.Build()) + " --outputs nope"), 2);
  EXPECT_THAT(Read("stderr"), HasSubstr("nope"));
}

TEST_F(AuditCliTest, SvgIsProducedAndValidXml) {
  if (std::system("command -v dot > /dev/null 2>&1") != 0) GTEST_SKIP() << "Graphviz dot not installed";
  GraphBuilder g;
  LayerOpts o;
  o.act_fq = false;
  std::string a = Layer(g, "conv1", g.Placeholder("input", {1, 8, 8, 3}), 3, 4, o);
  Layer(g, "conv2", a, 4, 4);
  std::string svg = (dir_ / "audit.svg").string();
  std::string dot = (dir_ / "audit.dot").string();
  EXPECT_EQ(RunCli(absl::StrCat(Save("g.pb", g.Build()), " --svg '", svg, "' --dot '", dot, "'")), 1)
      << Read("stderr");
  ASSERT_TRUE(std::filesystem::exists(svg));
  ASSERT_TRUE(std::filesystem::exists(dot));
  std::string content = Read("audit.svg");
  EXPECT_THAT(content, HasSubstr("<svg"));
  EXPECT_THAT(content, HasSubstr("conv1/Relu6"));
  EXPECT_THAT(content, HasSubstr("NO min/max"));
  if (std::system("command -v xmllint > /dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(absl::StrCat("xmllint --noout '", svg, "'").c_str()), 0);
  }
  // --around on a big graph draws fewer nodes.
  EXPECT_EQ(RunCli(absl::StrCat((dir_ / "g.pb").string(), " --dot '", dot, "' --around conv1/Relu6 --depth 1")), 1);
  EXPECT_THAT(Read("audit.dot"), ::testing::Not(HasSubstr("conv2/act_quant")));
}

}  // namespace
}  // namespace tfqat

#include "patterns/layer_patterns.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "graph/attrs.h"
#include "tests/patterns/test_graphs.h"

namespace tfqat::patterns {
namespace {

using ::testing::HasSubstr;
using testing::Filled;
using testing::Idx;

struct Found {
  GraphView view;
  MatchSet set;
};

Found Layers(const tensorflow::GraphDef& gd) {
  auto v = GraphView::Create(gd);
  EXPECT_TRUE(v.ok()) << v.status();
  auto ms = FindLayers(*v);
  EXPECT_TRUE(ms.ok()) << ms.status();
  return Found{*std::move(v), *std::move(ms)};
}

TEST(LayerPatternTest, ConvBiasAddRelu) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  testing::ConvBiasRelu(g, "l1", x, 3, 4);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.weighted, Idx(f.view, "l1/Conv2D"));
  EXPECT_EQ(l.weights.node, Idx(f.view, "l1/weights/read"));
  EXPECT_EQ(l.weights_source, Idx(f.view, "l1/weights/read"));
  EXPECT_EQ(l.bias, Idx(f.view, "l1/BiasAdd"));
  EXPECT_EQ(l.bias_param, Idx(f.view, "l1/biases"));
  EXPECT_EQ(l.activation, Idx(f.view, "l1/Relu"));
  EXPECT_EQ(l.output, Idx(f.view, "l1/Relu"));
  EXPECT_EQ(l.input.node, Idx(f.view, "x"));
  EXPECT_EQ(LayerKind(f.view, l), "Conv2D+BiasAdd+Relu");
}

TEST(LayerPatternTest, MatMulAddWithConstOperandIsBias) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {2, 5});
  std::string w = g.Const("w", Filled({5, 3}));
  std::string b = g.Const("b", Filled({3}));
  std::string mm = g.MatMul("mm", x, w);
  std::string add = g.Binary("Add", "add", b, mm);  // bias on the left
  g.Unary("Relu6", "act", add);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.bias, Idx(f.view, "add"));
  EXPECT_EQ(l.residual, -1);
  EXPECT_EQ(l.activation, Idx(f.view, "act"));
}

TEST(LayerPatternTest, ResidualAddThenActivation) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 4});
  std::string w = g.Const("w", Filled({3, 3, 4, 4}));
  std::string b = g.Const("b", Filled({4}));
  std::string c = g.Conv2D("conv", x, w, 1, "SAME");
  std::string ba = g.BiasAdd("bias", c, b);
  std::string add = g.Binary("AddV2", "res", x, ba);
  g.Unary("Relu", "relu", add);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.residual, Idx(f.view, "res"));
  EXPECT_EQ(l.residual_input.node, Idx(f.view, "x"));
  EXPECT_EQ(l.output, Idx(f.view, "relu"));
}

TEST(LayerPatternTest, FusedBatchNormAndDepthwise) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 4});
  std::string w = g.Const("dw", Filled({3, 3, 4, 1}));
  std::string c = g.DepthwiseConv2dNative("dconv", x, w, 1, "SAME");
  std::string s = g.Const("gamma", Filled({4}));
  std::string o = g.Const("beta", Filled({4}));
  std::string m = g.Const("mean", Filled({4}));
  std::string var = g.Const("var", Filled({4}, 1.0f));
  std::string bn = g.FusedBatchNormV3("bn", c, s, o, m, var, 1e-3f);
  g.Unary("Relu6", "act", bn);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.weighted, Idx(f.view, "dconv"));
  EXPECT_EQ(l.batch_norm, Idx(f.view, "bn"));
  EXPECT_EQ(l.output, Idx(f.view, "act"));
}

TEST(LayerPatternTest, TrainModeFoldedForm) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string w = g.Const("l/weights", Filled({3, 3, 3, 4}));
  std::string wr = g.Identity("l/weights/read", w);
  std::string scale = g.Placeholder("l/scale", {4});  // computed in real graphs
  std::string mf = g.Binary("Mul", "l/mul_fold", wr, scale);
  std::string c = g.Conv2D("l/Conv2D_Fold", x, mf, 1, "SAME");
  std::string corr = g.Placeholder("l/corr", {4});
  std::string cm = g.Binary("Mul", "l/correction_mult", c, corr);
  std::string off = g.Placeholder("l/offset", {4});
  std::string af = g.Binary("Add", "l/add_fold", cm, off);
  g.Unary("Relu", "l/Relu", af);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.weighted, Idx(f.view, "l/Conv2D_Fold"));
  EXPECT_EQ(l.weights.node, Idx(f.view, "l/mul_fold"));
  EXPECT_EQ(l.mul_fold, Idx(f.view, "l/mul_fold"));
  EXPECT_EQ(l.weights_source, Idx(f.view, "l/weights/read"));
  EXPECT_EQ(l.correction_mult, Idx(f.view, "l/correction_mult"));
  EXPECT_EQ(l.add_fold, Idx(f.view, "l/add_fold"));
  EXPECT_EQ(l.bias, -1);
  EXPECT_EQ(l.output, Idx(f.view, "l/Relu"));
}

TEST(LayerPatternTest, MulByConstantIsNotPartOfTheLayer) {
  // Conv2D -> BiasAdd -> Mul(x10) -> Relu6: the Mul is not a bias, fold or batch norm.
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string w = g.Const("w", Filled({3, 3, 3, 4}));
  std::string b = g.Const("b", Filled({4}));
  std::string c = g.Conv2D("conv", x, w, 1, "SAME");
  std::string ba = g.BiasAdd("bias", c, b);
  std::string ten = g.Const("ten", Filled({1}, 10.f));
  std::string mul = g.Binary("Mul", "mul", ba, ten);
  g.Unary("Relu6", "act", mul);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  EXPECT_EQ(f.set.matches[0].root, Idx(f.view, "bias"));
}

TEST(LayerPatternTest, TransposeConvWeightsAreInputOne) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 4, 4, 2});
  HostTensor<int32_t> sz;
  sz.shape = {4};
  sz.values = {1, 8, 8, 3};
  std::string sizes = g.ConstInt32("sizes", sz);
  std::string w = g.Const("w", Filled({3, 3, 3, 2}));
  auto* d = g.AddNode("deconv", "Conv2DBackpropInput", {sizes, w, x});
  SetAttr(d, "T", tensorflow::DT_FLOAT);
  std::string b = g.Const("b", Filled({3}));
  g.BiasAdd("bias", "deconv", b);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.weighted, Idx(f.view, "deconv"));
  EXPECT_EQ(l.weights.node, Idx(f.view, "w"));
  EXPECT_EQ(l.input.node, Idx(f.view, "x"));
}

TEST(LayerPatternTest, NonConstantWeightsAreRefusedWithAReason) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string q = g.Placeholder("wq", {3, 3, 3, 4});
  auto* deq = g.AddNode("deq", "Dequantize", {q});
  (void)deq;
  std::string c = g.Conv2D("conv", x, "deq", 1, "SAME");
  g.Unary("Relu", "relu", c);
  auto gd = g.Build();
  Found f = Layers(gd);
  EXPECT_TRUE(f.set.matches.empty());
  ASSERT_FALSE(f.set.failures.empty());
  bool named = false;
  for (const auto& fl : f.set.failures) {
    if (fl.reason.find("'deq' (Dequantize)") != std::string::npos) named = true;
  }
  EXPECT_TRUE(named);
}

TEST(LayerPatternTest, SharedWeightsAreNotOwned) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string w = g.Const("w", Filled({3, 3, 3, 3}));
  std::string c1 = g.Conv2D("c1", x, w, 1, "SAME");
  std::string r1 = g.Unary("Relu", "r1", c1);
  std::string c2 = g.Conv2D("c2", r1, w, 1, "SAME");
  g.Unary("Relu", "r2", c2);
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 2u);
  EXPECT_EQ(DecodeLayer(f.set.matches[0]).weights.node, Idx(f.view, "w"));
  EXPECT_EQ(DecodeLayer(f.set.matches[1]).weights.node, Idx(f.view, "w"));
}

TEST(LayerPatternTest, NchwBiasAddMatches) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 3, 8, 8});
  std::string w = g.Const("w", Filled({3, 3, 3, 4}));
  std::string c = g.Conv2D("conv", x, w, 1, "SAME");
  SetAttr(g.AddNode("unused", "NoOp", {}), "x", int64_t{0});
  std::string b = g.Const("b", Filled({4}));
  std::string ba = g.BiasAdd("bias", c, b);
  auto gd = g.Build();
  for (auto& n : *gd.mutable_node()) {
    if (n.name() == "conv" || n.name() == "bias") SetAttr(&n, "data_format", "NCHW");
  }
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  EXPECT_EQ(f.set.matches[0].root, Idx(f.view, ba));
}

TEST(LayerPatternTest, AlreadyQuantizedWeightsAreCaptured) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {2, 5});
  std::string w = g.Const("w", Filled({5, 3}));
  std::string mn = g.Const("mn", Filled({1}, -1.f));
  std::string mx = g.Const("mx", Filled({1}, 1.f));
  g.AddNode("fq", "FakeQuantWithMinMaxVars", {w, mn, mx});
  g.MatMul("mm", x, "fq");
  auto gd = g.Build();
  Found f = Layers(gd);
  ASSERT_EQ(f.set.matches.size(), 1u);
  LayerMatch l = DecodeLayer(f.set.matches[0]);
  EXPECT_EQ(l.weights_quant, Idx(f.view, "fq"));
}

}  // namespace
}  // namespace tfqat::patterns

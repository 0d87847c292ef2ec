// Batch-norm folding: structure, numeric equivalence (reference executor and an independent
// plain-loop computation), train-mode correction scheme, negative cases.
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "graph/attrs.h"
#include "graph/graph_io.h"
#include "graph/graph_view.h"
#include "graph/tensor.h"
#include "rewriter/fold_batch_norms.h"
#include "rewriter/op_defs.h"
#include "trainer/executor.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;
using Mode = FoldBatchNormsOptions::Mode;

// One builder for every test graph (fixed seed).
class G {
 public:
  explicit G(uint32_t seed = 7) : rng_(seed) {}
  tensorflow::GraphDef g;

  std::vector<float> Rand(int64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng_);
    return v;
  }
  tensorflow::NodeDef* Node(const std::string& name, const std::string& op, std::vector<std::string> in) {
    auto* n = g.add_node();
    n->set_name(name);
    n->set_op(op);
    for (auto& i : in) n->add_input(i);
    if (op != "Const" && op != "Placeholder" && op != "VariableV2" && op != "NoOp") SetAttr(n, "T", tensorflow::DT_FLOAT);
    return n;
  }
  std::string Const(const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
    HostTensor<float> t{shape, v};
    auto* n = Node(name, "Const", {});
    SetAttr(n, "dtype", tensorflow::DT_FLOAT);
    SetAttr(n, "value", EncodeTensor(t));
    return name;
  }
  std::string RandConst(const std::string& name, std::vector<int64_t> shape, float lo, float hi) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return Const(name, shape, Rand(n, lo, hi));
  }
  std::string Placeholder(const std::string& name) {
    auto* n = Node(name, "Placeholder", {});
    SetAttr(n, "dtype", tensorflow::DT_FLOAT);
    return name;
  }
  std::string Conv(const std::string& name, const std::string& op, const std::string& x, const std::string& w,
                   bool nchw = false) {
    auto* n = Node(name, op, {x, w});
    SetAttr(n, "strides", std::vector<int64_t>{1, 1, 1, 1});
    SetAttr(n, "padding", "SAME");
    SetAttr(n, "data_format", nchw ? "NCHW" : "NHWC");
    return name;
  }
  std::string MatMul(const std::string& name, const std::string& x, const std::string& w, bool tb = false) {
    auto* n = Node(name, "MatMul", {x, w});
    SetAttr(n, "transpose_a", false);
    SetAttr(n, "transpose_b", tb);
    return name;
  }
  std::string BiasAdd(const std::string& name, const std::string& x, const std::string& b, bool nchw = false) {
    auto* n = Node(name, "BiasAdd", {x, b});
    SetAttr(n, "data_format", nchw ? "NCHW" : "NHWC");
    return name;
  }
  // FusedBatchNormV3 with random γ, β, μ, σ² (C channels).
  std::string FusedBN(const std::string& name, const std::string& x, int64_t c, bool training = false,
                      bool nchw = false, float eps = 0.001f) {
    RandConst(name + "/gamma", {c}, 0.5f, 1.5f);
    RandConst(name + "/beta", {c}, -1.f, 1.f);
    RandConst(name + "/moving_mean", {c}, -1.f, 1.f);
    RandConst(name + "/moving_variance", {c}, 0.2f, 2.f);
    auto* n = Node(name, "FusedBatchNormV3",
                   {x, name + "/gamma", name + "/beta", name + "/moving_mean", name + "/moving_variance"});
    SetAttr(n, "U", tensorflow::DT_FLOAT);
    SetAttr(n, "epsilon", eps);
    SetAttr(n, "is_training", training);
    SetAttr(n, "data_format", nchw ? "NCHW" : "NHWC");
    return name;
  }
  // Keras/slim's unfused chain, with node names that say nothing (found by structure).
  // pshape: the parameters' shape ([C] or [C,1,1] for NCHW).
  std::string UnfusedBN(const std::string& p, const std::string& x, int64_t c, std::vector<int64_t> pshape) {
    RandConst(p + "q1", pshape, 0.5f, 1.5f);   // gamma
    RandConst(p + "q2", pshape, -1.f, 1.f);    // beta
    RandConst(p + "q3", pshape, -1.f, 1.f);    // mean
    RandConst(p + "q4", pshape, 0.2f, 2.f);    // variance
    Const(p + "q5", {}, {0.001f});            // epsilon
    Node(p + "r1", "Identity", {p + "q4"});
    Node(p + "a", "AddV2", {p + "r1", p + "q5"});
    Node(p + "b", "Rsqrt", {p + "a"});
    Node(p + "c", "Mul", {p + "b", p + "q1"});
    Node(p + "d", "Mul", {x, p + "c"});
    Node(p + "e", "Mul", {p + "q3", p + "c"});
    Node(p + "f", "Sub", {p + "q2", p + "e"});
    Node(p + "g", "AddV2", {p + "d", p + "f"});
    (void)c;
    return p + "g";
  }
  std::string Relu(const std::string& name, const std::string& x) {
    Node(name, "Relu", {x});
    return name;
  }

 private:
  std::mt19937 rng_;
};

Tensor RandTensor(std::vector<int64_t> shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return Tensor::Float(shape, v);
}

std::vector<float> RunGraph(const tensorflow::GraphDef& g, const Tensor& x, const std::string& out,
                       int64_t step = -1) {
  auto ex = Executor::Create(g, ExecutorOptions{});
  EXPECT_TRUE(ex.ok()) << ex.status();
  if (!ex.ok()) return {};
  if (step >= 0) EXPECT_TRUE(ex->SetVariable("global_step", Tensor::Int(tensorflow::DT_INT64, {}, {step})).ok());
  auto r = ex->Run({{"x", x}}, {out});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  return (*r)[0].f;
}

void ExpectClose(const std::vector<float>& a, const std::vector<float>& b, double rel = 1e-5) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  double scale = 0;
  for (float v : a) scale = std::max(scale, std::abs(static_cast<double>(v)));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_NEAR(a[i], b[i], rel * std::max(1.0, scale)) << "element " << i;
  }
}

int Count(const tensorflow::GraphDef& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.node()) n += node.op() == op;
  return n;
}

const tensorflow::NodeDef* Find(const tensorflow::GraphDef& g, const std::string& name) {
  for (const auto& n : g.node())
    if (n.name() == name) return &n;
  return nullptr;
}

FoldBatchNormsResult Fold(const tensorflow::GraphDef& g, Mode mode = Mode::kEval, int64_t delay = 0) {
  FoldBatchNormsOptions o;
  o.mode = mode;
  o.freeze_bn_delay = delay;
  auto r = FoldBatchNorms(g, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : FoldBatchNormsResult{};
}

TEST(FoldEval, Conv2DBiasFusedNHWC) {
  G b;
  b.Placeholder("x");
  b.RandConst("conv1/weights", {3, 3, 3, 4}, -1, 1);
  b.Conv("conv1/Conv2D", "Conv2D", "x", "conv1/weights");
  b.RandConst("conv1/biases", {4}, -1, 1);
  b.BiasAdd("conv1/BiasAdd", "conv1/Conv2D", "conv1/biases");
  b.FusedBN("conv1/BatchNorm/FusedBatchNormV3", "conv1/BiasAdd", 4);
  b.Relu("conv1/Relu", "conv1/BatchNorm/FusedBatchNormV3");
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u);
  EXPECT_EQ(r.folded[0].weighted_op, "conv1/Conv2D");
  EXPECT_TRUE(r.folded[0].had_bias);
  EXPECT_EQ(Count(r.graph, "FusedBatchNormV3"), 0);
  EXPECT_EQ(Count(r.graph, "BiasAdd"), 1);
  const auto* bn = Find(r.graph, "conv1/BatchNorm/FusedBatchNormV3");
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->op(), "BiasAdd");
  EXPECT_EQ(bn->input(0), "conv1/Conv2D");
  // Old parameters are pruned.
  EXPECT_EQ(Find(r.graph, "conv1/weights"), nullptr);
  EXPECT_EQ(Find(r.graph, "conv1/BatchNorm/FusedBatchNormV3/gamma"), nullptr);
  Tensor x = RandTensor({2, 5, 5, 3}, 1);
  ExpectClose(RunGraph(b.g, x, "conv1/Relu"), RunGraph(r.graph, x, "conv1/Relu"));
}

// The folded weights against an independent computation: w[..., c] · γ_c / sqrt(σ²_c + ε).
TEST(FoldEval, FoldedWeightsMatchPlainLoops) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {1, 1, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w");
  b.FusedBN("bn", "conv", 3, false, false, 0.1f);
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u);
  auto w = DecodeConst<float>(*Find(b.g, "w")).value();
  auto gamma = DecodeConst<float>(*Find(b.g, "bn/gamma")).value();
  auto beta = DecodeConst<float>(*Find(b.g, "bn/beta")).value();
  auto mean = DecodeConst<float>(*Find(b.g, "bn/moving_mean")).value();
  auto var = DecodeConst<float>(*Find(b.g, "bn/moving_variance")).value();
  const auto* conv = Find(r.graph, "conv");
  auto wf = DecodeConst<float>(*Find(r.graph, conv->input(1))).value();
  auto bias = DecodeConst<float>(*Find(r.graph, Find(r.graph, "bn")->input(1))).value();
  for (int i = 0; i < 6; ++i) {
    int c = i % 3;
    double k = gamma.values[c] / std::sqrt(var.values[c] + 0.1);
    EXPECT_NEAR(wf.values[i], w.values[i] * k, 1e-6);
  }
  for (int c = 0; c < 3; ++c) {
    double k = gamma.values[c] / std::sqrt(var.values[c] + 0.1);
    EXPECT_NEAR(bias.values[c], beta.values[c] - mean.values[c] * k, 1e-6);
  }
}

TEST(FoldEval, DepthwiseMultiplier) {
  G b;
  b.Placeholder("x");
  b.RandConst("dw/w", {3, 3, 3, 2}, -1, 1);  // in 3, multiplier 2: 6 channels
  b.Conv("dw/depthwise", "DepthwiseConv2dNative", "x", "dw/w");
  b.FusedBN("dw/bn", "dw/depthwise", 6);
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u);
  EXPECT_EQ(r.folded[0].channels, 6);
  Tensor x = RandTensor({1, 6, 6, 3}, 2);
  ExpectClose(RunGraph(b.g, x, "dw/bn"), RunGraph(r.graph, x, "dw/bn"));
}

TEST(FoldEval, Conv2DFusedNCHW) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {3, 3, 2, 5}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w", /*nchw=*/true);
  b.RandConst("bias", {5}, -1, 1);
  b.BiasAdd("badd", "conv", "bias", true);
  b.FusedBN("bn", "badd", 5, false, /*nchw=*/true);
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  EXPECT_EQ(GetAttr<std::string>(*Find(r.graph, "bn"), "data_format").value(), "NCHW");
  Tensor x = RandTensor({2, 2, 4, 4}, 3);
  ExpectClose(RunGraph(b.g, x, "bn"), RunGraph(r.graph, x, "bn"));
}

TEST(FoldEval, MatMulUnfusedChainByStructure) {
  G b;
  b.Placeholder("x");
  b.RandConst("k0", {6, 4}, -1, 1);
  b.MatMul("n0", "x", "k0");
  std::string out = b.UnfusedBN("z", "n0", 4, {4});
  b.Relu("y", out);
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u);
  EXPECT_EQ(r.folded[0].form, FoldedLayer::Form::kUnfused);
  EXPECT_EQ(Count(r.graph, "Rsqrt"), 0);
  EXPECT_EQ(Count(r.graph, "Mul"), 0);
  Tensor x = RandTensor({3, 6}, 4);
  ExpectClose(RunGraph(b.g, x, "y"), RunGraph(r.graph, x, "y"));
}

TEST(FoldEval, MatMulTransposedUnfused) {
  G b;
  b.Placeholder("x");
  b.RandConst("k0", {4, 6}, -1, 1);
  b.MatMul("n0", "x", "k0", /*tb=*/true);
  std::string out = b.UnfusedBN("z", "n0", 4, {4});
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u);
  Tensor x = RandTensor({3, 6}, 5);
  ExpectClose(RunGraph(b.g, x, out), RunGraph(r.graph, x, out));
}

TEST(FoldEval, UnfusedNCHWChannelAxis1) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {3, 3, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w", /*nchw=*/true);
  std::string out = b.UnfusedBN("u", "conv", 3, {3, 1, 1});
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u);
  Tensor x = RandTensor({1, 2, 5, 5}, 6);
  ExpectClose(RunGraph(b.g, x, out), RunGraph(r.graph, x, out));
}

TEST(FoldEval, UnfusedNCHWWithChannelLastParamsIsRefused) {
  // [C] parameters broadcast over W in an NCHW tensor: not a per-channel batch norm.
  G b;
  b.Placeholder("x");
  b.RandConst("w", {3, 3, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w", /*nchw=*/true);
  b.UnfusedBN("u", "conv", 3, {3});
  auto r = Fold(b.g);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_FALSE(r.notes.empty());
  EXPECT_THAT(r.notes[0], HasSubstr("per-channel"));
}

TEST(FoldEval, EscapingConsumerIsRefused) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {1, 1, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w");
  b.FusedBN("bn", "conv", 3);
  b.Relu("side", "conv");  // a second consumer of the conv output
  auto r = Fold(b.g);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_FALSE(r.notes.empty());
  EXPECT_THAT(r.notes[0], HasSubstr("bn"));
  EXPECT_THAT(r.notes[0], HasSubstr("outside the match"));
  EXPECT_EQ(Count(r.graph, "FusedBatchNormV3"), 1);
}

TEST(FoldEval, GraphOutputInTheMiddleIsRefused) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {1, 1, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w");
  b.FusedBN("bn", "conv", 3);
  FoldBatchNormsOptions o;
  o.outputs = {"conv", "bn"};
  auto r = FoldBatchNorms(b.g, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->folded.empty());
  ASSERT_FALSE(r->notes.empty());
  EXPECT_THAT(r->notes[0], HasSubstr("graph output"));
}

TEST(FoldEval, VariableWeightsAreSkippedWithNote) {
  G b;
  b.Placeholder("x");
  auto* v = b.Node("w", "VariableV2", {});
  SetAttr(v, "dtype", tensorflow::DT_FLOAT);
  SetAttr(v, "shape", ShapeToProto({1, 1, 2, 3}));
  b.Node("w/read", "Identity", {"w"});
  b.Conv("conv", "Conv2D", "x", "w/read");
  b.FusedBN("bn", "conv", 3);
  auto r = Fold(b.g);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_THAT(r.notes[0], HasSubstr("weights are not a constant"));
  EXPECT_THAT(r.notes[0], HasSubstr("'conv'"));
}

TEST(FoldEval, TrainingBatchNormLeftAloneInEvalMode) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {1, 1, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w");
  b.FusedBN("bn", "conv", 3, /*training=*/true);
  auto r = Fold(b.g);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_THAT(r.notes[0], HasSubstr("is_training=true"));
  EXPECT_EQ(r.graph.node_size(), b.g.node_size());
}

TEST(FoldEval, ScopeLimitsFolding) {
  G b;
  b.Placeholder("x");
  b.RandConst("a/w", {1, 1, 2, 3}, -1, 1);
  b.Conv("a/conv", "Conv2D", "x", "a/w");
  b.FusedBN("a/bn", "a/conv", 3);
  b.RandConst("b/w", {1, 1, 3, 3}, -1, 1);
  b.Conv("b/conv", "Conv2D", "a/bn", "b/w");
  b.FusedBN("b/bn", "b/conv", 3);
  FoldBatchNormsOptions o;
  o.scope = "b/";
  auto r = FoldBatchNorms(b.g, o);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->folded.size(), 1u);
  EXPECT_EQ(r->folded[0].weighted_op, "b/conv");
  EXPECT_EQ(Count(r->graph, "FusedBatchNormV3"), 1);
}

// ---- train mode ----

// Every node the fold added (not in `original`) is valid against its TensorFlow OpDef.
void ExpectOpDefValid(const tensorflow::GraphDef& g, const tensorflow::GraphDef& original) {
  std::set<std::string> before;
  for (const auto& n : original.node()) before.insert(n.name());
  auto view = GraphView::Create(g);
  ASSERT_TRUE(view.ok()) << view.status();
  for (int i = 0; i < view->num_nodes(); ++i) {
    const auto& op = view->node(i).op();
    if (before.count(view->node(i).name())) continue;
    if (op == "Conv2D" || op == "DepthwiseConv2dNative" || op == "MatMul") continue;  // the W_Fold copy
    EXPECT_NE(FindEmittedOpDef(op), nullptr) << view->node(i).name() << " " << op;
    if (FindEmittedOpDef(op) == nullptr) continue;
    EXPECT_TRUE(CheckNodeAgainstOpDef(*view, i).ok()) << CheckNodeAgainstOpDef(*view, i);
  }
}

tensorflow::GraphDef TrainGraph(bool training, bool nchw, bool bias) {
  G b;
  b.Placeholder("x");
  b.RandConst("conv1/weights", {3, 3, 2, 4}, -1, 1);
  b.Conv("conv1/Conv2D", "Conv2D", "x", "conv1/weights", nchw);
  std::string in = "conv1/Conv2D";
  if (bias) {
    b.RandConst("conv1/biases", {4}, -1, 1);
    in = b.BiasAdd("conv1/BiasAdd", in, "conv1/biases", nchw);
  }
  b.FusedBN("conv1/BatchNorm/FusedBatchNormV3", in, 4, training, nchw);
  b.Relu("conv1/Relu", "conv1/BatchNorm/FusedBatchNormV3");
  return b.g;
}

tensorflow::GraphDef WithTraining(tensorflow::GraphDef g, bool training) {
  for (auto& n : *g.mutable_node())
    if (n.op() == "FusedBatchNormV3") SetAttr(&n, "is_training", training);
  return g;
}

class TrainCorrection : public ::testing::TestWithParam<std::tuple<bool, bool>> {};

TEST_P(TrainCorrection, BatchStatisticsThenMovingAfterFreezeDelay) {
  const auto [nchw, bias] = GetParam();
  tensorflow::GraphDef g = TrainGraph(/*training=*/true, nchw, bias);
  auto r = Fold(g, Mode::kTrain, /*delay=*/100);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  EXPECT_TRUE(r.folded[0].batch_statistics);
  EXPECT_EQ(r.folded[0].output, "conv1/add_fold");
  EXPECT_EQ(r.folded[0].folded_weights, "conv1/mul_fold");
  ASSERT_NE(Find(r.graph, "conv1/correction_mult"), nullptr);
  ASSERT_NE(Find(r.graph, "conv1/Conv2D_Fold"), nullptr);
  EXPECT_EQ(Find(r.graph, "conv1/Conv2D_Fold")->input(1), "conv1/mul_fold");
  EXPECT_EQ(Find(r.graph, "conv1/Relu")->input(0), "conv1/add_fold");
  EXPECT_EQ(Count(r.graph, "FusedBatchNormV3"), 0);
  // Only contract vocabulary ops, each valid against its OpDef.
  const std::set<std::string> vocab = {"Const", "Identity", "VariableV2", "Assign", "AssignAdd", "AssignSub", "NoOp",
                                       "Min", "Max", "Minimum", "Maximum", "AddV2", "Sub", "Mul", "RealDiv", "Pow",
                                       "Cast", "GreaterEqual", "SelectV2", "Square", "Rsqrt", "Sqrt", "Mean",
                                       "Reshape", "FusedBatchNormV3"};
  std::set<std::string> original;
  for (const auto& n : g.node()) original.insert(n.name());
  for (const auto& n : r.graph.node()) {
    if (original.count(n.name())) continue;
    if (n.name() == "conv1/Conv2D_Fold") {  // the copy of the layer's own op
      EXPECT_EQ(n.op(), "Conv2D");
      continue;
    }
    EXPECT_TRUE(vocab.count(n.op())) << n.name() << " " << n.op();
  }
  ExpectOpDefValid(r.graph, g);
  const auto* upd = Find(r.graph, "tfqat/update_ops");
  ASSERT_NE(upd, nullptr);
  EXPECT_EQ(upd->op(), "NoOp");
  EXPECT_EQ(upd->input_size(), 2);

  Tensor x = nchw ? RandTensor({4, 2, 5, 5}, 9) : RandTensor({4, 5, 5, 2}, 9);
  // Before the delay: batch statistics, like the original training batch norm.
  ExpectClose(RunGraph(g, x, "conv1/Relu"), RunGraph(r.graph, x, "conv1/Relu", /*step=*/0), 1e-5);
  // After it: moving statistics, like the inference batch norm.
  ExpectClose(RunGraph(WithTraining(g, false), x, "conv1/Relu"), RunGraph(r.graph, x, "conv1/Relu", /*step=*/100), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Layouts, TrainCorrection,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()));

TEST(FoldTrain, MovingAveragesUpdateUntilFrozen) {
  tensorflow::GraphDef g = TrainGraph(true, false, false);
  FoldBatchNormsOptions o;
  o.mode = Mode::kTrain;
  o.freeze_bn_delay = 5;
  o.bn_decay = 0.9f;
  auto r = FoldBatchNorms(g, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->folded.size(), 1u);
  const std::string mm = "conv1/BatchNorm_Fold/moving_mean";
  ASSERT_NE(Find(r->graph, mm), nullptr);
  auto before = DecodeConst<float>(*Find(g, "conv1/BatchNorm/FusedBatchNormV3/moving_mean")).value();
  Tensor x = RandTensor({4, 5, 5, 2}, 11);
  for (int64_t step : {0, 7}) {
    auto ex = Executor::Create(r->graph, ExecutorOptions{});
    ASSERT_TRUE(ex.ok()) << ex.status();
    ASSERT_TRUE(ex->SetVariable("global_step", Tensor::Int(tensorflow::DT_INT64, {}, {step})).ok());
    auto out = ex->Run({{"x", x}}, {"conv1/BatchNorm_Fold/batch_mean"}, {"tfqat/update_ops"});
    ASSERT_TRUE(out.ok()) << out.status();
    auto after = ex->GetVariable(mm).value();
    for (int c = 0; c < 4; ++c) {
      const float expect = step < 5 ? before.values[c] - 0.1f * (before.values[c] - (*out)[0].f[c]) : before.values[c];
      EXPECT_NEAR(after.f[c], expect, 1e-5) << "step " << step << " channel " << c;
    }
  }
}

TEST(FoldTrain, InferenceBatchNormWithVariableWeightsFoldsInGraph) {
  G b;
  b.Placeholder("x");
  auto* v = b.Node("conv1/weights", "VariableV2", {});
  SetAttr(v, "dtype", tensorflow::DT_FLOAT);
  SetAttr(v, "shape", ShapeToProto({1, 1, 2, 3}));
  b.RandConst("conv1/weights/initial_value", {1, 1, 2, 3}, -1, 1);
  auto* a = b.Node("conv1/weights/Assign", "Assign", {"conv1/weights", "conv1/weights/initial_value"});
  (void)a;
  b.Node("conv1/weights/read", "Identity", {"conv1/weights"});
  b.Conv("conv1/Conv2D", "Conv2D", "x", "conv1/weights/read");
  b.FusedBN("conv1/bn", "conv1/Conv2D", 3);
  auto r = Fold(b.g, Mode::kTrain);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  const auto* mf = Find(r.graph, "conv1/mul_fold");
  ASSERT_NE(mf, nullptr);
  EXPECT_EQ(mf->input(0), "conv1/weights/read");
  Tensor x = RandTensor({2, 3, 3, 2}, 12);
  ExpectClose(RunGraph(b.g, x, "conv1/bn"), RunGraph(r.graph, x, "conv1/bn"));
}

TEST(FoldTrain, EmptyMovingStatisticsAreNoted) {
  G b;
  b.Placeholder("x");
  b.RandConst("w", {1, 1, 2, 3}, -1, 1);
  b.Conv("conv", "Conv2D", "x", "w");
  b.RandConst("g", {3}, 0.5, 1.5);
  b.RandConst("be", {3}, -1, 1);
  b.Const("empty", {0}, {});
  auto* n = b.Node("bn", "FusedBatchNormV3", {"conv", "g", "be", "empty", "empty"});
  SetAttr(n, "U", tensorflow::DT_FLOAT);
  SetAttr(n, "is_training", true);
  auto r = Fold(b.g, Mode::kTrain);
  EXPECT_TRUE(r.folded.empty());
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_THAT(r.notes[0], HasSubstr("moving statistics"));
}

TEST(FoldTrain, DepthwiseCorrectionMatchesBatchNorm) {
  G b;
  b.Placeholder("x");
  b.RandConst("dw/weights", {3, 3, 2, 3}, -1, 1);  // 6 channels
  b.Conv("dw/depthwise", "DepthwiseConv2dNative", "x", "dw/weights");
  b.FusedBN("dw/BatchNorm", "dw/depthwise", 6, /*training=*/true);
  auto r = Fold(b.g, Mode::kTrain, /*delay=*/10);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  ASSERT_NE(Find(r.graph, "dw/BatchNorm_Fold/fold_scale_depthwise"), nullptr);
  ExpectOpDefValid(r.graph, b.g);
  Tensor x = RandTensor({3, 5, 5, 2}, 21);
  ExpectClose(RunGraph(b.g, x, "dw/BatchNorm"), RunGraph(r.graph, x, "dw/add_fold", 0));
  ExpectClose(RunGraph(WithTraining(b.g, false), x, "dw/BatchNorm"), RunGraph(r.graph, x, "dw/add_fold", 10));
}

TEST(FoldTrain, MatMulUnfusedWithVariableWeights) {
  G b;
  b.Placeholder("x");
  auto* v = b.Node("fc/kernel", "VariableV2", {});
  SetAttr(v, "dtype", tensorflow::DT_FLOAT);
  SetAttr(v, "shape", ShapeToProto({5, 4}));
  b.RandConst("fc/kernel/initial_value", {5, 4}, -1, 1);
  b.Node("fc/kernel/Assign", "Assign", {"fc/kernel", "fc/kernel/initial_value"});
  b.Node("fc/kernel/read", "Identity", {"fc/kernel"});
  b.MatMul("fc/MatMul", "x", "fc/kernel/read");
  b.RandConst("fc/bias", {4}, -1, 1);
  b.BiasAdd("fc/BiasAdd", "fc/MatMul", "fc/bias");
  std::string out = b.UnfusedBN("bn_", "fc/BiasAdd", 4, {4});
  b.Relu("y", out);
  auto r = Fold(b.g, Mode::kTrain);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  EXPECT_EQ(Find(r.graph, "fc/mul_fold")->input(0), "fc/kernel/read");
  ExpectOpDefValid(r.graph, b.g);
  Tensor x = RandTensor({3, 5}, 22);
  ExpectClose(RunGraph(b.g, x, "y"), RunGraph(r.graph, x, "y"));
}

// ---- the real graphs with batch norms (none has a weighted op before the batch norm) ----

TEST(FoldRealGraphs, BatchNormWithoutWeightedOpIsNotFolded) {
  const std::string dir = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/opencv_extra/";
  for (const char* f : {"fused_batch_norm_net.pb", "unfused_batch_norm_net.pb", "mvn_batch_norm_net.pb"}) {
    auto g = LoadGraphDef(dir + f);
    if (!g.ok()) GTEST_SKIP() << "missing " << dir << f;
    auto r = Fold(*g);
    EXPECT_TRUE(r.folded.empty()) << f;
    EXPECT_EQ(r.graph.node_size(), g->node_size()) << f;
  }
}

// A real graph's batch norm (its γ, β, μ, σ², ε as TensorFlow saved them), with a Conv2D put
// in front: folding keeps the outputs.
TEST(FoldRealGraphs, OpencvFusedBatchNormBehindAConv) {
  const std::string path = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/opencv_extra/fused_batch_norm_net.pb";
  auto g = LoadGraphDef(path);
  if (!g.ok()) GTEST_SKIP() << "missing " << path;
  auto view = GraphView::Create(*g).value();
  int bn = -1;
  for (int i = 0; i < view.num_nodes(); ++i)
    if (view.node(i).op().rfind("FusedBatchNorm", 0) == 0) bn = i;
  ASSERT_GE(bn, 0);
  const std::string bn_in = std::string(NodeNameOf(view.node(bn).input(0)));
  auto c = DecodeConst<float>(*view.FindNode(view.node(bn).input(1))).value().num_elements();
  // Put Conv2D(bn_in, w) in front of the batch norm.
  G b;
  b.g = *g;
  b.RandConst("tfqat_test/w", {3, 3, c, c}, -1, 1);
  b.Conv("tfqat_test/conv", "Conv2D", bn_in, "tfqat_test/w");
  for (auto& n : *b.g.mutable_node())
    if (n.name() == view.node(bn).name()) n.set_input(0, "tfqat_test/conv");
  auto r = Fold(b.g);
  ASSERT_EQ(r.folded.size(), 1u) << (r.notes.empty() ? "" : r.notes[0]);
  auto outs = view.Outputs();
  ASSERT_FALSE(outs.empty());
  const std::string out = view.node(outs[0]).name();
  // Feed the graph's placeholder under the name "x" used by Run().
  for (auto* gg : {&b.g, &r.graph}) {
    for (auto& n : *gg->mutable_node()) {
      for (auto& in : *n.mutable_input())
        if (in == bn_in) in = "x";
      if (n.name() == bn_in) n.set_name("x");
    }
  }
  Tensor x = RandTensor({1, 4, 4, c}, 13);
  ExpectClose(RunGraph(b.g, x, out), RunGraph(r.graph, x, out));
}

}  // namespace
}  // namespace tfqat

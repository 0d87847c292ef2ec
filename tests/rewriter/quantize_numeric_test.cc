// Numeric checks of rewritten graphs on the reference executor (trainer/).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "graph/tensor.h"
#include "rewriter/quantize.h"
#include "tests/rewriter/rewriter_test_util.h"
#include "trainer/executor.h"

namespace tfqat {
namespace {

using rewriter_testing::ConvBiasRelu;
using rewriter_testing::Filled;

tensorflow::GraphDef Net() {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {2, 6, 6, 3});
  std::string r1 = ConvBiasRelu(g, "conv1", x, 3, 4, 3);
  ConvBiasRelu(g, "conv2", r1, 4, 5, 4);
  return g.Build();
}

Tensor Input(int seed) {
  HostTensor<float> h = Filled({2, 6, 6, 3}, 2.0f, seed);
  return Tensor::Float(h.shape, h.values);
}

std::vector<float> RunGraph(const tensorflow::GraphDef& g, const std::string& fetch, const Tensor& x,
                       const std::vector<std::string>& targets = {}) {
  auto ex = Executor::Create(g, ExecutorOptions{});
  EXPECT_TRUE(ex.ok()) << ex.status();
  auto out = ex->Run({{"input", x}}, {fetch}, targets);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? (*out)[0].f : std::vector<float>{};
}

void SetInitial(tensorflow::GraphDef* g, const std::string& var, float v) {
  for (auto& n : *g->mutable_node()) {
    if (n.name() == var + "/initial_value") {
      HostTensor<float> t;
      t.values = {v};
      (*n.mutable_attr())["value"].mutable_tensor()->CopyFrom(EncodeTensor(t));
    }
  }
}

TEST(QuantizeNumericTest, EvalGraphWithWideRangesStaysCloseToFloat) {
  auto g = Net();
  QuantizeOptions o;
  o.mode = QuantizeOptions::Mode::kEval;
  o.weight_bits = 16;
  o.activation_bits = 16;
  auto r = InsertFakeQuant(g, o);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const char* l : {"conv1", "conv2"}) {
    SetInitial(&r->graph, std::string(l) + "/act_quant/max", 50.f);
  }
  Tensor x = Input(5);
  auto f = RunGraph(g, "conv2/Relu", x);
  auto q = RunGraph(r->graph, "conv2/act_quant/FakeQuantWithMinMaxVars", x);
  ASSERT_EQ(f.size(), q.size());
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(f[i])));
    max_err = std::max(max_err, std::fabs(static_cast<double>(f[i]) - q[i]));
  }
  EXPECT_GT(max_abs, 0.1);
  EXPECT_LT(max_err, 2e-3 * std::max(1.0, max_abs));
  // 8 bits is visibly coarser but still in the same place.
  o.weight_bits = o.activation_bits = 8;
  auto r8 = InsertFakeQuant(g, o);
  ASSERT_TRUE(r8.ok());
  SetInitial(&r8->graph, "conv1/act_quant/max", 50.f);
  SetInitial(&r8->graph, "conv2/act_quant/max", 50.f);
  auto q8 = RunGraph(r8->graph, "conv2/act_quant/FakeQuantWithMinMaxVars", x);
  double err8 = 0;
  for (size_t i = 0; i < f.size(); ++i) err8 = std::max(err8, std::fabs(static_cast<double>(f[i]) - q8[i]));
  EXPECT_GT(err8, max_err);
  EXPECT_LT(err8, 0.6);
}

TEST(QuantizeNumericTest, TrainGraphRangeUpdates) {
  auto g = Net();
  QuantizeOptions o;  // train mode, decay 0.999
  auto r = InsertFakeQuant(g, o);
  ASSERT_TRUE(r.ok()) << r.status();
  auto ex = Executor::Create(r->graph, ExecutorOptions{});
  ASSERT_TRUE(ex.ok()) << ex.status();
  // The activation the update sees is the rewritten graph's own (weights quantized).
  Tensor x1 = Input(7), x2 = Input(8);
  auto range = [](const Tensor& t) {
    float mn = 0, mx = 0;
    for (float v : t.f) mn = std::min(mn, v), mx = std::max(mx, v);
    return std::make_pair(mn, mx);
  };
  auto a1 = ex->Run({{"input", x1}}, {"conv1/Relu"}, {"tfqat/update_ops"});
  ASSERT_TRUE(a1.ok()) << a1.status();
  auto [mn1, mx1] = range((*a1)[0]);
  // Zero-debiased EMA: after one step the range is exactly the batch range.
  auto vmax = ex->GetVariable("conv1/act_quant/max");
  ASSERT_TRUE(vmax.ok());
  EXPECT_NEAR(vmax->f[0], mx1, 1e-5 * mx1);
  EXPECT_EQ(ex->GetVariable("conv1/act_quant/min")->f[0], mn1);
  // Last-value weight range: the weights' min/max (0 included).
  auto w = DecodeConst<float>(*rewriter_testing::Node(g, "conv1/weights"));
  float wmn = 0, wmx = 0;
  for (float v : w->values) wmn = std::min(wmn, v), wmx = std::max(wmx, v);
  EXPECT_EQ(ex->GetVariable("conv1/weights_quant/min")->f[0], wmn);
  EXPECT_EQ(ex->GetVariable("conv1/weights_quant/max")->f[0], wmx);
  // Second step: biased = d*b1 + (1-d)*v2 with b1 = (1-d)*v1; unbiased = biased / (1 - d^2).
  auto a2 = ex->Run({{"input", x2}}, {"conv1/Relu"}, {"tfqat/update_ops"});
  ASSERT_TRUE(a2.ok());
  auto [mn2, mx2] = range((*a2)[0]);
  (void)mn2;
  const double d = 0.999;
  const double b2 = d * (1 - d) * mx1 + (1 - d) * mx2;
  const double expect = b2 / (1 - d * d);
  EXPECT_NEAR(ex->GetVariable("conv1/act_quant/max")->f[0], expect, 1e-4 * std::fabs(expect));
}

TEST(QuantizeNumericTest, QuantDelaySwitchesOnGlobalStep) {
  auto g = Net();
  QuantizeOptions o;
  o.quant_delay = 3;
  auto r = InsertFakeQuant(g, o);
  ASSERT_TRUE(r.ok());
  auto ex = Executor::Create(r->graph, ExecutorOptions{});
  ASSERT_TRUE(ex.ok()) << ex.status();
  Tensor x = Input(9);
  auto f = RunGraph(g, "conv2/Relu", x);
  auto before = ex->Run({{"input", x}}, {"conv2/act_quant/delayed_quant"});
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ((*before)[0].f, f);  // step 0 < delay: float
  ASSERT_TRUE(ex->SetVariable("global_step", Tensor::Int(tensorflow::DT_INT64, {}, {3})).ok());
  auto after = ex->Run({{"input", x}}, {"conv2/act_quant/delayed_quant"});
  ASSERT_TRUE(after.ok());
  EXPECT_NE((*after)[0].f, f);  // quantized now
}

}  // namespace
}  // namespace tfqat

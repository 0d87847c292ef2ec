// Finite-difference checks of every gradient the trainer uses, and the STE of FakeQuant.
#include "trainer/gradients.h"

#include <cmath>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_graphs.h"

namespace tfqat {
namespace {

using testing::GraphBuilder;

Tensor Random(std::vector<int64_t> shape, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> u(lo, hi);
  Tensor t = Tensor::Float(shape, 0.f);
  for (auto& v : t.f) v = u(rng);
  return t;
}

// L = sum(out * R). Checks dL/d(wrt) from Backward against central differences.
void CheckGradient(const tensorflow::GraphDef& g, const std::string& out, const std::vector<std::string>& wrt,
                   float eps = 1e-2f, float tol = 2e-2f, int threads = 1) {
  ExecutorOptions o;
  o.num_threads = threads;
  auto ex_or = Executor::Create(g, o);
  ASSERT_TRUE(ex_or.ok()) << ex_or.status();
  Executor& ex = *ex_or;
  RunTrace trace;
  auto y = ex.RunWithTrace({}, {out}, {}, &trace);
  ASSERT_TRUE(y.ok()) << y.status();
  Tensor r = Random((*y)[0].shape, 99);
  std::vector<int> nodes;
  for (const auto& w : wrt) nodes.push_back(*ex.view().index(w));
  auto [name, port] = ParseFetchName(out);
  auto grads = Backward(ex, trace, *ex.view().index(name), port, r, nodes);
  ASSERT_TRUE(grads.ok()) << grads.status();
  auto loss = [&]() {
    auto v = ex.Run({}, {out});
    double s = 0;
    for (size_t e = 0; e < v->at(0).f.size(); ++e) s += static_cast<double>(v->at(0).f[e]) * r.f[e];
    return s;
  };
  for (size_t k = 0; k < wrt.size(); ++k) {
    Tensor base = *ex.GetVariable(wrt[k]);
    ASSERT_EQ((*grads)[k].f.size(), base.f.size()) << wrt[k];
    for (size_t e = 0; e < base.f.size(); ++e) {
      Tensor t = base;
      t.f[e] += eps;
      ASSERT_TRUE(ex.SetVariable(wrt[k], t).ok());
      double lp = loss();
      t.f[e] = base.f[e] - eps;
      ASSERT_TRUE(ex.SetVariable(wrt[k], t).ok());
      double lm = loss();
      double fd = (lp - lm) / (2 * eps);
      double an = (*grads)[k].f[e];
      EXPECT_NEAR(an, fd, tol * std::max(1.0, std::fabs(fd))) << wrt[k] << "[" << e << "]";
    }
    ASSERT_TRUE(ex.SetVariable(wrt[k], base).ok());
  }
}

TEST(Gradients, Conv2DSameStride2AndNchw) {
  for (const char* fmt : {"NHWC", "NCHW"}) {
    GraphBuilder b;
    b.Const("x", Random(std::string(fmt) == "NHWC" ? std::vector<int64_t>{2, 5, 6, 3} : std::vector<int64_t>{2, 3, 5, 6}, 1));
    b.Const("w", Random({3, 3, 3, 4}, 2));
    auto* c = b.Op("conv", "Conv2D", {"x", "w"});
    SetAttr(c, "strides", std::string(fmt) == "NHWC" ? std::vector<int64_t>{1, 2, 2, 1} : std::vector<int64_t>{1, 1, 2, 2});
    SetAttr(c, "padding", "SAME");
    SetAttr(c, "data_format", fmt);
    CheckGradient(b.graph(), "conv", {"x", "w"});
  }
}

TEST(Gradients, Conv2DValidTwoThreads) {
  GraphBuilder b;
  b.Const("x", Random({3, 6, 6, 2}, 3));
  b.Const("w", Random({5, 5, 2, 3}, 4));
  auto* c = b.Op("conv", "Conv2D", {"x", "w"});
  SetAttr(c, "strides", std::vector<int64_t>{1, 1, 1, 1});
  SetAttr(c, "padding", "VALID");
  CheckGradient(b.graph(), "conv", {"x", "w"}, 1e-2f, 2e-2f, 2);
}

TEST(Gradients, DepthwiseConv) {
  GraphBuilder b;
  b.Const("x", Random({2, 5, 5, 3}, 5));
  b.Const("w", Random({3, 3, 3, 2}, 6));
  auto* c = b.Op("dw", "DepthwiseConv2dNative", {"x", "w"});
  SetAttr(c, "strides", std::vector<int64_t>{1, 2, 2, 1});
  SetAttr(c, "padding", "SAME");
  CheckGradient(b.graph(), "dw", {"x", "w"});
}

TEST(Gradients, MatMulAllTransposes) {
  for (int t = 0; t < 4; ++t) {
    bool ta = t & 1, tb = t & 2;
    GraphBuilder b;
    b.Const("a", Random(ta ? std::vector<int64_t>{4, 3} : std::vector<int64_t>{3, 4}, 7));
    b.Const("b", Random(tb ? std::vector<int64_t>{5, 4} : std::vector<int64_t>{4, 5}, 8));
    auto* m = b.Op("mm", "MatMul", {"a", "b"});
    SetAttr(m, "transpose_a", ta);
    SetAttr(m, "transpose_b", tb);
    CheckGradient(b.graph(), "mm", {"a", "b"});
  }
}

TEST(Gradients, BiasAddReluRelu6Pools) {
  GraphBuilder b;
  b.Const("x", Random({2, 6, 6, 3}, 9, -8.f, 8.f));
  b.Const("bias", Random({3}, 10));
  b.Op("ba", "BiasAdd", {"x", "bias"});
  b.Op("r6", "Relu6", {"ba"});
  auto* mp = b.Op("mp", "MaxPool", {"r6"});
  SetAttr(mp, "ksize", std::vector<int64_t>{1, 2, 2, 1});
  SetAttr(mp, "strides", std::vector<int64_t>{1, 2, 2, 1});
  SetAttr(mp, "padding", "VALID");
  auto* ap = b.Op("ap", "AvgPool", {"ba"});
  SetAttr(ap, "ksize", std::vector<int64_t>{1, 3, 3, 1});
  SetAttr(ap, "strides", std::vector<int64_t>{1, 2, 2, 1});
  SetAttr(ap, "padding", "SAME");
  b.Op("r", "Relu", {"ap"});
  CheckGradient(b.graph(), "mp", {"x", "bias"}, 1e-3f);
  CheckGradient(b.graph(), "r", {"x", "bias"}, 1e-3f);
}

TEST(Gradients, BroadcastingBinaryOps) {
  for (const char* op : {"AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "SquaredDifference"}) {
    GraphBuilder b;
    b.Const("a", Random({2, 3, 4}, 11));
    b.Const("b", Random({3, 1}, 12, 0.5f, 1.5f));
    b.Op("y", op, {"a", "b"});
    SCOPED_TRACE(op);
    CheckGradient(b.graph(), "y", {"a", "b"}, 1e-3f);
  }
}

TEST(Gradients, UnaryOps) {
  for (const char* op : {"Tanh", "Sigmoid", "Square", "Rsqrt", "Sqrt", "Exp", "Log", "Neg", "Elu", "LeakyRelu", "Softplus"}) {
    GraphBuilder b;
    b.Const("a", Random({3, 4}, 13, 0.2f, 2.f));
    b.Op("y", op, {"a"});
    SCOPED_TRACE(op);
    CheckGradient(b.graph(), "y", {"a"}, 1e-3f);
  }
}

TEST(Gradients, ShapeOpsSoftmaxReductionsSelectConcat) {
  GraphBuilder b;
  b.Const("a", Random({2, 3, 4}, 14));
  b.Const("c", Random({2, 2, 4}, 15));
  b.Const("shape", Tensor::Int(tensorflow::DT_INT32, {2}, {6, 4}));
  b.Op("r", "Reshape", {"a", "shape"});
  b.Op("sm", "Softmax", {"r"});
  b.Op("lsm", "LogSoftmax", {"r"});
  b.Const("axes", Tensor::Int(tensorflow::DT_INT32, {1}, {1}));
  b.Op("mean", "Mean", {"a", "axes"});
  b.Op("sum", "Sum", {"a", "axes"});
  b.Op("cond", "Greater", {"a", "a"});  // all false
  b.Const("zero", Tensor::Float({}, std::vector<float>{0.f}));
  b.Op("gt", "Greater", {"a", "zero"});
  b.Op("sel", "SelectV2", {"gt", "a", "zero"});
  b.Const("axis", Tensor::Int(tensorflow::DT_INT32, {}, {1}));
  b.Op("cat", "ConcatV2", {"a", "c", "axis"});
  for (const char* out : {"sm", "lsm", "mean", "sum", "sel", "cat"}) {
    SCOPED_TRACE(out);
    CheckGradient(b.graph(), out, {"a"}, 1e-3f);
  }
  CheckGradient(b.graph(), "cat", {"c"}, 1e-3f);
}

TEST(Gradients, FusedBatchNormTrainingAndInference) {
  for (bool training : {true, false}) {
    GraphBuilder b;
    b.Const("x", Random({2, 3, 3, 4}, 16));
    b.Const("scale", Random({4}, 17, 0.5f, 1.5f));
    b.Const("offset", Random({4}, 18));
    b.Const("mean", training ? Tensor::Float({0}, std::vector<float>{}) : Random({4}, 19));
    b.Const("var", training ? Tensor::Float({0}, std::vector<float>{}) : Random({4}, 20, 0.5f, 1.f));
    auto* bn = b.Op("bn", "FusedBatchNormV3", {"x", "scale", "offset", "mean", "var"});
    SetAttr(bn, "is_training", training);
    SetAttr(bn, "epsilon", 0.001f);
    SCOPED_TRACE(training);
    CheckGradient(b.graph(), "bn", {"x", "scale", "offset"}, 1e-2f, 3e-2f);
  }
}

TEST(Gradients, FakeQuantStraightThroughEstimator) {
  GraphBuilder b;
  b.Const("x", Tensor::Float({6}, {-2.f, -0.5f, 0.f, 0.3f, 0.9f, 1.5f}));
  b.Const("mn", Tensor::Scalar(-1.f));
  b.Const("mx", Tensor::Scalar(1.f));
  b.Op("fq", "FakeQuantWithMinMaxVars", {"x", "mn", "mx"})->mutable_attr()->erase("T");
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok());
  RunTrace trace;
  ASSERT_TRUE(ex->RunWithTrace({}, {"fq"}, {}, &trace).ok());
  Tensor dy = Tensor::Float({6}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  const auto& v = ex->view();
  auto g = Backward(*ex, trace, *v.index("fq"), 0, dy, {*v.index("x"), *v.index("mn"), *v.index("mx")});
  ASSERT_TRUE(g.ok()) << g.status();
  // Range [-1, 1], 8 bits: nudged to [-1.0039, 0.99608] (zero point 128). x=-2 below, 1.5 above.
  EXPECT_EQ((*g)[0].f, (std::vector<float>{0.f, 2.f, 3.f, 4.f, 5.f, 0.f}));
  EXPECT_EQ((*g)[1].f, (std::vector<float>{1.f}));
  EXPECT_EQ((*g)[2].f, (std::vector<float>{6.f}));
}

TEST(Gradients, PerChannelFakeQuantSumsPerChannel) {
  GraphBuilder b;
  b.Const("x", Tensor::Float({2, 2}, {-3.f, 0.5f, 4.f, 9.f}));
  b.Const("mn", Tensor::Float({2}, {-1.f, 0.f}));
  b.Const("mx", Tensor::Float({2}, {1.f, 8.f}));
  b.Op("fq", "FakeQuantWithMinMaxVarsPerChannel", {"x", "mn", "mx"})->mutable_attr()->erase("T");
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok());
  RunTrace trace;
  ASSERT_TRUE(ex->RunWithTrace({}, {"fq"}, {}, &trace).ok());
  const auto& v = ex->view();
  auto g = Backward(*ex, trace, *v.index("fq"), 0, Tensor::Float({2, 2}, 1.f),
                    {*v.index("x"), *v.index("mn"), *v.index("mx")});
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ((*g)[0].f, (std::vector<float>{0.f, 1.f, 0.f, 0.f}));  // 4 > 1 (ch0), 9 > 8 (ch1)
  EXPECT_EQ((*g)[1].f, (std::vector<float>{1.f, 0.f}));
  EXPECT_EQ((*g)[2].f, (std::vector<float>{1.f, 1.f}));
}

TEST(Gradients, MissingGradientNamesNode) {
  GraphBuilder b;
  b.Const("x", Random({2, 3}, 21));
  b.Const("perm", Tensor::Int(tensorflow::DT_INT32, {2}, {1, 0}));
  b.Const("m", Tensor::Int(tensorflow::DT_INT32, {2}, {2, 1}));
  b.Op("tile", "Tile", {"x", "m"});
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok());
  RunTrace trace;
  ASSERT_TRUE(ex->RunWithTrace({}, {"tile"}, {}, &trace).ok());
  auto g = Backward(*ex, trace, *ex->view().index("tile"), 0, Tensor::Float({4, 3}, 1.f), {*ex->view().index("x")});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(g.status().message(), ::testing::HasSubstr("'tile' (Tile)"));
}

}  // namespace
}  // namespace tfqat

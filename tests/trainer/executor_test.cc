#include "trainer/executor.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/trainer/test_graphs.h"
#include "trainer/fake_quant.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;
using testing::GraphBuilder;

Tensor Iota(std::vector<int64_t> shape, float scale = 0.1f, float offset = 0.f) {
  Tensor t = Tensor::Float(shape, 0.f);
  for (size_t e = 0; e < t.f.size(); ++e) t.f[e] = std::sin(static_cast<float>(e) * 1.3f) * scale * 10 + offset;
  return t;
}

TEST(Executor, BroadcastAddAndRelu) {
  GraphBuilder b;
  b.Placeholder("x");
  b.Const("b", Tensor::Float({3}, {1.f, -2.f, 3.f}));
  b.Op("add", "AddV2", {"x", "b"});
  b.Op("relu", "Relu", {"add"});
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok()) << ex.status();
  auto out = ex->Run({{"x", Tensor::Float({2, 3}, {0, 0, 0, 1, 1, 1})}}, {"relu", "add:0"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*out)[0].f, (std::vector<float>{1, 0, 3, 2, 0, 4}));
  EXPECT_EQ((*out)[1].f, (std::vector<float>{1, -2, 3, 2, -1, 4}));
}

// Independent direct-loop convolution (NHWC, HWIO) for the golden.
std::vector<float> NaiveConv(const Tensor& x, const Tensor& w, int s, int pad_t, int pad_l, int oh, int ow) {
  const int64_t n = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3];
  const int64_t kh = w.shape[0], kw = w.shape[1], oc = w.shape[3];
  std::vector<float> y(n * oh * ow * oc, 0.f);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t o = 0; o < oc; ++o) {
          double acc = 0;
          for (int64_t ki = 0; ki < kh; ++ki)
            for (int64_t kj = 0; kj < kw; ++kj)
              for (int64_t ci = 0; ci < c; ++ci) {
                int64_t yy = i * s - pad_t + ki, xx = j * s - pad_l + kj;
                if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
                acc += x.f[((b * h + yy) * wd + xx) * c + ci] * w.f[((ki * kw + kj) * c + ci) * oc + o];
              }
          y[((b * oh + i) * ow + j) * oc + o] = static_cast<float>(acc);
        }
  return y;
}

TEST(Executor, Conv2DSameStride2MatchesDirectLoops) {
  for (int threads : {1, 2}) {
    GraphBuilder b;
    b.Placeholder("x");
    Tensor w = Iota({3, 3, 2, 4}, 0.05f);
    b.Const("w", w);
    auto* conv = b.Op("conv", "Conv2D", {"x", "w"});
    SetAttr(conv, "strides", std::vector<int64_t>{1, 2, 2, 1});
    SetAttr(conv, "padding", "SAME");
    ExecutorOptions o;
    o.num_threads = threads;
    auto ex = Executor::Create(b.graph(), o);
    ASSERT_TRUE(ex.ok()) << ex.status();
    Tensor x = Iota({3, 7, 6, 2});
    auto out = ex->Run({{"x", x}}, {"conv"});
    ASSERT_TRUE(out.ok()) << out.status();
    // SAME, stride 2: out 4x3; pad total rows = (4-1)*2+3-7 = 2 -> top 1; cols (3-1)*2+3-6 = 1 -> left 0.
    ASSERT_EQ((*out)[0].shape, (std::vector<int64_t>{3, 4, 3, 4}));
    auto want = NaiveConv(x, w, 2, 1, 0, 4, 3);
    for (size_t e = 0; e < want.size(); ++e) EXPECT_NEAR((*out)[0].f[e], want[e], 1e-5) << e;
  }
}

TEST(Executor, FakeQuantMatchesHandComputedValues) {
  // min 0, max 1, 8 bits: scale 1/255, zero point 0.
  GraphBuilder b;
  b.Placeholder("x");
  b.Const("mn", Tensor::Scalar(0.f));
  b.Const("mx", Tensor::Scalar(1.f));
  b.Op("fq", "FakeQuantWithMinMaxVars", {"x", "mn", "mx"})->mutable_attr()->erase("T");
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok()) << ex.status();
  auto out = ex->Run({{"x", Tensor::Float({4}, {0.5f, -3.f, 2.f, 0.25f})}}, {"fq"});
  ASSERT_TRUE(out.ok()) << out.status();
  const float s = 1.f / 255.f;
  // 0.5 sits on a rounding boundary: TF multiplies by float(1/scale) = 254.99998, so
  // floor(127.49999 + 0.5) = 127 (a division would give 128).
  EXPECT_EQ((*out)[0].f[0], 127 * s);
  EXPECT_FLOAT_EQ((*out)[0].f[1], 0.f);
  EXPECT_FLOAT_EQ((*out)[0].f[2], 1.f);
  EXPECT_EQ((*out)[0].f[3], 64 * s);  // 0.25 * 254.99998 + 0.5 = 64.2499 -> 64
  // Nudging: min -0.1, max 1 (8 bits): zero point 0.1/ (1.1/255) = 23.18 -> 23.
  auto r = NudgeFakeQuantRange(-0.1f, 1.f, 8, false);
  EXPECT_FLOAT_EQ(r.scale, 1.1f / 255.f);
  EXPECT_FLOAT_EQ(r.nudged_min, -23 * (1.1f / 255.f));
  auto rn = NudgeFakeQuantRange(-1.f, 1.f, 8, true);
  EXPECT_FLOAT_EQ(rn.scale, 2.f / 254.f);
  EXPECT_FLOAT_EQ(rn.nudged_min, -1.f);
}

TEST(Executor, UnsupportedOpNamesNodeBeforeRunning) {
  GraphBuilder b;
  b.Variable("v", Tensor::Float({1}, {1.f}));
  b.Const("one", Tensor::Float({1}, {1.f}));
  b.Op("inc", "AssignAdd", {"v", "one"});
  b.Op("weird", "FancyOp", {"v/read"});
  b.Op("group", "NoOp")->add_input("^inc");
  b.graph();
  auto strict = Executor::Create(b.graph(), {});
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(strict.status().message(), HasSubstr("'weird' (FancyOp)"));
  ExecutorOptions lazy;
  lazy.check_all_ops = false;
  auto ex = Executor::Create(b.graph(), lazy);
  ASSERT_TRUE(ex.ok()) << ex.status();
  auto out = ex->Run({}, {"weird"}, {"group"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  // Nothing ran: the AssignAdd in the same Run did not happen.
  EXPECT_EQ(ex->GetVariable("v")->f[0], 1.f);
  ASSERT_TRUE(ex->Run({}, {}, {"group"}).ok());
  EXPECT_EQ(ex->GetVariable("v")->f[0], 2.f);
}

TEST(Executor, VariablesInitialiseAssignAndReadInOrder) {
  GraphBuilder b;
  b.Variable("v", Tensor::Float({2}, {1.f, 2.f}));
  b.Variable("step", Tensor::Int(tensorflow::DT_INT64, {}, {0}));
  b.Const("d", Tensor::Float({2}, {0.5f, 0.5f}));
  b.Op("sub", "AssignSub", {"v", "d"});
  b.Op("after", "Identity", {"v"})->add_input("^sub");
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(ex->VariableNames(), (std::vector<std::string>{"v", "step"}));
  auto out = ex->Run({}, {"after", "v/read"});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].f, (std::vector<float>{0.5f, 1.5f}));
  ASSERT_TRUE(ex->SetVariable("v", Tensor::Float({2}, {7.f, 8.f})).ok());
  EXPECT_EQ((*ex->Run({}, {"v/read"}))[0].f, (std::vector<float>{7.f, 8.f}));
  EXPECT_EQ(ex->GetVariable("step")->i[0], 0);
}

TEST(Executor, MissingFeedIsAnErrorNamingThePlaceholder) {
  GraphBuilder b;
  b.Placeholder("input");
  b.Op("y", "Relu", {"input"});
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok());
  auto out = ex->Run({}, {"y"});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("'input' (Placeholder)"));
  auto bad = ex->Run({{"input", Tensor::Float({1}, {1.f})}}, {"nope"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("nope"));
}

TEST(Executor, BiasShapeMismatchNamesNode) {
  GraphBuilder b;
  b.Placeholder("x");
  b.Const("bias", Tensor::Float({2}, {1.f, 2.f}));
  b.Op("conv1/BiasAdd", "BiasAdd", {"x", "bias"});
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok());
  auto out = ex->Run({{"x", Tensor::Float({1, 3}, 0.f)}}, {"conv1/BiasAdd"});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("node 'conv1/BiasAdd' (BiasAdd)"));
}

TEST(Executor, StridedSliceShrinkAndMasks) {
  GraphBuilder b;
  b.Placeholder("x");
  b.Const("b", Tensor::Int(tensorflow::DT_INT32, {2}, {1, 0}));
  b.Const("e", Tensor::Int(tensorflow::DT_INT32, {2}, {2, 0}));
  b.Const("s", Tensor::Int(tensorflow::DT_INT32, {2}, {1, -1}));
  auto* ss = b.Op("ss", "StridedSlice", {"x", "b", "e", "s"});
  SetAttr(ss, "shrink_axis_mask", int64_t{1});
  SetAttr(ss, "end_mask", int64_t{2});
  auto ex = Executor::Create(b.graph(), {});
  ASSERT_TRUE(ex.ok());
  auto out = ex->Run({{"x", Tensor::Float({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})}}, {"ss"});
  ASSERT_TRUE(out.ok()) << out.status();
  // x[1, 0::-1] with end masked: row 1 reversed from index 0 -> just [4]... begin 0 stride -1 -> [4].
  EXPECT_EQ((*out)[0].shape, (std::vector<int64_t>{1}));
  EXPECT_EQ((*out)[0].f, (std::vector<float>{4}));
}

}  // namespace
}  // namespace tfqat

// Writes a MobileNet-v1-shaped float GraphDef (Howard et al. 2017): 224x224x3 input,
// conv3x3/2 + BN + ReLU6, 13 depthwise-separable blocks (depthwise 3x3 + BN + ReLU6,
// pointwise 1x1 + BN + ReLU6), global average pool, 1x1 conv to 1001 classes, Squeeze,
// Softmax. Batch norms are FusedBatchNormV3 (is_training=false) with random statistics;
// weights are random (fixed seed). Node names follow slim's mobilenet_v1 layout
// (MobilenetV1/Conv2d_<i>_depthwise/..., MobilenetV1/Logits/...).
// Usage: tfqat_example_mobilenet OUT.pb [--alpha A] [--seed S]
#include <cmath>
#include <cstring>
#include <iostream>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/graph_builder.h"
#include "graph/graph_io.h"

namespace {

struct Rng {
  std::mt19937 gen;
  tfqat::HostTensor<float> Uniform(std::vector<int64_t> shape, float lo, float hi) {
    tfqat::HostTensor<float> t;
    t.shape = std::move(shape);
    std::uniform_real_distribution<float> d(lo, hi);
    t.values.resize(t.num_elements());
    for (float& v : t.values) v = d(gen);
    return t;
  }
};

std::string ConvBnRelu6(tfqat::GraphBuilder* b, Rng* rng, const std::string& scope,
                        const std::string& x, int k, int in, int out, int stride, bool depthwise) {
  const int64_t fan_in = static_cast<int64_t>(k) * k * (depthwise ? 1 : in);
  const float limit = std::sqrt(6.0f / static_cast<float>(fan_in));
  std::string y;
  if (depthwise) {
    std::string w = b->Const(scope + "/depthwise_weights", rng->Uniform({k, k, in, 1}, -limit, limit));
    y = b->DepthwiseConv2dNative(scope + "/depthwise", x, w, stride, "SAME");
  } else {
    std::string w = b->Const(scope + "/weights", rng->Uniform({k, k, in, out}, -limit, limit));
    y = b->Conv2D(scope + "/Conv2D", x, w, stride, "SAME");
  }
  const int c = depthwise ? in : out;
  std::string gamma = b->Const(scope + "/BatchNorm/gamma", rng->Uniform({c}, 0.8f, 1.2f));
  std::string beta = b->Const(scope + "/BatchNorm/beta", rng->Uniform({c}, -0.1f, 0.1f));
  std::string mean = b->Const(scope + "/BatchNorm/moving_mean", rng->Uniform({c}, -0.1f, 0.1f));
  std::string var = b->Const(scope + "/BatchNorm/moving_variance", rng->Uniform({c}, 0.5f, 1.5f));
  y = b->FusedBatchNormV3(scope + "/BatchNorm/FusedBatchNormV3", y, gamma, beta, mean, var, 0.001f);
  return b->Unary("Relu6", scope + "/Relu6", y);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: tfqat_example_mobilenet OUT.pb [--alpha A] [--seed S]\n";
    return 2;
  }
  float alpha = 1.0f;
  uint32_t seed = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--alpha") == 0 && absl::SimpleAtof(argv[i + 1], &alpha) && alpha > 0) continue;
    if (std::strcmp(argv[i], "--seed") == 0 && absl::SimpleAtoi(argv[i + 1], &seed)) continue;
    std::cerr << "tfqat_example_mobilenet: bad option '" << argv[i] << "'\n";
    return 2;
  }
  auto width = [&](int c) { return std::max(8, static_cast<int>(c * alpha)); };
  Rng rng{std::mt19937(seed)};
  tfqat::GraphBuilder b;
  std::string x = b.Placeholder("input", {-1, 224, 224, 3});
  x = ConvBnRelu6(&b, &rng, "MobilenetV1/Conv2d_0", x, 3, 3, width(32), 2, false);
  // (pointwise output channels, depthwise stride) for blocks 1..13.
  const int blocks[13][2] = {{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2}, {512, 1},
                             {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  int channels = width(32);
  for (int i = 0; i < 13; ++i) {
    std::string s = absl::StrCat("MobilenetV1/Conv2d_", i + 1);
    x = ConvBnRelu6(&b, &rng, s + "_depthwise", x, 3, channels, channels, blocks[i][1], true);
    x = ConvBnRelu6(&b, &rng, s + "_pointwise", x, 1, channels, width(blocks[i][0]), 1, false);
    channels = width(blocks[i][0]);
  }
  x = b.Pool("AvgPool", "MobilenetV1/Logits/AvgPool_1a/AvgPool", x, 7, 2, "VALID");
  const float limit = std::sqrt(6.0f / channels);
  std::string w = b.Const("MobilenetV1/Logits/Conv2d_1c_1x1/weights",
                          rng.Uniform({1, 1, channels, 1001}, -limit, limit));
  std::string bias = b.Const("MobilenetV1/Logits/Conv2d_1c_1x1/biases", rng.Uniform({1001}, -0.01f, 0.01f));
  x = b.Conv2D("MobilenetV1/Logits/Conv2d_1c_1x1/Conv2D", x, w, 1, "SAME");
  x = b.BiasAdd("MobilenetV1/Logits/Conv2d_1c_1x1/BiasAdd", x, bias);
  auto* sq = b.AddNode("MobilenetV1/Logits/SpatialSqueeze", "Squeeze", {x});
  tfqat::SetAttr(sq, "T", tensorflow::DT_FLOAT);
  tfqat::SetAttr(sq, "squeeze_dims", std::vector<int64_t>{1, 2});
  b.Unary("Softmax", "MobilenetV1/Predictions/Softmax", sq->name());
  auto st = tfqat::SaveGraphDef(b.Build(), argv[1]);
  if (!st.ok()) {
    std::cerr << "tfqat_example_mobilenet: " << st.message() << "\n";
    return 2;
  }
  return 0;
}

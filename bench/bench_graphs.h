// Generated GraphDefs for the pattern and rewrite benchmarks (no file I/O, fixed shapes).
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "graph/graph_builder.h"

namespace tfqat::bench {

inline HostTensor<float> SmallTensor(std::vector<int64_t> shape) {
  HostTensor<float> t;
  t.shape = shape;
  t.values.assign(t.num_elements(), 0.01f);
  return t;
}

// One conv layer: weights Const + /read, Conv2D, bias Const, BiasAdd, Relu (6 nodes).
inline std::string ConvLayer(GraphBuilder& g, const std::string& scope, const std::string& x,
                             int c) {
  std::string w = g.Const(scope + "/weights", SmallTensor({1, 1, c, c}));
  std::string wr = g.Identity(scope + "/weights/read", w);
  std::string conv = g.Conv2D(scope + "/Conv2D", x, wr, 1, "SAME");
  std::string b = g.Const(scope + "/biases", SmallTensor({c}));
  std::string ba = g.BiasAdd(scope + "/BiasAdd", conv, b);
  return g.Unary("Relu", scope + "/Relu", ba);
}

// A chain of conv layers padded with pass-through ops so that every 10 nodes hold one layer:
// the matcher sees realistic density (layers, pooling/reshape, elementwise ops).
inline tensorflow::GraphDef LayerChain(int64_t target_nodes) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 4});
  int64_t nodes = 1;
  for (int64_t i = 0; nodes < target_nodes; ++i) {
    const std::string s = absl::StrCat("block", i);
    x = ConvLayer(g, s + "/conv", x, 4);
    x = g.Unary("Identity", s + "/id", x);
    x = g.Unary("Tanh", s + "/tanh", x);
    x = g.Pool("MaxPool", s + "/pool", x, 1, 1, "SAME");
    x = g.Unary("Sigmoid", s + "/sig", x);
    nodes += 10;
  }
  return g.Build();
}

// ResNet-50-sized: stem conv, 16 bottleneck blocks (3 convs each + projection on the first
// of each stage) with FusedBatchNormV3 + Relu, residual Add, and the final MatMul.
// 53 conv + 1 matmul layers, like ResNet-50.
inline tensorflow::GraphDef ResNet50Like() {
  GraphBuilder g;
  int bn_id = 0;
  auto conv_bn = [&](const std::string& s, const std::string& x, int cin, int cout, bool relu) {
    std::string w = g.Const(s + "/weights", SmallTensor({1, 1, cin, cout}));
    std::string wr = g.Identity(s + "/weights/read", w);
    std::string c = g.Conv2D(s + "/Conv2D", x, wr, 1, "SAME");
    std::string gm = g.Const(s + "/BatchNorm/gamma", SmallTensor({cout}));
    std::string bt = g.Const(s + "/BatchNorm/beta", SmallTensor({cout}));
    std::string mm = g.Const(s + "/BatchNorm/moving_mean", SmallTensor({cout}));
    std::string mv = g.Const(s + "/BatchNorm/moving_variance", SmallTensor({cout}));
    std::string bn = g.FusedBatchNormV3(s + "/BatchNorm/FusedBatchNormV3", c, gm, bt, mm, mv, 1e-3f);
    ++bn_id;
    return relu ? g.Unary("Relu", s + "/Relu", bn) : bn;
  };
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  x = conv_bn("resnet_v1_50/conv1", x, 3, 8, true);
  const int blocks[4] = {3, 4, 6, 3};
  int cin = 8;
  for (int st = 0; st < 4; ++st) {
    const int cout = 8 << st;
    for (int b = 0; b < blocks[st]; ++b) {
      const std::string s = absl::StrCat("resnet_v1_50/block", st + 1, "/unit_", b + 1, "/bottleneck_v1");
      std::string shortcut = x;
      if (b == 0) shortcut = conv_bn(s + "/shortcut", x, cin, cout * 4, false);
      std::string y = conv_bn(s + "/conv1", x, cin, cout, true);
      y = conv_bn(s + "/conv2", y, cout, cout, true);
      y = conv_bn(s + "/conv3", y, cout, cout * 4, false);
      std::string add = g.Binary("AddV2", s + "/add", shortcut, y);
      x = g.Unary("Relu", s + "/Relu", add);
      cin = cout * 4;
    }
  }
  std::string pool = g.Mean("resnet_v1_50/pool5", x, {1, 2}, false);
  std::string w = g.Const("resnet_v1_50/logits/weights", SmallTensor({cin, 10}));
  std::string mmul = g.MatMul("resnet_v1_50/logits/MatMul", pool, w);
  std::string b = g.Const("resnet_v1_50/logits/biases", SmallTensor({10}));
  g.BiasAdd("resnet_v1_50/logits/BiasAdd", mmul, b);
  return g.Build();
}

}  // namespace tfqat::bench

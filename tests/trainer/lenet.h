// The LeNet of the performance goal (conv5x5 1->16 + ReLU + maxpool2, conv5x5 16->32 + ReLU +
// maxpool2, FC 512->128 + ReLU, FC 128->10) as a frozen float GraphDef with seeded weights,
// and a synthetic, learnable 28x28 digit-like data set for tests.
#pragma once

#include <cmath>
#include <random>

#include "graph/graph_builder.h"
#include "trainer/data.h"

namespace tfqat::testing {

inline HostTensor<float> UniformTensor(std::vector<int64_t> shape, float bound, std::mt19937* rng) {
  HostTensor<float> t;
  t.shape = shape;
  std::uniform_real_distribution<float> u(-bound, bound);
  t.values.resize(t.num_elements());
  for (auto& v : t.values) v = u(*rng);
  return t;
}

// Input "input" [-1,28,28,1], logits "logits" [-1,10].
inline tensorflow::GraphDef BuildLeNet(uint32_t seed = 1) {
  std::mt19937 rng(seed);
  GraphBuilder b;
  b.Placeholder("input", {-1, 28, 28, 1});
  auto layer_conv = [&](const std::string& name, const std::string& in, int64_t cin, int64_t cout) {
    b.Const(name + "/weights", UniformTensor({5, 5, cin, cout}, std::sqrt(6.f / (25 * cin)), &rng));
    b.Const(name + "/biases", UniformTensor({cout}, 0.01f, &rng));
    b.Conv2D(name + "/Conv2D", in, name + "/weights", 1, "VALID");
    b.BiasAdd(name + "/BiasAdd", name + "/Conv2D", name + "/biases");
    b.Unary("Relu", name + "/Relu", name + "/BiasAdd");
    return b.Pool("MaxPool", name + "/MaxPool", name + "/Relu", 2, 2, "VALID");
  };
  std::string x = layer_conv("conv1", "input", 1, 16);
  x = layer_conv("conv2", x, 16, 32);
  b.Reshape("flatten", x, {-1, 512});
  b.Const("fc1/weights", UniformTensor({512, 128}, std::sqrt(6.f / 512), &rng));
  b.Const("fc1/biases", UniformTensor({128}, 0.01f, &rng));
  b.MatMul("fc1/MatMul", "flatten", "fc1/weights");
  b.BiasAdd("fc1/BiasAdd", "fc1/MatMul", "fc1/biases");
  b.Unary("Relu", "fc1/Relu", "fc1/BiasAdd");
  b.Const("fc2/weights", UniformTensor({128, 10}, std::sqrt(6.f / 128), &rng));
  b.Const("fc2/biases", UniformTensor({10}, 0.01f, &rng));
  b.MatMul("fc2/MatMul", "fc1/Relu", "fc2/weights");
  b.BiasAdd("logits", "fc2/MatMul", "fc2/biases");
  return b.Build();
}

// n examples [n,28,28,1] in [0,1]: class k draws a bar whose position and orientation depend
// on k, plus noise.
inline Dataset SyntheticDigits(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> noise(0.f, 0.3f);
  Dataset d;
  d.x = Tensor::Float({n, 28, 28, 1}, 0.f);
  d.labels.resize(n);
  for (int64_t e = 0; e < n; ++e) {
    const int k = static_cast<int>(rng() % 10);
    d.labels[e] = k;
    const int shift = static_cast<int>(rng() % 3);
    float* img = d.x.f.data() + e * 784;
    for (int p = 0; p < 784; ++p) img[p] = noise(rng);
    for (int t = 4; t < 24; ++t) {
      const int pos = 3 + 2 * (k % 5) + shift;
      const int r = k < 5 ? t : pos, c = k < 5 ? pos : t;
      img[r * 28 + c] = 1.f;
      img[r * 28 + c + 1] = 1.f;
    }
  }
  return d;
}

}  // namespace tfqat::testing

// Writes the LeNet-style float CNN of the MNIST example as a TensorFlow GraphDef:
//   input [N,28,28,1] -> conv5x5 1->16 (VALID) + ReLU -> maxpool 2
//   -> conv5x5 16->32 (VALID) + ReLU -> maxpool 2 -> reshape [N,512]
//   -> FC 512->128 + ReLU -> FC 128->10 ("logits") -> Softmax ("probabilities").
// Weights are Const nodes (a frozen float graph) with He-uniform initial values from a fixed
// seed; `tfqat train` turns them into parameters.
#include <cmath>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "graph/graph_builder.h"
#include "graph/graph_io.h"

namespace {

tfqat::HostTensor<float> HeUniform(std::vector<int64_t> shape, int64_t fan_in, std::mt19937* rng) {
  tfqat::HostTensor<float> t;
  t.shape = std::move(shape);
  const float limit = std::sqrt(6.0f / static_cast<float>(fan_in));
  std::uniform_real_distribution<float> dist(-limit, limit);
  t.values.resize(t.num_elements());
  for (float& v : t.values) v = dist(*rng);
  return t;
}

tfqat::HostTensor<float> Filled(std::vector<int64_t> shape, float value) {
  tfqat::HostTensor<float> t;
  t.shape = std::move(shape);
  t.values.assign(t.num_elements(), value);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: tfqat_example_lenet OUT.pb [SEED]\n";
    return 2;
  }
  uint32_t seed = 1;
  if (argc == 3 && !absl::SimpleAtoi(argv[2], &seed)) {
    std::cerr << "tfqat_example_lenet: SEED must be a non-negative integer\n";
    return 2;
  }
  std::mt19937 rng(seed);
  tfqat::GraphBuilder b;
  std::string x = b.Placeholder("input", {-1, 28, 28, 1});

  std::string w1 = b.Const("conv1/weights", HeUniform({5, 5, 1, 16}, 25, &rng));
  std::string b1 = b.Const("conv1/biases", Filled({16}, 0.0f));
  x = b.Conv2D("conv1/Conv2D", x, b.Identity("conv1/weights/read", w1), 1, "VALID");
  x = b.BiasAdd("conv1/BiasAdd", x, b.Identity("conv1/biases/read", b1));
  x = b.Unary("Relu", "conv1/Relu", x);
  x = b.Pool("MaxPool", "pool1/MaxPool", x, 2, 2, "VALID");

  std::string w2 = b.Const("conv2/weights", HeUniform({5, 5, 16, 32}, 25 * 16, &rng));
  std::string b2 = b.Const("conv2/biases", Filled({32}, 0.0f));
  x = b.Conv2D("conv2/Conv2D", x, b.Identity("conv2/weights/read", w2), 1, "VALID");
  x = b.BiasAdd("conv2/BiasAdd", x, b.Identity("conv2/biases/read", b2));
  x = b.Unary("Relu", "conv2/Relu", x);
  x = b.Pool("MaxPool", "pool2/MaxPool", x, 2, 2, "VALID");
  x = b.Reshape("flatten/Reshape", x, {-1, 512});

  std::string w3 = b.Const("fc1/weights", HeUniform({512, 128}, 512, &rng));
  std::string b3 = b.Const("fc1/biases", Filled({128}, 0.0f));
  x = b.MatMul("fc1/MatMul", x, b.Identity("fc1/weights/read", w3));
  x = b.BiasAdd("fc1/BiasAdd", x, b.Identity("fc1/biases/read", b3));
  x = b.Unary("Relu", "fc1/Relu", x);

  std::string w4 = b.Const("fc2/weights", HeUniform({128, 10}, 128, &rng));
  std::string b4 = b.Const("fc2/biases", Filled({10}, 0.0f));
  x = b.MatMul("fc2/MatMul", x, b.Identity("fc2/weights/read", w4));
  x = b.BiasAdd("logits", x, b.Identity("fc2/biases/read", b4));
  b.Unary("Softmax", "probabilities", x);

  auto st = tfqat::SaveGraphDef(b.Build(), argv[1]);
  if (!st.ok()) {
    std::cerr << "tfqat_example_lenet: " << st.message() << "\n";
    return 2;
  }
  return 0;
}

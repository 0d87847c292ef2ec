// Small graph builders shared by the pattern tests.
#pragma once

#include <string>
#include <vector>

#include "graph/graph_builder.h"
#include "graph/graph_view.h"

namespace tfqat::patterns::testing {

inline HostTensor<float> Filled(std::vector<int64_t> shape, float start = 0.1f) {
  HostTensor<float> t;
  t.shape = shape;
  int64_t n = t.num_elements();
  t.values.resize(n);
  for (int64_t i = 0; i < n; ++i) t.values[i] = start + 0.01f * static_cast<float>(i % 17) - 0.05f;
  return t;
}

// x -> Conv2D(w) -> BiasAdd(b) -> Relu, weights behind Identity "<p>/weights/read".
inline std::string ConvBiasRelu(GraphBuilder& g, const std::string& p, const std::string& x,
                                int cin, int cout) {
  std::string w = g.Const(p + "/weights", Filled({3, 3, cin, cout}));
  std::string wr = g.Identity(p + "/weights/read", w);
  std::string b = g.Const(p + "/biases", Filled({cout}));
  std::string c = g.Conv2D(p + "/Conv2D", x, wr, 1, "SAME");
  std::string ba = g.BiasAdd(p + "/BiasAdd", c, b);
  return g.Unary("Relu", p + "/Relu", ba);
}

inline int Idx(const GraphView& v, const std::string& name) {
  auto i = v.index(name);
  return i ? *i : -1;
}

}  // namespace tfqat::patterns::testing

// Helpers for the rewriter tests: graph builders and structural queries.
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "graph/graph_builder.h"
#include "graph/graph_view.h"
#include "rewriter/op_defs.h"

namespace tfqat::rewriter_testing {

inline HostTensor<float> Filled(std::vector<int64_t> shape, float scale = 0.1f, int seed = 1) {
  HostTensor<float> t;
  t.shape = shape;
  int64_t n = t.num_elements();
  t.values.resize(n);
  uint32_t s = 2463534242u + seed;
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    t.values[i] = scale * (static_cast<float>(s % 2001) / 1000.f - 1.f);
  }
  return t;
}

// x -> Conv2D(w behind /read) -> BiasAdd -> Relu
inline std::string ConvBiasRelu(GraphBuilder& g, const std::string& p, const std::string& x, int cin,
                                int cout, int seed = 1) {
  std::string w = g.Const(p + "/weights", Filled({3, 3, cin, cout}, 0.3f, seed));
  std::string wr = g.Identity(p + "/weights/read", w);
  std::string b = g.Const(p + "/biases", Filled({cout}, 0.1f, seed + 7));
  std::string c = g.Conv2D(p + "/Conv2D", x, wr, 1, "SAME");
  std::string ba = g.BiasAdd(p + "/BiasAdd", c, b);
  return g.Unary("Relu", p + "/Relu", ba);
}

inline const tensorflow::NodeDef* Node(const tensorflow::GraphDef& g, const std::string& name) {
  for (const auto& n : g.node())
    if (n.name() == name) return &n;
  return nullptr;
}

inline std::string ProducerOp(const tensorflow::GraphDef& g, const std::string& input) {
  std::string name = input;
  auto colon = name.find(':');
  if (colon != std::string::npos) name = name.substr(0, colon);
  const auto* n = Node(g, name);
  return n ? n->op() : "";
}

inline int CountOp(const tensorflow::GraphDef& g, const std::string& op) {
  int c = 0;
  for (const auto& n : g.node()) c += n.op() == op;
  return c;
}

// The contract's op vocabulary for rewriter-emitted nodes (docs/CONTRACTS.md).
inline const absl::flat_hash_set<std::string>& ContractVocabulary() {
  static const auto* v = new absl::flat_hash_set<std::string>{
      "Const", "Identity", "VariableV2", "Assign", "AssignAdd", "AssignSub", "NoOp", "Min", "Max",
      "Minimum", "Maximum", "AddV2", "Sub", "Mul", "RealDiv", "Pow", "Cast", "GreaterEqual",
      "SelectV2", "Square", "Rsqrt", "Sqrt", "Mean", "Reshape", "FusedBatchNormV3",
      "FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel"};
  return *v;
}

}  // namespace tfqat::rewriter_testing

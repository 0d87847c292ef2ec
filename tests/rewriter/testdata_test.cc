// The rewrite on the real TensorFlow graphs of shared/testdata/tf.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "graph/graph_io.h"
#include "graph/validate.h"
#include "patterns/op_set.h"
#include "rewriter/quantize.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

namespace fs = std::filesystem;
using rewriter_testing::Node;
using rewriter_testing::ProducerOp;

std::vector<std::string> CorpusGraphs() {
  std::vector<std::string> out;
  const fs::path root = fs::path(TFQAT_SHARED_DIR) / "testdata" / "tf";
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string p = e.path().string();
    if (absl::EndsWith(p, ".pb")) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool IsQuantOp(const std::string& op) {
  return op == "FakeQuantWithMinMaxVars" || op == "FakeQuantWithMinMaxVarsPerChannel" ||
         op == "SelectV2" || op == "Reshape";
}

// Checks the placement invariants of one rewritten graph against its report.
void CheckPlacement(const std::string& path, const tensorflow::GraphDef& before,
                    const QuantizeResult& r, int* weights_quantized, int* outputs_quantized) {
  const auto& out = r.graph;
  auto view = GraphView::Create(out);
  ASSERT_TRUE(view.ok()) << path << ": " << view.status();
  absl::flat_hash_set<std::string> old;
  for (const auto& n : before.node()) old.insert(n.name());
  for (const LayerReport& l : r.layers) {
    if (l.pattern != "layer") continue;
    const auto* w = Node(out, l.weighted_op);
    ASSERT_NE(w, nullptr);
    if (l.weights_quantized) {
      ++*weights_quantized;
      const int slot = 1;
      EXPECT_TRUE(IsQuantOp(ProducerOp(out, w->input(slot)))) << path << " " << l.weighted_op;
    }
    if (l.output_quantized) {
      ++*outputs_quantized;
      // The layer output feeds a FakeQuant; the weighted op (when it is not the output) does not.
      auto oi = view->index(l.output);
      ASSERT_TRUE(oi.has_value());
      bool fq = false;
      for (const Consumer& c : view->fanout(*oi)) {
        fq |= absl::StartsWith(view->node(c.node).op(), "FakeQuant");
      }
      EXPECT_TRUE(fq) << path << " " << l.output;
      if (l.weighted_op != l.output) {
        for (const Consumer& c : view->fanout(*view->index(l.weighted_op))) {
          EXPECT_FALSE(absl::StartsWith(view->node(c.node).op(), "FakeQuant")) << path << " " << l.weighted_op;
        }
      }
    }
  }
  for (int i = 0; i < view->num_nodes(); ++i) {
    const auto& n = view->node(i);
    // Never a quant on a bias, never between a weighted op and its bias.
    if (n.op() == "BiasAdd") {
      EXPECT_FALSE(absl::StartsWith(ProducerOp(out, n.input(1)), "FakeQuant")) << path << " " << n.name();
      EXPECT_FALSE(absl::StartsWith(ProducerOp(out, n.input(0)), "FakeQuant")) << path << " " << n.name();
    }
    if (!old.contains(n.name())) {
      auto st = CheckNodeAgainstOpDef(*view, i);
      EXPECT_TRUE(st.ok()) << path << ": " << st;
    }
  }
}

TEST(TestdataTest, EveryCorpusGraphRewritesWithCorrectPlacement) {
  const auto graphs = CorpusGraphs();
  if (graphs.empty()) GTEST_SKIP() << "missing " << TFQAT_SHARED_DIR << "/testdata/tf";
  int rewritten = 0, weights = 0, outputs = 0;
  for (const std::string& path : graphs) {
    auto g = LoadGraphDef(path);
    if (!g.ok()) continue;  // not every .pb there is a GraphDef the library accepts
    if (!ValidateGraph(*g).ok()) continue;
    for (auto mode : {QuantizeOptions::Mode::kTrain, QuantizeOptions::Mode::kEval}) {
      QuantizeOptions o;
      o.mode = mode;
      o.quant_delay = mode == QuantizeOptions::Mode::kTrain ? 10 : 0;
      auto r = InsertFakeQuant(*g, o);
      ASSERT_TRUE(r.ok()) << path << ": " << r.status();
      auto valid = ValidateGraph(r->graph);
      EXPECT_TRUE(valid.ok()) << path << ": " << valid;
      if (mode == QuantizeOptions::Mode::kTrain) {
        CheckPlacement(path, *g, *r, &weights, &outputs);
        if (r->changed) ++rewritten;
        // Idempotent.
        auto again = InsertFakeQuant(r->graph, o);
        ASSERT_TRUE(again.ok()) << path << ": " << again.status();
        EXPECT_FALSE(again->changed) << path;
      }
    }
  }
  // 136 float32 conv/matmul layers of the corpus match (the others are float64 dl4j graphs,
  // Dequantize weights, computed weights).
  EXPECT_GT(rewritten, 60);
  EXPECT_GT(weights, 120);
  EXPECT_GT(outputs, 120);
  std::cerr << "corpus: " << graphs.size() << " graphs, " << rewritten << " rewritten, " << weights
            << " weight quants, " << outputs << " output quants\n";
}

TEST(TestdataTest, Cifar10CnnEveryLayer) {
  const std::string path = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/utensor_cgen/cifar10_cnn.pb";
  if (!fs::exists(path)) GTEST_SKIP() << "missing " << path;
  auto g = LoadGraphDef(path);
  ASSERT_TRUE(g.ok()) << g.status();
  auto r = InsertFakeQuant(*g, QuantizeOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  int conv = 0, matmul = 0;
  for (const auto& l : r->layers) {
    if (l.pattern != "layer") continue;
    EXPECT_TRUE(l.weights_quantized) << l.weighted_op;
    EXPECT_TRUE(l.output_quantized) << l.weighted_op;
    const auto* w = Node(*g, l.weighted_op);
    conv += w->op() == "Conv2D";
    matmul += w->op() == "MatMul";
    // Bias is Add with a constant: the quant follows the Relu when there is one.
    if (absl::StrContains(l.kind, "Relu")) EXPECT_EQ(Node(*g, l.output)->op(), "Relu") << l.kind;
  }
  EXPECT_EQ(conv, 6);
  EXPECT_EQ(matmul, 3);
}

TEST(TestdataTest, FcLayersWeightsBehindReadIdentity) {
  const std::string path = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/tf2onnx/fc-layers/frozen.pb";
  if (!fs::exists(path)) GTEST_SKIP() << "missing " << path;
  auto g = LoadGraphDef(path);
  ASSERT_TRUE(g.ok()) << g.status();
  auto r = InsertFakeQuant(*g, QuantizeOptions{});
  ASSERT_TRUE(r.ok()) << r.status();
  int layers = 0;
  for (const auto& l : r->layers) {
    if (l.pattern != "layer") continue;
    ++layers;
    EXPECT_TRUE(l.weights_quantized);
    const auto* mm = Node(r->graph, l.weighted_op);
    const auto* fq = Node(r->graph, mm->input(1));
    ASSERT_NE(fq, nullptr);
    EXPECT_TRUE(absl::EndsWith(fq->input(0), "/read")) << fq->input(0);
  }
  EXPECT_EQ(layers, 3);
}

}  // namespace
}  // namespace tfqat

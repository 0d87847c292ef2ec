// The whole pipeline with the real batch-norm folding pass: fold, then quantize.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "graph/attrs.h"
#include "graph/validate.h"
#include "rewriter/rewrite.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

using rewriter_testing::Filled;
using rewriter_testing::Node;
using rewriter_testing::ProducerOp;

tensorflow::GraphDef ConvBnRelu(bool is_training) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {2, 6, 6, 3});
  std::string w = g.Const("conv1/weights", Filled({3, 3, 3, 4}, 0.3f));
  std::string wr = g.Identity("conv1/weights/read", w);
  std::string c = g.Conv2D("conv1/Conv2D", x, wr, 1, "SAME");
  std::string gamma = g.Const("conv1/BatchNorm/gamma", Filled({4}, 1.f, 3));
  std::string beta = g.Const("conv1/BatchNorm/beta", Filled({4}, 0.2f, 4));
  HostTensor<float> mean = Filled({4}, 0.1f, 5);
  HostTensor<float> var = Filled({4}, 0.2f, 6);
  for (float& v : var.values) v = 1.0f + std::fabs(v);
  std::string m = g.Const("conv1/BatchNorm/moving_mean", mean);
  std::string v = g.Const("conv1/BatchNorm/moving_variance", var);
  std::string bn = g.FusedBatchNormV3("conv1/BatchNorm/FusedBatchNormV3", c, gamma, beta, m, v, 1e-3f);
  g.Unary("Relu", "conv1/Relu", bn);
  auto gd = g.Build();
  if (is_training) {
    for (auto& n : *gd.mutable_node())
      if (n.op() == "FusedBatchNormV3") SetAttr(&n, "is_training", true);
  }
  return gd;
}

void ExpectConforming(const tensorflow::GraphDef& before, const tensorflow::GraphDef& after) {
  // New nodes use the contract's vocabulary, except copies of the graph's own ops (the
  // train-mode fold copies the weighted op as <W>_Fold).
  absl::flat_hash_set<std::string> old, old_ops;
  for (const auto& n : before.node()) old.insert(n.name()), old_ops.insert(n.op());
  auto view = GraphView::Create(after);
  ASSERT_TRUE(view.ok()) << view.status();
  for (int i = 0; i < view->num_nodes(); ++i) {
    if (old.contains(view->node(i).name()) || old_ops.contains(view->node(i).op())) continue;
    EXPECT_TRUE(rewriter_testing::ContractVocabulary().contains(view->node(i).op())) << view->node(i).name();
  }
}

TEST(RewriteBatchNormTest, TrainCorrectionSchemeThenQuantize) {
  auto g = ConvBnRelu(/*is_training=*/true);
  RewriteOptions o;
  o.freeze_bn_delay = 1000;
  auto r = Rewrite(g, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(ValidateGraph(r->graph).ok());
  ASSERT_EQ(r->folded.size(), 1u) << (r->fold_notes.empty() ? "" : r->fold_notes[0]);
  const auto& out = r->graph;
  // Weights quantized at mul_fold's output, consumed by the folded conv.
  const auto* fq = Node(out, "conv1/weights_quant/FakeQuantWithMinMaxVars");
  ASSERT_NE(fq, nullptr);
  EXPECT_EQ(fq->input(0), "conv1/mul_fold");
  // Output quantized after the Relu, which reads add_fold.
  EXPECT_EQ(Node(out, "conv1/Relu")->input(0), "conv1/add_fold");
  EXPECT_EQ(Node(out, "conv1/act_quant/FakeQuantWithMinMaxVars")->input(0), "conv1/Relu");
  // Exactly one layer quantized: the un-folded statistics copy is left alone.
  int fqs = 0;
  for (const auto& n : out.node()) fqs += absl::StartsWith(n.op(), "FakeQuant");
  EXPECT_EQ(fqs, 2);
  EXPECT_EQ(ProducerOp(out, Node(out, "conv1/Conv2D")->input(1)), "Identity");
  // One update group holds both the batch-norm and the range updates; one step counter.
  const auto* group = Node(out, "tfqat/update_ops");
  ASSERT_NE(group, nullptr);
  bool has_ema = false, has_bn = false;
  for (const auto& in : group->input()) {
    has_ema |= absl::StrContains(in, "act_quant/AssignMinEma");
    has_bn |= absl::StrContains(in, "BatchNorm_Fold");
  }
  EXPECT_TRUE(has_ema);
  EXPECT_TRUE(has_bn);
  EXPECT_EQ(rewriter_testing::CountOp(out, "VariableV2") > 0, true);
  int steps = 0;
  for (const auto& n : out.node()) steps += n.name() == "global_step";
  EXPECT_EQ(steps, 1);
  ExpectConforming(g, out);
  // Idempotent through the whole pipeline.
  auto again = Rewrite(out, o);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->quantize.changed);
  EXPECT_TRUE(again->folded.empty());
}

TEST(RewriteBatchNormTest, EvalFoldsExactlyThenQuantizes) {
  auto g = ConvBnRelu(/*is_training=*/false);
  RewriteOptions o;
  o.quantize.mode = QuantizeOptions::Mode::kEval;
  auto r = Rewrite(g, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->folded.size(), 1u);
  const auto& out = r->graph;
  EXPECT_EQ(rewriter_testing::CountOp(out, "FusedBatchNormV3"), 0);
  const auto* conv = Node(out, "conv1/Conv2D");
  EXPECT_EQ(ProducerOp(out, conv->input(1)), "FakeQuantWithMinMaxVars");
  EXPECT_EQ(Node(out, "conv1/act_quant/FakeQuantWithMinMaxVars")->input(0), "conv1/Relu");
  ExpectConforming(g, out);
}

}  // namespace
}  // namespace tfqat

#include "rewriter/quantize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/attrs.h"
#include "graph/tensor.h"
#include "graph/validate.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using rewriter_testing::ConvBiasRelu;
using rewriter_testing::CountOp;
using rewriter_testing::Filled;
using rewriter_testing::Node;
using rewriter_testing::ProducerOp;

tensorflow::GraphDef TwoConvGraph() {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string r1 = ConvBiasRelu(g, "conv1", x, 3, 4, 1);
  ConvBiasRelu(g, "conv2", r1, 4, 4, 2);
  return g.Build();
}

QuantizeResult MustQuantize(const tensorflow::GraphDef& g, const QuantizeOptions& o) {
  auto r = InsertFakeQuant(g, o);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  auto valid = ValidateGraph(r->graph);
  EXPECT_TRUE(valid.ok()) << valid;
  return *std::move(r);
}

// Every node the rewrite added satisfies its TF OpDef and the contract's vocabulary.
void ExpectEmittedConform(const tensorflow::GraphDef& before, const tensorflow::GraphDef& after) {
  absl::flat_hash_set<std::string> old;
  for (const auto& n : before.node()) old.insert(n.name());
  auto view = GraphView::Create(after);
  ASSERT_TRUE(view.ok()) << view.status();
  int checked = 0;
  for (int i = 0; i < view->num_nodes(); ++i) {
    const auto& n = view->node(i);
    if (old.contains(n.name())) continue;
    EXPECT_TRUE(rewriter_testing::ContractVocabulary().contains(n.op())) << n.name() << " " << n.op();
    auto st = CheckNodeAgainstOpDef(*view, i);
    EXPECT_TRUE(st.ok()) << st;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(InsertFakeQuantTest, TrainGraphStructureAndNames) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  QuantizeResult r = MustQuantize(g, o);
  const auto& out = r.graph;
  EXPECT_TRUE(r.changed);
  EXPECT_EQ(r.fake_quant_inserted, 4);
  // Weights: quantized right before the conv, from the /read Identity.
  const auto* conv1 = Node(out, "conv1/Conv2D");
  ASSERT_NE(conv1, nullptr);
  EXPECT_EQ(conv1->input(1), "conv1/weights_quant/FakeQuantWithMinMaxVars");
  const auto* wfq = Node(out, "conv1/weights_quant/FakeQuantWithMinMaxVars");
  ASSERT_NE(wfq, nullptr);
  EXPECT_EQ(wfq->input(0), "conv1/weights/read");
  EXPECT_EQ(wfq->input(1), "conv1/weights_quant/min/read");
  EXPECT_EQ(wfq->input(2), "conv1/weights_quant/max/read");
  EXPECT_TRUE(*GetAttr<bool>(*wfq, "narrow_range"));
  EXPECT_EQ(*GetAttr<int64_t>(*wfq, "num_bits"), 8);
  // Bias never quantized, nothing between the conv and its bias / activation.
  const auto* bias = Node(out, "conv1/BiasAdd");
  EXPECT_EQ(bias->input(0), "conv1/Conv2D");
  EXPECT_EQ(bias->input(1), "conv1/biases");
  EXPECT_EQ(Node(out, "conv1/Relu")->input(0), "conv1/BiasAdd");
  // Output quantized after the activation; the next layer reads the quantized tensor.
  EXPECT_EQ(Node(out, "conv2/Conv2D")->input(0), "conv1/act_quant/FakeQuantWithMinMaxVars");
  const auto* afq = Node(out, "conv1/act_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(afq->input(0), "conv1/Relu");
  EXPECT_FALSE(*GetAttr<bool>(*afq, "narrow_range"));
  // tf.contrib.quantize names for the variables and update ops.
  for (const char* name :
       {"conv1/weights_quant/min", "conv1/weights_quant/max", "conv1/weights_quant/min/Assign",
        "conv1/weights_quant/min/initial_value", "conv1/weights_quant/AssignMinLast",
        "conv1/weights_quant/AssignMaxLast", "conv1/act_quant/min", "conv1/act_quant/AssignMinEma",
        "conv1/act_quant/AssignMaxEma", "conv1/act_quant/min/biased", "conv1/act_quant/min/local_step",
        "global_step", "global_step/read", "tfqat/update_ops"}) {
    EXPECT_NE(Node(out, name), nullptr) << name;
  }
  EXPECT_EQ(Node(out, "conv1/act_quant/min")->op(), "VariableV2");
  EXPECT_EQ(*GetAttr<tensorflow::DataType>(*Node(out, "global_step"), "dtype"), tensorflow::DT_INT64);
  // Activation range initialised to [0, 6].
  auto init = DecodeConst<float>(*Node(out, "conv1/act_quant/max/initial_value"));
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(init->values[0], 6.f);
  // Every update op is a control input of tfqat/update_ops.
  const auto* group = Node(out, "tfqat/update_ops");
  std::vector<std::string> controls(group->input().begin(), group->input().end());
  for (const char* u : {"^conv1/weights_quant/AssignMinLast", "^conv1/weights_quant/AssignMaxLast",
                        "^conv1/act_quant/AssignMinEma", "^conv1/act_quant/AssignMaxEma",
                        "^conv2/act_quant/AssignMaxEma"}) {
    EXPECT_THAT(controls, Contains(std::string(u)));
  }
  EXPECT_EQ(controls.size(), 8u);
  ExpectEmittedConform(g, out);
  // Report.
  ASSERT_EQ(r.layers.size(), 2u);
  EXPECT_EQ(r.layers[0].name, "conv1");
  EXPECT_EQ(r.layers[0].kind, "Conv2D+BiasAdd+Relu");
  EXPECT_TRUE(r.layers[0].weights_quantized);
  EXPECT_TRUE(r.layers[0].output_quantized);
  EXPECT_THAT(r.layers[0].skipped, Contains(HasSubstr("bias 'conv1/BiasAdd': never quantized")));
}

TEST(InsertFakeQuantTest, RerunChangesNothing) {
  auto g = TwoConvGraph();
  for (auto mode : {QuantizeOptions::Mode::kTrain, QuantizeOptions::Mode::kEval}) {
    QuantizeOptions o;
    o.mode = mode;
    o.quant_delay = 100;
    o.per_channel = true;
    o.quantize_inputs = true;
    QuantizeResult once = MustQuantize(g, o);
    QuantizeResult twice = MustQuantize(once.graph, o);
    EXPECT_FALSE(twice.changed);
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(twice.graph, once.graph));
    ASSERT_FALSE(twice.notes.empty());
    EXPECT_THAT(twice.notes[0], HasSubstr("already rewritten"));
  }
}

TEST(InsertFakeQuantTest, QuantDelaySwitch) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  o.quant_delay = 500;
  QuantizeResult r = MustQuantize(g, o);
  const auto& out = r.graph;
  const auto* sel = Node(out, "conv1/act_quant/delayed_quant");
  ASSERT_NE(sel, nullptr);
  EXPECT_EQ(sel->op(), "SelectV2");
  EXPECT_EQ(sel->input(1), "conv1/act_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(sel->input(2), "conv1/Relu");
  const auto* ge = Node(out, sel->input(0));
  ASSERT_NE(ge, nullptr);
  EXPECT_EQ(ge->op(), "GreaterEqual");
  EXPECT_EQ(ge->input(0), "global_step/read");
  auto delay = DecodeConst<int64_t>(*Node(out, ge->input(1)));
  ASSERT_TRUE(delay.ok());
  EXPECT_EQ(delay->values[0], 500);
  EXPECT_EQ(Node(out, "conv1/Conv2D")->input(1), "conv1/weights_quant/delayed_quant");
  EXPECT_EQ(Node(out, "conv2/Conv2D")->input(0), "conv1/act_quant/delayed_quant");
  ExpectEmittedConform(g, out);
}

TEST(InsertFakeQuantTest, EvalModeReadsRangesOnly) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  o.mode = QuantizeOptions::Mode::kEval;
  o.quant_delay = 10;  // ignored in eval mode, as create_eval_graph does
  QuantizeResult r = MustQuantize(g, o);
  const auto& out = r.graph;
  EXPECT_EQ(CountOp(out, "FakeQuantWithMinMaxVars"), 4);
  EXPECT_EQ(CountOp(out, "AssignSub"), 0);
  EXPECT_EQ(CountOp(out, "SelectV2"), 0);
  EXPECT_EQ(Node(out, "tfqat/update_ops"), nullptr);
  EXPECT_EQ(Node(out, "global_step"), nullptr);
  // Weight ranges start at the weights' actual range (0 included).
  auto w = DecodeConst<float>(*Node(g, "conv1/weights"));
  float mn = 0, mx = 0;
  for (float v : w->values) mn = std::min(mn, v), mx = std::max(mx, v);
  auto imin = DecodeConst<float>(*Node(out, "conv1/weights_quant/min/initial_value"));
  auto imax = DecodeConst<float>(*Node(out, "conv1/weights_quant/max/initial_value"));
  EXPECT_EQ(imin->values[0], mn);
  EXPECT_EQ(imax->values[0], mx);
  ExpectEmittedConform(g, out);
}

TEST(InsertFakeQuantTest, PerChannelConvAndDepthwise) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string r1 = ConvBiasRelu(g, "conv1", x, 3, 4);
  std::string dw = g.Const("dw/depthwise_weights", Filled({3, 3, 4, 2}));
  std::string d = g.DepthwiseConv2dNative("dw/depthwise", r1, dw, 1, "SAME");
  g.Unary("Relu6", "dw/Relu6", d);
  auto gd = g.Build();
  QuantizeOptions o;
  o.per_channel = true;
  QuantizeResult r = MustQuantize(gd, o);
  const auto& out = r.graph;
  const auto* fq = Node(out, "conv1/weights_quant/FakeQuantWithMinMaxVarsPerChannel");
  ASSERT_NE(fq, nullptr);
  EXPECT_EQ(Node(out, "conv1/Conv2D")->input(1), fq->name());
  auto shape = GetAttr<tensorflow::TensorShapeProto>(*Node(out, "conv1/weights_quant/min"), "shape");
  ASSERT_TRUE(shape.ok());
  ASSERT_EQ(shape->dim_size(), 1);
  EXPECT_EQ(shape->dim(0).size(), 4);
  // Depthwise [3,3,4,2]: quantized as [3,3,1,8] (output channel in*mult), reshaped back.
  const auto* back = Node(out, Node(out, "dw/depthwise")->input(1));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->op(), "Reshape");
  EXPECT_EQ(ProducerOp(out, back->input(0)), "FakeQuantWithMinMaxVarsPerChannel");
  auto dshape = GetAttr<tensorflow::TensorShapeProto>(*Node(out, "dw/weights_quant/min"), "shape");
  EXPECT_EQ(dshape->dim(0).size(), 8);
  ExpectEmittedConform(gd, out);
}

TEST(InsertFakeQuantTest, PerChannelLeavesMatMulPerTensor) {
  // TFLite's FULLY_CONNECTED takes per-tensor weights: --per-channel must not emit a per-channel
  // FakeQuant on MatMul weights, or the converter could not reproduce the training arithmetic.
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 6});
  std::string w = g.Const("fc/weights", Filled({6, 3}));
  std::string m = g.MatMul("fc/MatMul", x, w);
  std::string b = g.BiasAdd("fc/BiasAdd", m, g.Const("fc/biases", Filled({3})));
  g.Unary("Relu", "fc/Relu", b);
  auto gd = g.Build();
  QuantizeOptions o;
  o.per_channel = true;
  QuantizeResult r = MustQuantize(gd, o);
  EXPECT_EQ(Node(r.graph, "fc/weights_quant/FakeQuantWithMinMaxVarsPerChannel"), nullptr);
  const auto* fq = Node(r.graph, "fc/weights_quant/FakeQuantWithMinMaxVars");
  ASSERT_NE(fq, nullptr);
  EXPECT_EQ(Node(r.graph, "fc/MatMul")->input(1), fq->name());
  ExpectEmittedConform(gd, r.graph);
}

TEST(InsertFakeQuantTest, ResidualAddThenActivation) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 4});
  std::string w = g.Const("block/weights", Filled({3, 3, 4, 4}));
  std::string c = g.Conv2D("block/Conv2D", x, w, 1, "SAME");
  std::string b = g.Const("block/bias", Filled({4}));
  std::string ba = g.BiasAdd("block/BiasAdd", c, b);
  std::string add = g.Binary("AddV2", "block/add", ba, x);
  g.Unary("Relu", "block/Relu", add);
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  const auto& out = r.graph;
  // Only weights + one output quant (after the Relu, not after the Add).
  EXPECT_EQ(CountOp(out, "FakeQuantWithMinMaxVars"), 2);
  EXPECT_EQ(Node(out, "block/Relu")->input(0), "block/add");
  EXPECT_EQ(Node(out, "block/act_quant/FakeQuantWithMinMaxVars")->input(0), "block/Relu");
  EXPECT_EQ(r.layers[0].kind, "Conv2D+BiasAdd+residual AddV2+Relu");
}

TEST(InsertFakeQuantTest, ConcatInputsShareOneRange) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string a = ConvBiasRelu(g, "a", x, 3, 2, 1);
  std::string b = ConvBiasRelu(g, "b", x, 3, 2, 2);
  std::string pool = g.Pool("MaxPool", "pool", x, 1, 1, "SAME");
  g.ConcatV2("cat", {a, b, pool}, 3);
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  const auto& out = r.graph;
  const auto* cat = Node(out, "cat");
  // All three inputs quantized with the concat's one pair of variables.
  for (int k = 0; k < 3; ++k) {
    const auto* fq = Node(out, cat->input(k));
    ASSERT_NE(fq, nullptr);
    EXPECT_EQ(fq->op(), "FakeQuantWithMinMaxVars") << k;
    EXPECT_EQ(fq->input(1), "cat/act_quant/min/read") << k;
    EXPECT_EQ(fq->input(2), "cat/act_quant/max/read") << k;
  }
  // The tied layers have no range variables of their own.
  EXPECT_EQ(Node(out, "a/act_quant/min"), nullptr);
  EXPECT_EQ(Node(out, "a/act_quant/FakeQuantWithMinMaxVars")->input(0), "a/Relu");
  // The pass-through MaxPool input got no range of its own either: it takes the tied one.
  EXPECT_EQ(Node(out, "pool")->input(0), "input");
  ExpectEmittedConform(gd, out);
}

TEST(InsertFakeQuantTest, PassThroughOpsGetNothing) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string r1 = ConvBiasRelu(g, "conv1", x, 3, 4);
  std::string p = g.Pool("MaxPool", "pool", r1, 2, 2, "VALID");
  std::string rs = g.Reshape("flat", p, {1, 64});
  std::string w = g.Const("fc/weights", Filled({64, 10}));
  g.MatMul("fc/MatMul", rs, w);
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  const auto& out = r.graph;
  EXPECT_EQ(Node(out, "pool")->input(0), "conv1/act_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(Node(out, "flat")->input(0), "pool");
  EXPECT_EQ(Node(out, "fc/MatMul")->input(0), "flat");
  EXPECT_EQ(Node(out, "fc/MatMul")->input(1), "fc/weights_quant/FakeQuantWithMinMaxVars");
  // The final MatMul is a layer too: its output is quantized.
  EXPECT_NE(Node(out, "fc/act_quant/FakeQuantWithMinMaxVars"), nullptr);
}

TEST(InsertFakeQuantTest, EscapingConsumerKeepsActivationOutOfTheLayer) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  ConvBiasRelu(g, "conv1", x, 3, 4);
  g.Unary("Tanh", "side", "conv1/BiasAdd");
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  const auto& out = r.graph;
  // The layer ends at the BiasAdd: its output is quantized there, for both consumers.
  EXPECT_EQ(Node(out, "conv1/act_quant/FakeQuantWithMinMaxVars")->input(0), "conv1/BiasAdd");
  EXPECT_EQ(Node(out, "side")->input(0), "conv1/act_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(Node(out, "conv1/Relu")->input(0), "conv1/act_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(r.layers[0].kind, "Conv2D+BiasAdd");
}

TEST(InsertFakeQuantTest, GraphOutputInTheMiddleOfAChain) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  o.outputs = {"conv1/BiasAdd"};
  QuantizeResult r = MustQuantize(g, o);
  EXPECT_EQ(Node(r.graph, "conv1/act_quant/FakeQuantWithMinMaxVars")->input(0), "conv1/BiasAdd");
  o.outputs = {"no_such_node"};
  auto bad = InsertFakeQuant(g, o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("no_such_node"));
}

TEST(InsertFakeQuantTest, SharedWeightsAreQuantizedOnce) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string w = g.Const("shared/w", Filled({3, 3, 3, 3}));
  std::string c1 = g.Conv2D("l1/Conv2D", x, w, 1, "SAME");
  std::string r1 = g.Unary("Relu", "l1/Relu", c1);
  std::string c2 = g.Conv2D("l2/Conv2D", r1, w, 1, "SAME");
  g.Unary("Relu", "l2/Relu", c2);
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  const auto& out = r.graph;
  EXPECT_EQ(Node(out, "l1/Conv2D")->input(1), Node(out, "l2/Conv2D")->input(1));
  EXPECT_EQ(CountOp(out, "FakeQuantWithMinMaxVars"), 3);
  bool noted = false;
  for (const auto& l : r.layers)
    for (const auto& n : l.notes) noted |= absl::StrContains(n, "shared");
  EXPECT_TRUE(noted);
}

TEST(InsertFakeQuantTest, NonConstantWeightsAreLeftAloneWithAReason) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string q = g.Placeholder("wq", {3, 3, 3, 4});
  g.AddNode("deq", "Dequantize", {q});
  std::string c = g.Conv2D("conv/Conv2D", x, "deq", 1, "SAME");
  g.Unary("Relu", "conv/Relu", c);
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  EXPECT_FALSE(r.changed);
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].weighted_op, "conv/Conv2D");
  ASSERT_FALSE(r.layers[0].skipped.empty());
  EXPECT_THAT(r.layers[0].skipped[0], HasSubstr("'deq' (Dequantize)"));
}

TEST(InsertFakeQuantTest, NchwGraph) {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 3, 8, 8});
  ConvBiasRelu(g, "conv1", x, 3, 4);
  auto gd = g.Build();
  for (auto& n : *gd.mutable_node()) {
    if (n.op() == "Conv2D" || n.op() == "BiasAdd") SetAttr(&n, "data_format", "NCHW");
  }
  QuantizeOptions o;
  o.per_channel = true;
  QuantizeResult r = MustQuantize(gd, o);
  // Filters stay HWIO in NCHW graphs: the per-channel axis is still the last one.
  auto shape = GetAttr<tensorflow::TensorShapeProto>(*Node(r.graph, "conv1/weights_quant/min"), "shape");
  EXPECT_EQ(shape->dim(0).size(), 4);
  EXPECT_EQ(Node(r.graph, "conv1/act_quant/FakeQuantWithMinMaxVars")->input(0), "conv1/Relu");
}

TEST(InsertFakeQuantTest, ScopeAndExclude) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  o.scope = "conv2";
  QuantizeResult r = MustQuantize(g, o);
  EXPECT_EQ(Node(r.graph, "conv1/weights_quant/min"), nullptr);
  EXPECT_NE(Node(r.graph, "conv2/weights_quant/min"), nullptr);
  EXPECT_THAT(r.layers[0].skipped, Contains(HasSubstr("outside --scope")));
  QuantizeOptions e;
  e.exclude = {"conv1"};
  QuantizeResult r2 = MustQuantize(g, e);
  EXPECT_EQ(Node(r2.graph, "conv1/weights_quant/min"), nullptr);
  EXPECT_NE(Node(r2.graph, "conv2/weights_quant/min"), nullptr);
  EXPECT_THAT(r2.layers[0].skipped, Contains(HasSubstr("excluded")));
}

TEST(InsertFakeQuantTest, QuantizeInputsAndSymmetricBits) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  o.quantize_inputs = true;
  o.symmetric = true;
  o.weight_bits = 4;
  o.activation_bits = 6;
  QuantizeResult r = MustQuantize(g, o);
  const auto& out = r.graph;
  EXPECT_EQ(Node(out, "conv1/Conv2D")->input(0), "input/act_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(*GetAttr<int64_t>(*Node(out, "conv1/weights_quant/FakeQuantWithMinMaxVars"), "num_bits"), 4);
  EXPECT_EQ(*GetAttr<int64_t>(*Node(out, "conv1/act_quant/FakeQuantWithMinMaxVars"), "num_bits"), 6);
  auto ratio = DecodeConst<float>(*Node(out, "conv1/weights_quant/min_max_ratio"));
  ASSERT_TRUE(ratio.ok());
  EXPECT_EQ(ratio->values[0], -1.f);  // narrow range
  ExpectEmittedConform(g, out);
}

TEST(InsertFakeQuantTest, Errors) {
  auto g = TwoConvGraph();
  QuantizeOptions o;
  o.weight_bits = 1;
  EXPECT_EQ(InsertFakeQuant(g, o).status().code(), absl::StatusCode::kInvalidArgument);
  o.weight_bits = 8;
  o.activation_bits = 17;
  EXPECT_THAT(InsertFakeQuant(g, o).status().message(), HasSubstr("--activation-bits"));
  // A graph with training ops: the rewrite must come before the optimizer.
  auto t = g;
  auto* n = t.add_node();
  n->set_name("GradientDescent/update_conv1/weights/ApplyGradientDescent");
  n->set_op("ApplyGradientDescent");
  auto st = InsertFakeQuant(t, QuantizeOptions{}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("ApplyGradientDescent"));
  auto t2 = g;
  auto* m = t2.add_node();
  m->set_name("gradients/conv1/Conv2D_grad/Conv2DBackpropFilter");
  m->set_op("Conv2DBackpropFilter");
  EXPECT_EQ(InsertFakeQuant(t2, QuantizeOptions{}).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(InsertFakeQuantTest, TrainModeFoldedBatchNormLayer) {
  // The train-mode folded form: Conv2D(x, mul_fold) -> correction_mult -> add_fold -> Relu.
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string w = g.Const("l/weights", Filled({3, 3, 3, 4}));
  std::string wr = g.Identity("l/weights/read", w);
  std::string scale = g.Const("l/scale", Filled({4}, 1.f));
  std::string mf = g.Binary("Mul", "l/mul_fold", wr, scale);
  std::string c = g.Conv2D("l/Conv2D_Fold", x, mf, 1, "SAME");
  std::string corr = g.Placeholder("l/corr", {4});
  std::string cm = g.Binary("Mul", "l/correction_mult", c, corr);
  std::string off = g.Placeholder("l/offset", {4});
  std::string af = g.Binary("Add", "l/add_fold", cm, off);
  g.Unary("Relu", "l/Relu", af);
  auto gd = g.Build();
  QuantizeResult r = MustQuantize(gd, QuantizeOptions{});
  const auto& out = r.graph;
  EXPECT_EQ(Node(out, "l/weights_quant/FakeQuantWithMinMaxVars")->input(0), "l/mul_fold");
  EXPECT_EQ(Node(out, "l/Conv2D_Fold")->input(1), "l/weights_quant/FakeQuantWithMinMaxVars");
  EXPECT_EQ(Node(out, "l/correction_mult")->input(0), "l/Conv2D_Fold");
  EXPECT_EQ(Node(out, "l/add_fold")->input(0), "l/correction_mult");
  EXPECT_EQ(Node(out, "l/act_quant/FakeQuantWithMinMaxVars")->input(0), "l/Relu");
  EXPECT_EQ(CountOp(out, "FakeQuantWithMinMaxVars"), 2);
}

TEST(InsertFakeQuantTest, ExistingUpdateGroupAndStepAreReused) {
  auto g = TwoConvGraph();
  auto* noop = g.add_node();
  noop->set_name("tfqat/update_ops");
  noop->set_op("NoOp");
  QuantizeResult r = MustQuantize(g, QuantizeOptions{});
  EXPECT_EQ(CountOp(r.graph, "NoOp"), 1);
  EXPECT_EQ(Node(r.graph, "tfqat/update_ops")->input_size(), 8);
}

}  // namespace
}  // namespace tfqat

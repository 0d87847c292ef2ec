// Freeze: the dl4j un-frozen graphs (VariableV2/Assign/save-restore) against their frozen
// twins, a train-mode graph (batch-norm folding + fake quant) against its eval-mode outputs,
// and the error paths.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <cstdlib>
#include <iterator>
#include <sys/wait.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "graph/attrs.h"
#include "graph/graph_io.h"
#include "graph/graph_view.h"
#include "graph/tensor.h"
#include "rewriter/fold_batch_norms.h"
#include "rewriter/freeze.h"
#include "rewriter/quantize.h"
#include "trainer/executor.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const std::string kDl4j = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/dl4j";

std::map<std::string, tensorflow::TensorProto> ConstValues(const tensorflow::GraphDef& g) {
  std::map<std::string, tensorflow::TensorProto> v;
  for (const auto& n : g.node())
    if (n.op() == "Const") v[n.name()] = GetAttr<tensorflow::TensorProto>(n, "value").value();
  return v;
}

std::vector<double> ReadNumbers(const std::string& path) {
  std::ifstream f(path);
  std::vector<double> v;
  std::string tok;
  while (f >> tok) {
    for (char& c : tok)
      if (c == ',') c = ' ';
    std::istringstream s(tok);
    double x;
    while (s >> x) v.push_back(x);
  }
  return v;
}

void ExpectNoTrainingOps(const tensorflow::GraphDef& g) {
  for (const auto& n : g.node()) {
    EXPECT_FALSE(IsTrainingOnlyOp(n.op())) << n.name() << " (" << n.op() << ")";
    EXPECT_NE(n.name(), "global_step");
  }
}

TEST(FreezeDl4j, ConvGraphMatchesItsFrozenTwinAndReference) {
  const std::string dir = kDl4j + "/conv_0";
  auto unfrozen = LoadGraphDef(dir + "/model.txt");
  auto twin = LoadGraphDef(dir + "/frozen_model.pb");
  if (!unfrozen.ok() || !twin.ok()) GTEST_SKIP() << "missing " << dir;
  FreezeOptions o;
  o.outputs = {"output"};
  o.values = ConstValues(*twin);
  auto r = Freeze(*unfrozen, o);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectNoTrainingOps(r->graph);
  EXPECT_EQ(r->frozen_variables.size(), 3u);
  // The reference computation: image -> output.
  auto in = ReadNumbers(dir + "/image.placeholder.csv");
  auto in_shape = ReadNumbers(dir + "/image.placeholder.shape");
  auto want = ReadNumbers(dir + "/output.prediction.csv");
  std::vector<int64_t> shape(in_shape.begin(), in_shape.end());
  auto ex = Executor::Create(r->graph, ExecutorOptions{});
  ASSERT_TRUE(ex.ok()) << ex.status();
  auto out = ex->Run({{"image", Tensor::Float(shape, std::vector<float>(in.begin(), in.end()))}}, {"output"});
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ((*out)[0].f.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR((*out)[0].f[i], want[i], 1e-4 * std::max(1.0, std::abs(want[i])));
}

// Every dl4j un-frozen graph freezes (values from its frozen twin) to the twin's node set,
// with no training-only op left.
TEST(FreezeDl4j, AllUnfrozenGraphsFreezeToTheirTwinsNodes) {
  if (!fs::exists(kDl4j)) GTEST_SKIP() << "missing " << kDl4j;
  int graphs = 0;
  for (const auto& e : fs::recursive_directory_iterator(kDl4j)) {
    if (e.path().filename() != "model.txt") continue;
    const std::string dir = e.path().parent_path().string();
    auto unfrozen = LoadGraphDef(dir + "/model.txt");
    auto twin = LoadGraphDef(dir + "/frozen_model.pb");
    if (!unfrozen.ok() || !twin.ok()) continue;
    auto tv = GraphView::Create(*twin);
    ASSERT_TRUE(tv.ok());
    FreezeOptions o;
    for (int i : tv->Outputs()) o.outputs.push_back(tv->node(i).name());
    if (o.outputs.empty()) continue;
    o.values = ConstValues(*twin);
    o.fold_constants = false;  // compare node for node with TensorFlow's freeze
    auto r = Freeze(*unfrozen, o);
    ASSERT_TRUE(r.ok()) << dir << ": " << r.status();
    ExpectNoTrainingOps(r->graph);
    std::set<std::string> got, want;
    for (const auto& n : r->graph.node()) got.insert(n.name());
    for (const auto& n : twin->node()) want.insert(n.name());
    EXPECT_EQ(got, want) << dir;
    ++graphs;
  }
  EXPECT_GT(graphs, 100);
}

TEST(FreezeErrors, UnknownOutputNamesTheNode) {
  auto g = LoadGraphDef(kDl4j + "/conv_0/model.txt");
  if (!g.ok()) GTEST_SKIP() << "missing dl4j/conv_0";
  FreezeOptions o;
  o.outputs = {"output", "no_such_node"};
  auto r = Freeze(*g, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("'no_such_node'"));
}

TEST(FreezeErrors, VariableWithoutValueIsNamed) {
  auto g = LoadGraphDef(kDl4j + "/conv_0/model.txt");
  if (!g.ok()) GTEST_SKIP() << "missing dl4j/conv_0";
  FreezeOptions o;
  o.outputs = {"output"};
  auto r = Freeze(*g, o);  // initialisers are RandomUniform etc.: no trained value
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("filterW1"));
}

TEST(FreezeErrors, NoOutputs) {
  tensorflow::GraphDef g;
  auto r = Freeze(g, FreezeOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- a train-mode graph: batch norm (training) folded with corrections, fake quant with a
// quant delay; trained values written back as the trainer does; frozen == eval-mode outputs.

tensorflow::NodeDef* Add(tensorflow::GraphDef* g, const std::string& name, const std::string& op,
                         std::vector<std::string> in) {
  auto* n = g->add_node();
  n->set_name(name);
  n->set_op(op);
  for (auto& i : in) n->add_input(i);
  return n;
}

std::string RandConst(tensorflow::GraphDef* g, const std::string& name, std::vector<int64_t> shape, float lo, float hi,
                      std::mt19937* rng) {
  HostTensor<float> t;
  t.shape = shape;
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0, n = t.num_elements(); i < n; ++i) t.values.push_back(d(*rng));
  auto* c = Add(g, name, "Const", {});
  SetAttr(c, "dtype", tensorflow::DT_FLOAT);
  SetAttr(c, "value", EncodeTensor(t));
  return name;
}

tensorflow::GraphDef ConvBnGraph() {
  std::mt19937 rng(5);
  tensorflow::GraphDef g;
  auto* x = Add(&g, "x", "Placeholder", {});
  SetAttr(x, "dtype", tensorflow::DT_FLOAT);
  RandConst(&g, "conv1/weights", {3, 3, 2, 4}, -1, 1, &rng);
  auto* c = Add(&g, "conv1/Conv2D", "Conv2D", {"x", "conv1/weights"});
  SetAttr(c, "T", tensorflow::DT_FLOAT);
  SetAttr(c, "strides", std::vector<int64_t>{1, 1, 1, 1});
  SetAttr(c, "padding", "SAME");
  RandConst(&g, "conv1/gamma", {4}, 0.5, 1.5, &rng);
  RandConst(&g, "conv1/beta", {4}, -1, 1, &rng);
  RandConst(&g, "conv1/moving_mean", {4}, -1, 1, &rng);
  RandConst(&g, "conv1/moving_variance", {4}, 0.2, 2, &rng);
  auto* bn = Add(&g, "conv1/BatchNorm", "FusedBatchNormV3",
                 {"conv1/Conv2D", "conv1/gamma", "conv1/beta", "conv1/moving_mean", "conv1/moving_variance"});
  SetAttr(bn, "T", tensorflow::DT_FLOAT);
  SetAttr(bn, "U", tensorflow::DT_FLOAT);
  SetAttr(bn, "epsilon", 0.001f);
  SetAttr(bn, "is_training", true);
  auto* relu = Add(&g, "conv1/Relu", "Relu", {"conv1/BatchNorm"});
  SetAttr(relu, "T", tensorflow::DT_FLOAT);
  return g;
}

TEST(FreezeTrainGraph, FrozenOutputsEqualEvalModeOutputs) {
  FoldBatchNormsOptions fo;
  fo.mode = FoldBatchNormsOptions::Mode::kTrain;
  fo.freeze_bn_delay = 4;
  auto folded = FoldBatchNorms(ConvBnGraph(), fo);
  ASSERT_TRUE(folded.ok()) << folded.status();
  ASSERT_EQ(folded->folded.size(), 1u);
  QuantizeOptions qo;
  qo.mode = QuantizeOptions::Mode::kTrain;
  qo.quant_delay = 2;
  qo.outputs = {"conv1/Relu"};
  auto q = InsertFakeQuant(folded->graph, qo);
  ASSERT_TRUE(q.ok()) << q.status();
  tensorflow::GraphDef train = q->graph;
  // Find the fetched output: the last consumer chain of conv1/Relu (the activation quant).
  auto view = GraphView::Create(train).value();
  std::string out = "conv1/Relu";
  for (int i : view.Outputs()) {
    const std::string& name = view.node(i).name();
    if (name != "x" && view.node(i).op() != "NoOp") out = name;
  }
  // "Train": run the update ops for a few steps (ranges, moving averages), then write every
  // variable's value into <var>/initial_value (what tfqat train does).
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-1, 1);
  auto batch = [&] {
    std::vector<float> v(4 * 6 * 6 * 2);
    for (auto& e : v) e = d(rng);
    return Tensor::Float({4, 6, 6, 2}, v);
  };
  auto ex = Executor::Create(train, ExecutorOptions{});
  ASSERT_TRUE(ex.ok()) << ex.status();
  for (int step = 0; step < 6; ++step) {
    ASSERT_TRUE(ex->SetVariable("global_step", Tensor::Int(tensorflow::DT_INT64, {}, {step})).ok());
    auto r = ex->Run({{"x", batch()}}, {out}, {"tfqat/update_ops"});
    ASSERT_TRUE(r.ok()) << r.status();
  }
  ASSERT_TRUE(ex->SetVariable("global_step", Tensor::Int(tensorflow::DT_INT64, {}, {1000})).ok());
  Tensor x = batch();
  auto want = ex->Run({{"x", x}}, {out});
  ASSERT_TRUE(want.ok()) << want.status();
  for (const auto& name : ex->VariableNames()) {
    auto v = ex->GetVariable(name);
    ASSERT_TRUE(v.ok()) << name;
    for (auto& n : *train.mutable_node())
      if (n.name() == name + "/initial_value") SetAttr(&n, "value", TensorToProto(*v));
  }
  FreezeOptions o;
  o.outputs = {out};
  auto fr = Freeze(train, o);
  if (!fr.ok()) (void)SaveGraphDef(train, ::testing::TempDir() + "/freeze_train_graph.pbtxt");
  ASSERT_TRUE(fr.ok()) << fr.status() << " (train graph saved as freeze_train_graph.pbtxt in the test temp dir)";
  ExpectNoTrainingOps(fr->graph);
  EXPECT_FALSE(fr->resolved_switches.empty());
  EXPECT_EQ(fr->removed_corrections, std::vector<std::string>{"conv1/correction_mult"});
  // The annotated form: Conv2D(x, FakeQuant(Const, Const, Const)).
  auto fv = GraphView::Create(fr->graph).value();
  const auto* conv = fv.FindNode("conv1/Conv2D_Fold");
  ASSERT_NE(conv, nullptr);
  const auto* wq = fv.FindNode(NodeNameOf(conv->input(1)));
  ASSERT_NE(wq, nullptr);
  EXPECT_EQ(wq->op().rfind("FakeQuantWithMinMaxVars", 0), 0u) << wq->op();
  EXPECT_EQ(fv.FindNode(NodeNameOf(wq->input(0)))->op(), "Const");
  for (const auto& n : fr->graph.node()) {
    EXPECT_NE(n.op(), "SelectV2") << n.name();
    EXPECT_NE(n.op(), "Mean") << n.name();  // batch statistics are gone
  }
  auto fex = Executor::Create(fr->graph, ExecutorOptions{});
  ASSERT_TRUE(fex.ok()) << fex.status();
  auto got = fex->Run({{"x", x}}, {out});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ((*got)[0].f.size(), (*want)[0].f.size());
  for (size_t i = 0; i < (*got)[0].f.size(); ++i) EXPECT_EQ((*got)[0].f[i], (*want)[0].f[i]) << i;
}

// The tf2ir QAT model (frozen by TensorFlow, batch norms folded the QAT way: mul_fold of
// Consts): freezing again folds that constant arithmetic and keeps the outputs exactly.
TEST(FreezeRealGraphs, Tf2irQatModelConstantFoldingKeepsOutputs) {
  const std::string path = std::string(TFQAT_SHARED_DIR) + "/testdata/tf/tf2ir/mobilenet_v2_ssd_0.25_160_qat_frozen.pb";
  auto g = LoadGraphDef(path);
  if (!g.ok()) GTEST_SKIP() << "missing " << path;
  auto view = GraphView::Create(*g).value();
  FreezeOptions o;
  for (int i : view.Outputs()) o.outputs.push_back(view.node(i).name());
  ASSERT_FALSE(o.outputs.empty());
  auto r = Freeze(*g, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->folded_constants, 72);  // at least every mul_fold
  ExpectNoTrainingOps(r->graph);
  auto ph = view.Placeholders();
  ASSERT_EQ(ph.size(), 1u);
  const std::string in = view.node(ph[0]).name();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(1 * 160 * 160 * 3);
  for (auto& e : v) e = d(rng);
  Tensor x = Tensor::Float({1, 160, 160, 3}, v);
  auto a = Executor::Create(*g, ExecutorOptions{});
  auto b = Executor::Create(r->graph, ExecutorOptions{});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  auto ra = a->Run({{in, x}}, o.outputs);
  auto rb = b->Run({{in, x}}, o.outputs);
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  for (size_t k = 0; k < ra->size(); ++k) {
    ASSERT_EQ((*ra)[k].f.size(), (*rb)[k].f.size());
    for (size_t i = 0; i < (*ra)[k].f.size(); ++i) ASSERT_EQ((*ra)[k].f[i], (*rb)[k].f[i]) << o.outputs[k] << " " << i;
  }
}

// The command line: a JSON report and the frozen file; errors exit 2 and write nothing.
TEST(FreezeCli, FreezesDl4jConvAndRefusesUnknownOutput) {
  const char* bin = std::getenv("TFQAT_BIN");
  if (bin == nullptr || !fs::exists(bin)) GTEST_SKIP() << "TFQAT_BIN not built";
  const std::string dir = kDl4j + "/conv_0";
  if (!fs::exists(dir + "/model.txt")) GTEST_SKIP() << "missing " << dir;
  const std::string tmp = ::testing::TempDir();
  const std::string out = tmp + "/freeze_cli_conv0.pb";
  const std::string json = tmp + "/freeze_cli_conv0.json";
  fs::remove(out);
  std::string cmd = std::string(bin) + " freeze " + dir + "/model.txt -o " + out + " --outputs output --values-from " +
                    dir + "/frozen_model.pb --json > " + json;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto g = LoadGraphDef(out);
  ASSERT_TRUE(g.ok()) << g.status();
  ExpectNoTrainingOps(*g);
  std::ifstream jf(json);
  std::string text((std::istreambuf_iterator<char>(jf)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("\"frozen_variables\""));
  EXPECT_THAT(text, HasSubstr("filterW1"));
  const std::string bad = tmp + "/freeze_cli_bad.pb";
  fs::remove(bad);
  cmd = std::string(bin) + " freeze " + dir + "/model.txt -o " + bad + " --outputs nope --values-from " + dir +
        "/frozen_model.pb 2> " + tmp + "/freeze_cli_bad.err";
  int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 2);
  EXPECT_FALSE(fs::exists(bad));
}

}  // namespace
}  // namespace tfqat

// tfqat compare on a small CNN taken through the real rewrite -> calibrate -> freeze -> convert
// path in process: per-layer numbers checked against independent computations (the executor and
// the runtime run directly, metrics.h's CompareArrays), and a deliberately perturbed fake-quant
// graph must diverge at the perturbed layer.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "converter/convert.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rewriter/freeze.h"
#include "rewriter/rewrite.h"
#include "tests/converter/test_support.h"
#include "trainer/executor.h"
#include "trainer/trainer.h"
#include "workflow/compare.h"
#include "workflow/metrics.h"
#include "workflow/model_runner.h"

namespace tfqat::testing {
namespace {

using workflow::CompareModels;
using workflow::CompareOptions;
using workflow::CompareReport;

// input [1,8,8,3] -> conv1 3x3 +bias+Relu -> conv2 3x3 +bias+Relu -> maxpool 2 -> reshape ->
// fc (128 -> 10) + bias.
tensorflow::GraphDef FloatNet() {
  std::mt19937 rng(5);
  GraphBuilder b;
  std::string x = b.Placeholder("input", {1, 8, 8, 3});
  std::string c = b.Conv2D("conv1/Conv2D", x, b.Const("conv1/weights", RandomTensor(&rng, {3, 3, 3, 8}, -0.5f, 0.5f)), 1, "SAME");
  c = b.BiasAdd("conv1/BiasAdd", c, b.Const("conv1/biases", RandomTensor(&rng, {8}, -0.2f, 0.2f)));
  c = b.Unary("Relu", "conv1/Relu", c);
  c = b.Conv2D("conv2/Conv2D", c, b.Const("conv2/weights", RandomTensor(&rng, {3, 3, 8, 8}, -0.4f, 0.4f)), 1, "SAME");
  c = b.BiasAdd("conv2/BiasAdd", c, b.Const("conv2/biases", RandomTensor(&rng, {8}, -0.2f, 0.2f)));
  c = b.Unary("Relu", "conv2/Relu", c);
  c = b.Pool("MaxPool", "pool/MaxPool", c, 2, 2, "VALID");
  c = b.Reshape("flatten/Reshape", c, {1, 128});
  c = b.MatMul("fc/MatMul", c, b.Const("fc/weights", RandomTensor(&rng, {128, 10}, -0.2f, 0.2f)));
  b.BiasAdd("fc/BiasAdd", c, b.Const("fc/biases", RandomTensor(&rng, {10}, -0.3f, 0.3f)));
  return b.Build();
}

struct Artefacts {
  tensorflow::GraphDef float_graph, frozen;
  std::string tflite;
  NpyArray examples;
};

Artefacts& Model() {
  static Artefacts* a = [] {
    auto* r = new Artefacts;
    r->float_graph = FloatNet();
    RewriteOptions ro;
    ro.quantize.mode = QuantizeOptions::Mode::kTrain;
    ro.quantize.quantize_inputs = true;
    ro.quantize.per_channel = false;
    ro.quantize.outputs = {"fc/BiasAdd"};
    auto rewritten = Rewrite(r->float_graph, ro);
    EXPECT_TRUE(rewritten.ok()) << rewritten.status();
    if (!rewritten.ok()) return r;
    std::mt19937 rng(42);
    Dataset calib;
    HostTensor<float> x = RandomTensor(&rng, {48, 8, 8, 3}, -1.f, 1.f);
    calib.x = Tensor::Float(x.shape, x.values);
    for (int i = 0; i < 48; ++i) calib.labels.push_back(i % 10);
    TrainOptions to;
    to.logits = "fc/BiasAdd";
    to.input = "input";
    to.batch = 1;
    to.calibrate_only = true;
    to.epochs = 1;
    auto trained = Train(rewritten->graph, calib, nullptr, to);
    EXPECT_TRUE(trained.ok()) << trained.status();
    if (!trained.ok()) return r;
    // The output FakeQuant (the rewriter names it): the FakeQuant reading fc/BiasAdd.
    std::string out_fq;
    for (const auto& n : trained->graph.node())
      if (n.op() == "FakeQuantWithMinMaxVars" && n.input_size() > 0 && n.input(0) == "fc/BiasAdd") out_fq = n.name();
    EXPECT_FALSE(out_fq.empty());
    FreezeOptions fo;
    fo.outputs = {out_fq};
    auto frozen = Freeze(trained->graph, fo);
    EXPECT_TRUE(frozen.ok()) << frozen.status();
    if (!frozen.ok()) return r;
    r->frozen = frozen->graph;
    converter::ConvertOptions co;
    co.inference_type = converter::ElemType::kUInt8;
    co.input_arrays = {"input"};
    co.output_arrays = {out_fq};
    auto conv = converter::Convert(r->frozen, co);
    EXPECT_TRUE(conv.ok()) << conv.status();
    if (!conv.ok()) return r;
    r->tflite = ScratchDir("workflow_compare") + "/model.tflite";
    EXPECT_TRUE(WriteString(r->tflite, conv->flatbuffer).ok());
    HostTensor<float> ex = RandomTensor(&rng, {12, 8, 8, 3}, -1.f, 1.f);
    r->examples = NpyArray::FromFloat(ex.shape, ex.values);
    return r;
  }();
  return *a;
}

const workflow::LayerComparison* Find(const CompareReport& r, const std::string& op, const std::string& prefix) {
  for (const auto& l : r.layers)
    if (l.op == op && l.fq_node.rfind(prefix, 0) == 0) return &l;
  return nullptr;
}

TEST(CompareTest, LayersOfTheThreeViews) {
  Artefacts& a = Model();
  ASSERT_FALSE(a.tflite.empty());
  CompareOptions o;
  o.tolerance_lsb = 1;
  auto r = CompareModels(a.float_graph, a.frozen, a.tflite, a.examples, o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << workflow::CompareReportToText(*r);
  EXPECT_EQ(r->examples, 12);
  ASSERT_GE(r->layers.size(), 5u);
  EXPECT_EQ(r->layers[0].op, "INPUT");
  // The input is quantized with the input FakeQuant's own formula: identical to the fake-quant
  // graph's value, and close to the float input (8-bit rounding, clamping to the calibrated range).
  EXPECT_TRUE(r->layers[0].has_fq && r->layers[0].has_float);
  EXPECT_EQ(r->layers[0].fq_vs_int.max_abs, 0.0);
  EXPECT_GT(r->layers[0].float_vs_fq.sqnr_db, 35.0);
  const auto* c1 = Find(*r, "CONV_2D", "conv1/");
  const auto* c2 = Find(*r, "CONV_2D", "conv2/");
  const auto* fc = Find(*r, "FULLY_CONNECTED", "fc/");
  ASSERT_NE(c1, nullptr);
  ASSERT_NE(c2, nullptr);
  ASSERT_NE(fc, nullptr);
  for (const auto* l : {c1, c2, fc}) {
    EXPECT_TRUE(l->has_fq && l->has_float) << l->tensor << ": " << l->note;
    EXPECT_GT(l->scale, 0);
    EXPECT_TRUE(std::isfinite(l->float_vs_fq.sqnr_db)) << l->tensor;
    EXPECT_GT(l->float_vs_fq.sqnr_db, 15.0) << l->tensor;  // measured 19.4 (fc) to 33.7 (conv1)
    EXPECT_GT(l->float_vs_int.sqnr_db, 15.0) << l->tensor;
    EXPECT_LE(l->fq_vs_int.max_lsb, 1.0 + 1e-4) << l->tensor;
    EXPECT_EQ(l->fq_vs_int.count, 12 * (l->shape.empty() ? 1 : [&] {
      int64_t n = 1;
      for (int64_t d : l->shape) n *= d;
      return n;
    }()));
  }
  EXPECT_EQ(c1->float_node, "conv1/Relu");
  EXPECT_EQ(r->first_divergence, -1);
  // With no tolerance, the first layer whose error is not 0 (rounding ties) is the divergence.
  int expect_first = -1;
  for (size_t l = 0; l < r->layers.size() && expect_first < 0; ++l)
    if (r->layers[l].fq_vs_int.max_abs > 0) expect_first = static_cast<int>(l);
  o.tolerance_lsb = 0;
  auto r0 = CompareModels(a.float_graph, a.frozen, a.tflite, a.examples, o);
  ASSERT_TRUE(r0.ok()) << r0.status();
  EXPECT_EQ(r0->first_divergence, expect_first);

  // Independent check of the last layer: the model output from the runtime's batch runner and
  // the frozen graph's output FakeQuant from the executor, compared with CompareArrays.
  auto run = workflow::RunTfliteOverBatch(a.tflite, a.examples, {});
  ASSERT_TRUE(run.ok()) << run.status();
  auto ex = Executor::Create(a.frozen, ExecutorOptions{});
  ASSERT_TRUE(ex.ok()) << ex.status();
  std::vector<float> fq_all;
  const std::vector<float> xs = a.examples.ToFloat();
  for (int i = 0; i < 12; ++i) {
    auto outs = ex->Run({{"input", Tensor::Float({1, 8, 8, 3}, std::vector<float>(xs.begin() + i * 192, xs.begin() + (i + 1) * 192))}},
                        {fc->fq_node});
    ASSERT_TRUE(outs.ok()) << outs.status();
    fq_all.insert(fq_all.end(), (*outs)[0].f.begin(), (*outs)[0].f.end());
  }
  auto stats = workflow::CompareArrays(fq_all, run->output.ToFloat(), run->output_scale);
  ASSERT_TRUE(stats.ok());
  EXPECT_NEAR(fc->fq_vs_int.max_abs, stats->max_abs, 1e-6);
  EXPECT_NEAR(fc->fq_vs_int.mean_abs, stats->mean_abs, 1e-6);
  EXPECT_NEAR(fc->fq_vs_int.max_lsb, stats->max_lsb, 1e-4);

  // JSON carries the same numbers.
  auto j = nlohmann::json::parse(workflow::CompareReportToJson(*r));
  EXPECT_EQ(j["layers"].size(), r->layers.size());
  EXPECT_TRUE(j["first_divergence"].is_null());
  EXPECT_EQ(j["layers"][0]["op"], "INPUT");
}

TEST(CompareTest, PerturbedWeightsDivergeAtTheirLayer) {
  Artefacts& a = Model();
  ASSERT_FALSE(a.tflite.empty());
  // Scale conv2's weights in the fake-quant graph only: the .tflite keeps the originals.
  tensorflow::GraphDef g = a.frozen;
  bool changed = false;
  for (auto& n : *g.mutable_node()) {
    if (n.name() != "conv2/weights" || n.op() != "Const") continue;
    auto t = TensorFromProto(n.attr().at("value").tensor(), n.name());
    ASSERT_TRUE(t.ok()) << t.status();
    for (float& v : t->f) v *= 0.5f;
    (*n.mutable_attr())["value"].mutable_tensor()->CopyFrom(TensorToProto(*t));
    changed = true;
  }
  ASSERT_TRUE(changed) << "no Const conv2/weights in the frozen graph";
  CompareOptions o;
  o.tolerance_lsb = 1;
  auto r = CompareModels(a.float_graph, g, a.tflite, a.examples, o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << workflow::CompareReportToText(*r);
  ASSERT_GE(r->first_divergence, 0);
  const auto& d = r->layers[r->first_divergence];
  EXPECT_EQ(d.op, "CONV_2D");
  EXPECT_EQ(d.fq_node.rfind("conv2/", 0), 0u) << d.fq_node;
  EXPECT_GT(d.fq_vs_int.max_lsb, 5.0);
  const auto* c1 = Find(*r, "CONV_2D", "conv1/");
  ASSERT_NE(c1, nullptr);
  EXPECT_FALSE(c1->diverges);
}

TEST(CompareTest, PlotWritesPngAndSvg) {
  Artefacts& a = Model();
  ASSERT_FALSE(a.tflite.empty());
  if (std::system("gnuplot --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "gnuplot not installed";
  CompareOptions o;
  o.max_examples = 2;
  auto r = CompareModels(a.float_graph, a.frozen, a.tflite, a.examples, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->examples, 2);
  const std::string dir = ScratchDir("workflow_compare_plot");
  for (const std::string ext : {".png", ".svg"}) {
    const std::string path = dir + "/sqnr" + ext;
    ASSERT_TRUE(workflow::PlotCompareReport(*r, path).ok());
    std::ifstream f(path, std::ios::binary);
    std::string head(8, '\0');
    f.read(head.data(), 8);
    if (ext == ".png") EXPECT_EQ(head.substr(1, 3), "PNG");
    else EXPECT_NE(head.find("<"), std::string::npos);
  }
}

TEST(CompareTest, Errors) {
  Artefacts& a = Model();
  ASSERT_FALSE(a.tflite.empty());
  CompareOptions o;
  o.input_name = "no_such_input";
  EXPECT_FALSE(CompareModels(a.float_graph, a.frozen, a.tflite, a.examples, o).ok());
  NpyArray bad = NpyArray::FromFloat({5}, std::vector<float>(5, 0.f));
  EXPECT_FALSE(CompareModels(a.float_graph, a.frozen, a.tflite, bad, CompareOptions{}).ok());
}

}  // namespace
}  // namespace tfqat::testing

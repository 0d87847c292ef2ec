// End-to-end: a LeNet rewritten for QAT by the rewriter, trained by the trainer per the
// CONTRACTS.md train-mode contract; plus frozen-graph fine-tuning, calibration, data files.
#include "trainer/trainer.h"

#include <cstdio>
#include <filesystem>

#include "gmock/gmock.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "graph/tensor.h"
#include "gtest/gtest.h"
#include "rewriter/quantize.h"
#include "tests/trainer/lenet.h"

namespace tfqat {
namespace {

using testing::BuildLeNet;
using testing::SyntheticDigits;

tensorflow::GraphDef QatLeNet() {
  QuantizeOptions q;
  q.mode = QuantizeOptions::Mode::kTrain;
  auto r = InsertFakeQuant(BuildLeNet(), q);
  EXPECT_TRUE(r.ok()) << r.status();
  return r->graph;
}

float ConstScalar(const tensorflow::GraphDef& g, const std::string& name) {
  for (const auto& n : g.node()) {
    if (n.name() == name) return DecodeConst<float>(n)->values[0];
  }
  ADD_FAILURE() << "no node " << name;
  return 0;
}

TEST(Trainer, QatLeNetLearnsUpdatesRangesAndStepAndIsDeterministic) {
  tensorflow::GraphDef g = QatLeNet();
  Dataset train = SyntheticDigits(640, 1), val = SyntheticDigits(200, 2);
  TrainOptions o;
  o.logits = "logits";
  o.epochs = 2;
  o.batch = 32;
  o.lr = 0.05f;
  o.seed = 7;
  o.threads = 2;
  int64_t last_step = 0;
  auto r = Train(g, train, &val, o, [&](const StepLog& s) { last_step = s.step; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->steps, 40);
  EXPECT_EQ(last_step, 40);
  ASSERT_EQ(r->epochs.size(), 2u);
  EXPECT_LT(r->epochs[1].train_loss, r->epochs[0].train_loss);
  EXPECT_GT(r->epochs[1].val_accuracy, 0.6f);  // chance is 0.1
  // Parameters: the 8 weight/bias Consts (weights reached through FakeQuant), no range variables.
  EXPECT_EQ(r->parameters.size(), 8u);
  // global_step written back = steps; activation ranges moved off their [0, 6] init (EMA);
  // weight ranges are the last value.
  bool saw_step = false;
  for (const auto& n : r->graph.node()) {
    if (n.name() == "global_step/initial_value") {
      EXPECT_EQ(DecodeConst<int64_t>(n)->values[0], 40);
      saw_step = true;
    }
  }
  EXPECT_TRUE(saw_step);
  EXPECT_NE(ConstScalar(r->graph, "conv1/act_quant/max/initial_value"), 6.f);
  EXPECT_LT(ConstScalar(r->graph, "conv1/weights_quant/min/initial_value"), 0.f);
  EXPECT_GT(ConstScalar(r->graph, "conv1/weights_quant/max/initial_value"), 0.f);
  // The written weights are the trained ones.
  tensorflow::GraphDef before = BuildLeNet();
  float w0 = 0, w1 = 0;
  for (const auto& n : before.node()) if (n.name() == "fc2/biases") w0 = DecodeConst<float>(n)->values[0];
  for (const auto& n : r->graph.node()) if (n.name() == "fc2/biases") w1 = DecodeConst<float>(n)->values[0];
  EXPECT_NE(w0, w1);
  // Same seed and thread count: bit-identical result.
  auto r2 = Train(g, train, &val, o);
  ASSERT_TRUE(r2.ok());
  ASSERT_EQ(r->graph.node_size(), r2->graph.node_size());
  int consts = 0;
  for (int k = 0; k < r->graph.node_size(); ++k) {
    if (r->graph.node(k).op() != "Const") continue;
    auto a = DecodeConst<double>(r->graph.node(k));
    auto b = DecodeConst<double>(r2->graph.node(k));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(a->values == b->values) << r->graph.node(k).name();
    ++consts;
  }
  EXPECT_GT(consts, 8);
}

TEST(Trainer, FrozenFloatGraphFineTunesWithAdamAndCosine) {
  Dataset train = SyntheticDigits(320, 3);
  TrainOptions o;
  o.logits = "logits";
  o.steps = 15;
  o.batch = 32;
  o.lr = 0.002f;
  o.optimizer = OptimizerKind::kAdam;
  o.schedule = LrSchedule::kCosine;
  o.weight_decay = 1e-4f;
  std::vector<float> lrs;
  auto r = Train(BuildLeNet(), train, nullptr, o, [&](const StepLog& s) { lrs.push_back(s.lr); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->parameters.size(), 8u);
  EXPECT_FLOAT_EQ(lrs.front(), 0.002f);
  EXPECT_LT(lrs.back(), 0.0001f);
  EXPECT_LT(r->epochs.back().train_loss, 2.2f);
}

TEST(Trainer, CalibrateOnlyMovesRangesNotWeights) {
  tensorflow::GraphDef g = QatLeNet();
  Dataset train = SyntheticDigits(64, 4);
  TrainOptions o;
  o.logits = "logits";
  o.steps = 2;
  o.batch = 32;
  o.calibrate_only = true;
  auto r = Train(g, train, nullptr, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(ConstScalar(r->graph, "fc1/act_quant/max/initial_value"), 6.f);
  for (int k = 0; k < g.node_size(); ++k) {
    if (g.node(k).name() == "fc1/weights") {
      EXPECT_TRUE(DecodeConst<float>(g.node(k))->values == DecodeConst<float>(r->graph.node(k))->values);
    }
  }
}

TEST(Trainer, ErrorsNameTheProblem) {
  Dataset train = SyntheticDigits(8, 5);
  TrainOptions o;
  o.logits = "nope";
  auto r = Train(BuildLeNet(), train, nullptr, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("nope"));
  train.labels[3] = 12;
  o.logits = "logits";
  o.batch = 8;
  r = Train(BuildLeNet(), train, nullptr, o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("label 12 out of range"));
}

TEST(TrainerData, IdxPlainAndGzipAndErrors) {
  // IDX: magic 0x00000803, dims 2x2x2, bytes 0..7.
  std::string idx("\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02", 16);
  for (int k = 0; k < 8; ++k) idx.push_back(static_cast<char>(k * 10));
  auto t = ParseIdx(idx, "mem");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(t->i[7], 70);
  auto bad = ParseIdx(idx.substr(0, 20), "short.idx");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("short.idx"));
  std::string dir = ::testing::TempDir();
  std::string path = dir + "/tfqat_trainer_idx";
  ASSERT_TRUE(WriteFileAtomically(path, idx).ok());
  auto scaled = LoadDataTensor(path, 0.5f);
  ASSERT_TRUE(scaled.ok()) << scaled.status();
  EXPECT_FLOAT_EQ(scaled->f[7], 35.f);
  // gzip via the system tool when present.
  if (std::system(("gzip -kf " + path + " 2>/dev/null").c_str()) == 0) {
    auto gz = LoadDataTensor(path + ".gz", 1.f);
    ASSERT_TRUE(gz.ok()) << gz.status();
    EXPECT_EQ(gz->f, LoadDataTensor(path, 1.f)->f);
    auto labels = LoadLabels(path + ".gz");
    ASSERT_TRUE(labels.ok());
    EXPECT_EQ((*labels)[3], 30);
  }
}

}  // namespace
}  // namespace tfqat

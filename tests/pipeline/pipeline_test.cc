// The end-to-end workflow: metrics by hand, and `tfqat pipeline` on a small synthetic task
// (structure of the artefacts, the numbers it reports, resuming, and refusals).
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "graph/graph_builder.h"
#include "graph/graph_io.h"
#include "graph/npy.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "workflow/metrics.h"
#include "workflow/model_runner.h"

namespace tfqat::workflow {
namespace {

namespace fs = std::filesystem;

TEST(MetricsTest, ArgMaxAccuracyAgreement) {
  NpyArray scores = NpyArray::FromFloat({3, 4}, {0, 1, 5, 2,  //
                                                 9, 1, 0, 0,  //
                                                 0, 0, 0, 3});
  auto p = ArgMaxRows(scores);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, (std::vector<int64_t>{2, 0, 3}));
  EXPECT_DOUBLE_EQ(Accuracy(*p, {2, 1, 3}), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(Agreement(*p, *p), 1.0);
  NpyArray labels = NpyArray::Zeros(NpyDType::kFloat32, {3});
  EXPECT_FALSE(Labels(labels).ok());  // float labels are refused
}

TEST(MetricsTest, CompareArraysByHand) {
  // ref = (3, 4), x = (3, 5): signal 25, noise 1 -> SQNR 10·log10(25) dB; max error 1 = 2 LSB of 0.5.
  auto s = CompareArrays({3, 4}, {3, 5}, 0.5);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->sqnr_db, 10.0 * std::log10(25.0), 1e-9);
  EXPECT_DOUBLE_EQ(s->max_abs, 1.0);
  EXPECT_DOUBLE_EQ(s->mean_abs, 0.5);
  EXPECT_DOUBLE_EQ(s->max_lsb, 2.0);
  auto same = CompareArrays({1, 2}, {1, 2}, 1.0);
  EXPECT_TRUE(std::isinf(same->sqnr_db));
  EXPECT_FALSE(CompareArrays({1}, {1, 2}, 1.0).ok());
}

HostTensor<float> Random(std::vector<int64_t> shape, float limit, std::mt19937* rng) {
  HostTensor<float> t;
  t.shape = std::move(shape);
  std::uniform_real_distribution<float> d(-limit, limit);
  t.values.resize(t.num_elements());
  for (float& v : t.values) v = d(*rng);
  return t;
}

// 12x12x1 images of three classes: a bright bar at the top, middle or bottom, plus noise.
void WriteTask(const std::string& dir, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 60);
  NpyArray x = NpyArray::Zeros(NpyDType::kUInt8, {n, 12, 12, 1});
  NpyArray y = NpyArray::Zeros(NpyDType::kInt32, {n});
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    y.mutable_as<int32_t>()[i] = c;
    for (int r = 0; r < 12; ++r) {
      for (int col = 0; col < 12; ++col) {
        int v = noise(rng);
        if (r / 4 == c) v += 180;
        x.mutable_as<uint8_t>()[(i * 12 + r) * 12 + col] = static_cast<uint8_t>(std::min(v, 255));
      }
    }
  }
  ASSERT_TRUE(WriteNpy(dir + "/x.npy", x).ok());
  ASSERT_TRUE(WriteNpy(dir + "/y.npy", y).ok());
}

void WriteModel(const std::string& path) {
  std::mt19937 rng(7);
  GraphBuilder b;
  std::string x = b.Placeholder("input", {-1, 12, 12, 1});
  x = b.Conv2D("conv1/Conv2D", x, b.Const("conv1/weights", Random({3, 3, 1, 8}, 0.5f, &rng)), 1, "SAME");
  x = b.BiasAdd("conv1/BiasAdd", x, b.Const("conv1/biases", Random({8}, 0.01f, &rng)));
  x = b.Unary("Relu", "conv1/Relu", x);
  x = b.Pool("MaxPool", "pool1/MaxPool", x, 2, 2, "VALID");
  x = b.Reshape("flatten", x, {-1, 6 * 6 * 8});
  x = b.MatMul("fc/MatMul", x, b.Const("fc/weights", Random({288, 3}, 0.1f, &rng)));
  x = b.BiasAdd("logits", x, b.Const("fc/biases", Random({3}, 0.01f, &rng)));
  b.Unary("Softmax", "probabilities", x);
  ASSERT_TRUE(SaveGraphDef(b.Build(), path).ok());
}

struct CliRun {
  int exit_code = -1;
  std::string out;
};

CliRun Tfqat(const std::string& args) {
  const char* bin = std::getenv("TFQAT_BIN");
  CliRun r;
  std::string cmd = std::string(bin) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class PipelineCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("TFQAT_BIN") == nullptr) GTEST_SKIP() << "TFQAT_BIN not set (run through ctest)";
    dir_ = (fs::temp_directory_path() / ("tfqat_pipeline_test_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    WriteTask(dir_, 192, 1);
    WriteModel(dir_ + "/float.pb");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Args(const std::string& type) const {
    return "pipeline " + dir_ + "/float.pb --data " + dir_ + "/x.npy --labels " + dir_ + "/y.npy --outputs logits -o " +
           dir_ + "/m_" + type + ".tflite --work-dir " + dir_ + "/work_" + type + " --inference-type " + type +
           " --epochs 3 --batch 16 --lr 0.003 --threads 1 --quiet --json";
  }
  std::string dir_;
};

TEST_F(PipelineCliTest, Int8EndToEndAndResume) {
  CliRun r = Tfqat(Args("int8"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  // Every artefact is kept.
  for (const char* f : {"inspect.json", "qat_train.pb", "rewrite_report.json", "qat_trained.pb", "train_log.json",
                        "frozen.pb", "audit.json", "convert.json", "float.tflite", "pipeline.json"}) {
    EXPECT_TRUE(fs::exists(dir_ + "/work_int8/" + f)) << f;
  }
  EXPECT_TRUE(fs::exists(dir_ + "/m_int8.tflite"));
  // The task is easy: fake-quant training learns it, and the integer model computes what the
  // fake-quant graph computes.
  EXPECT_GE(j["accuracy"]["fake_quant"].get<double>(), 0.9);
  EXPECT_GE(j["agreement_fake_quant_int8"].get<double>(), 0.99);
  EXPECT_LE(j["max_output_diff"]["lsb"].get<double>(), 1.0);
  EXPECT_NEAR(j["accuracy"]["int8"].get<double>(), j["accuracy"]["fake_quant"].get<double>(), 0.02);
  // 8-bit weights (the model is tiny, so the fixed flatbuffer overhead keeps the ratio above 1/4).
  EXPECT_LT(j["model_size_bytes"]["quantized_tflite"].get<int64_t>(),
            j["model_size_bytes"]["float_tflite"].get<int64_t>() * 3 / 4);
  EXPECT_EQ(j["quantized_output"].get<std::string>(), "fc/act_quant/FakeQuantWithMinMaxVars");
  // Rerunning resumes: every stage before verify is up to date.
  CliRun again = Tfqat(Args("int8"));
  ASSERT_EQ(again.exit_code, 0);
  nlohmann::json j2 = nlohmann::json::parse(again.out);
  int skipped = 0;
  for (const auto& s : j2["stages"]) skipped += s.value("skipped", false) ? 1 : 0;
  EXPECT_EQ(skipped, 6);
  EXPECT_EQ(j2["accuracy"]["int8"], j["accuracy"]["int8"]);
}

TEST_F(PipelineCliTest, Uint8EndToEnd) {
  CliRun r = Tfqat(Args("uint8"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_GE(j["agreement_fake_quant_int8"].get<double>(), 0.99);
  EXPECT_LE(j["max_output_diff"]["lsb"].get<double>(), 1.0);
}

// `tfqat exec --batch N` (the verify stage's evaluation): chunks along dimension 0 give the rows
// that one run over all inputs gives; misuse is refused with exit 2.
TEST_F(PipelineCliTest, ExecInChunksMatchesOneRun) {
  NpyArray x = NpyArray::Zeros(NpyDType::kFloat32, {10, 12, 12, 1});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(0.f, 1.f);
  for (int64_t i = 0; i < x.num_elements(); ++i) x.mutable_as<float>()[i] = d(rng);
  ASSERT_TRUE(WriteNpy(dir_ + "/x10.npy", x).ok());
  const std::string base = "exec " + dir_ + "/float.pb --input input=" + dir_ + "/x10.npy --output logits";
  ASSERT_EQ(Tfqat(base + " --out-dir " + dir_ + "/all").exit_code, 0);
  ASSERT_EQ(Tfqat(base + " --batch 3 --out-dir " + dir_ + "/chunks").exit_code, 0);  // 3+3+3+1 rows
  auto all = ReadNpy(dir_ + "/all/logits.npy");
  auto chunks = ReadNpy(dir_ + "/chunks/logits.npy");
  ASSERT_TRUE(all.ok() && chunks.ok());
  EXPECT_EQ(chunks->shape, (std::vector<int64_t>{10, 3}));
  const std::vector<float> a = all->ToFloat(), c = chunks->ToFloat();
  ASSERT_EQ(a.size(), c.size());
  // Same rows; only the GEMM's blocking (and so the float summation order) may differ.
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], c[i], 1e-5f * (1.f + std::fabs(a[i]))) << i;
  EXPECT_EQ(Tfqat(base + " --batch -1 --out-dir " + dir_ + "/bad").exit_code, 2);
  EXPECT_EQ(Tfqat(base + " --batch 4 --target logits --out-dir " + dir_ + "/bad").exit_code, 2);
  EXPECT_FALSE(fs::exists(dir_ + "/bad/logits.npy"));
}

// The .tflite the pipeline writes runs in the real TFLite interpreter (tflite-run, which the
// pipeline does not use) with the same predictions as the pipeline's own int8 evaluation:
// the model itself on the first examples, and the same frozen graph converted with the whole
// validation set as one batch on every example.
TEST_F(PipelineCliTest, ModelRunsInTfliteWithTheSamePredictions) {
  const std::string peer = std::string(TFQAT_BINARY_DIR) + "/peers/tflite-run/run.js";
  if (!fs::exists(peer) || std::system("node --version > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the real TFLite interpreter is missing: " << peer << " (run scripts/prepare-peers.sh BUILD)";
  }
  CliRun r = Tfqat(Args("int8"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const std::string work = dir_ + "/work_int8";
  auto raw = ReadNpy(work + "/eval/int8/output_raw.npy");  // our runtime's int8 logits, [N, 3]
  auto val = ReadNpy(work + "/eval/val_input.npy");        // the float inputs it was given
  ASSERT_TRUE(raw.ok() && val.ok());
  const int64_t n = val->shape[0], classes = raw->shape[1], per = val->num_elements() / n;
  const std::vector<float> xs = val->ToFloat();
  auto run_peer = [&](const std::string& model, const std::vector<float>& x) -> nlohmann::json {
    // The model's input grid, read by the peer itself.
    const std::string info_json = dir_ + "/info.json";
    EXPECT_EQ(std::system(("node " + peer + " " + model + " --info -o " + info_json + " 2>/dev/null").c_str()), 0);
    std::ifstream f(info_json);
    const nlohmann::json in = nlohmann::json::parse(f)["inputs"][0];
    const float scale = in["quantization"]["scale"][0].get<float>();
    const int zp = in["quantization"]["zero_point"][0].get<int>();
    nlohmann::json q = nlohmann::json::array();
    for (float v : x) q.push_back(static_cast<int>(QuantizeLikeFakeQuant<int8_t>(v, scale, zp)));
    std::ofstream(dir_ + "/in.json") << q.dump();
    const std::string out = dir_ + "/peer.json";
    EXPECT_EQ(std::system(("node " + peer + " " + model + " -i " + dir_ + "/in.json -o " + out + " 2>/dev/null").c_str()), 0);
    std::ifstream o(out);
    return nlohmann::json::parse(o)["outputs"][0];
  };
  auto argmax = [&](const std::vector<double>& v, int64_t row) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (v[row * classes + c] > v[row * classes + best]) best = c;
    return best;
  };
  std::vector<double> ours(raw->num_elements());
  for (int64_t i = 0; i < raw->num_elements(); ++i) ours[i] = raw->as<int8_t>()[i];
  // 1. The pipeline's model (batch 1), first examples.
  for (int64_t e = 0; e < 3; ++e) {
    const auto out = run_peer(dir_ + "/m_int8.tflite", std::vector<float>(xs.begin() + e * per, xs.begin() + (e + 1) * per));
    const auto data = out["data"].get<std::vector<double>>();
    ASSERT_EQ(static_cast<int64_t>(data.size()), classes);
    for (int64_t c = 0; c < classes; ++c) EXPECT_LE(std::fabs(data[c] - ours[e * classes + c]), 1.0) << e;
    EXPECT_EQ(argmax(data, 0), argmax(ours, e)) << "example " << e;
  }
  // 2. Every example: the same frozen graph as one batch of N.
  const std::string batch_model = dir_ + "/batch.tflite";
  ASSERT_EQ(Tfqat("convert " + work + "/frozen.pb -o " + batch_model + " --input-arrays input --output-arrays " +
                  j["quantized_output"].get<std::string>() + " --input-shapes " + std::to_string(n) +
                  ",12,12,1 --inference-type int8").exit_code, 0);
  const auto out = run_peer(batch_model, xs);
  const auto data = out["data"].get<std::vector<double>>();
  ASSERT_EQ(data.size(), ours.size());
  int64_t same = 0, differ = 0;
  double max_lsb = 0;
  for (int64_t e = 0; e < n; ++e) same += argmax(data, e) == argmax(ours, e);
  for (size_t i = 0; i < data.size(); ++i) {
    differ += data[i] != ours[i];
    max_lsb = std::max(max_lsb, std::fabs(data[i] - ours[i]));
  }
  std::cout << "[measure] pipeline model in TFLite: " << same << "/" << n << " same predictions, " << differ << " of "
            << data.size() << " logits differ, max " << max_lsb << " LSB\n";
  EXPECT_EQ(same, n);
  EXPECT_LE(max_lsb, 1.0);  // XNNPACK's float requantization of CONV_2D/FULLY_CONNECTED
}

TEST_F(PipelineCliTest, BadInputsFailWithoutOutput) {
  // Unknown logits node: refused before any stage runs.
  CliRun r = Tfqat("pipeline " + dir_ + "/float.pb --data " + dir_ + "/x.npy --labels " + dir_ +
                "/y.npy --outputs nope -o " + dir_ + "/bad.tflite --quiet");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir_ + "/bad.tflite"));
  // A corrupt data file.
  std::ofstream(dir_ + "/junk.npy") << "not a numpy file";
  r = Tfqat("pipeline " + dir_ + "/float.pb --data " + dir_ + "/junk.npy --labels " + dir_ +
            "/y.npy --outputs logits -o " + dir_ + "/bad.tflite --quiet");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir_ + "/bad.tflite"));
}

}  // namespace
}  // namespace tfqat::workflow

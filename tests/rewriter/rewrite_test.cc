#include "rewriter/rewrite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "graph/graph_io.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using rewriter_testing::ConvBiasRelu;
using rewriter_testing::Node;

tensorflow::GraphDef Net() {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  ConvBiasRelu(g, "conv1", x, 3, 4);
  return g.Build();
}

TEST(RewriteTest, FoldRunsBeforeQuantizationAndIsReported) {
  RewriteOptions o;
  bool called = false;
  // A stand-in fold pass that renames nothing but records one fold, to check the order and
  // the plumbing of options and results.
  o.fold_pass = [&](const tensorflow::GraphDef& g, const FoldBatchNormsOptions& fo)
      -> absl::StatusOr<FoldBatchNormsResult> {
    called = true;
    EXPECT_EQ(fo.mode, FoldBatchNormsOptions::Mode::kTrain);
    EXPECT_EQ(fo.freeze_bn_delay, 77);
    EXPECT_EQ(Node(g, "conv1/weights_quant/min"), nullptr);  // before quantization
    FoldBatchNormsResult r;
    r.graph = g;
    FoldedLayer f;
    f.weighted_op = "conv1/Conv2D";
    f.batch_norm = "conv1/bn";
    r.folded.push_back(f);
    r.notes.push_back("note from fold");
    return r;
  };
  o.freeze_bn_delay = 77;
  auto r = Rewrite(Net(), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(called);
  EXPECT_NE(Node(r->graph, "conv1/weights_quant/min"), nullptr);
  auto j = RewriteReportJson(*r, o);
  EXPECT_EQ(j["mode"], "train");
  EXPECT_EQ(j["batch_norm_folds"].size(), 1u);
  EXPECT_EQ(j["batch_norm_notes"][0], "note from fold");
  ASSERT_EQ(j["layers"].size(), 1u);
  EXPECT_EQ(j["layers"][0]["name"], "conv1");
  EXPECT_EQ(j["layers"][0]["kind"], "Conv2D+BiasAdd+Relu");
  EXPECT_EQ(j["layers"][0]["weights_quantized"], true);
  EXPECT_EQ(j["totals"]["fake_quant_inserted"], 2);
  std::string s = RewriteSummary(*r, o);
  EXPECT_THAT(s, HasSubstr("quantized layer 'conv1' [Conv2D+BiasAdd+Relu]: weights output"));
  EXPECT_THAT(s, HasSubstr("folded batch norm 'conv1/bn'"));
}

TEST(RewriteTest, FoldErrorsPropagate) {
  RewriteOptions o;
  o.fold_pass = [](const tensorflow::GraphDef&, const FoldBatchNormsOptions&)
      -> absl::StatusOr<FoldBatchNormsResult> { return absl::InvalidArgumentError("node 'bn' (X): bad"); };
  EXPECT_THAT(Rewrite(Net(), o).status().message(), HasSubstr("node 'bn'"));
  o.fold_batch_norms = false;
  EXPECT_TRUE(Rewrite(Net(), o).ok());
}

int RunCli(const std::string& args, std::string* err) {
  const char* bin = std::getenv("TFQAT_BIN");
  std::string tmp = (std::filesystem::temp_directory_path() / "tfqat_rewrite_cli_err.txt").string();
  int rc = std::system(absl::StrCat(bin, " ", args, " 2>", tmp).c_str());
  std::ifstream f(tmp);
  err->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return WEXITSTATUS(rc);
}

TEST(RewriteCliTest, RewriteTwiceAndErrors) {
  if (std::getenv("TFQAT_BIN") == nullptr || !std::filesystem::exists(std::getenv("TFQAT_BIN"))) {
    GTEST_SKIP() << "TFQAT_BIN not set (run through ctest)";
  }
  const auto dir = std::filesystem::temp_directory_path() / "tfqat_rewrite_cli";
  std::filesystem::create_directories(dir);
  const std::string in = (dir / "in.pb").string(), out = (dir / "out.pb").string(),
                    out2 = (dir / "out2.pb").string(), rep = (dir / "r.json").string();
  ASSERT_TRUE(SaveGraphDef(Net(), in).ok());
  std::string err;
  ASSERT_EQ(RunCli(absl::StrCat("rewrite ", in, " -o ", out, " --report ", rep, " --per-channel"), &err), 0) << err;
  EXPECT_THAT(err, HasSubstr("quantized layer 'conv1'"));
  auto g = LoadGraphDef(out);
  ASSERT_TRUE(g.ok());
  EXPECT_NE(Node(*g, "conv1/weights_quant/FakeQuantWithMinMaxVarsPerChannel"), nullptr);
  EXPECT_TRUE(std::filesystem::exists(rep));
  // The phases' times: on stderr, and in the report as wall and CPU seconds.
  EXPECT_THAT(err, HasSubstr("time: load "));
  EXPECT_THAT(err, HasSubstr(" s, rewrite "));
  auto expect_phases = [](const std::string& path) {
    std::ifstream rf(path);
    const nlohmann::json report = nlohmann::json::parse(rf);
    ASSERT_TRUE(report.contains("timing")) << report.dump();
    for (const char* phase : {"load", "rewrite", "write"}) {
      ASSERT_TRUE(report["timing"].contains(phase)) << phase;
      EXPECT_GE(report["timing"][phase]["wall_s"].get<double>(), 0.0) << phase;
      EXPECT_GE(report["timing"][phase]["cpu_s"].get<double>(), 0.0) << phase;
    }
  };
  expect_phases(rep);
  // A text output is rewritten in place and saved: the same phases.
  const std::string out_txt = (dir / "out.pbtxt").string(), rep2 = (dir / "r2.json").string();
  ASSERT_EQ(RunCli(absl::StrCat("rewrite ", in, " -o ", out_txt, " --report ", rep2, " -q"), &err), 0)
      << err;
  EXPECT_THAT(err, Not(HasSubstr("time:")));  // -q: no summary
  expect_phases(rep2);
  ASSERT_EQ(RunCli(absl::StrCat("rewrite ", out, " -o ", out2, " --per-channel"), &err), 0) << err;
  EXPECT_THAT(err, HasSubstr("already rewritten: nothing changed"));
  EXPECT_EQ(RunCli(absl::StrCat("rewrite ", in, " -o ", out, " --activation-bits 17"), &err), 2);
  EXPECT_EQ(RunCli(absl::StrCat("rewrite ", (dir / "missing.pb").string(), " -o ", out), &err), 2);
  EXPECT_THAT(err, HasSubstr("tfqat rewrite: error"));
  // A truncated input (parsed onto the arena): a clear error, and no output left behind.
  {
    const std::string bytes = *SerializeGraphDef(Net(), GraphFormat::kBinary);
    const std::string bad = (dir / "truncated.pb").string(), bad_out = (dir / "never.pb").string();
    std::ofstream(bad, std::ios::binary) << bytes.substr(0, bytes.size() - 9);
    EXPECT_EQ(RunCli(absl::StrCat("rewrite ", bad, " -o ", bad_out), &err), 2);
    EXPECT_THAT(err, HasSubstr("not a valid binary GraphDef"));
    EXPECT_FALSE(std::filesystem::exists(bad_out));
  }
}

}  // namespace
}  // namespace tfqat

// Every real TensorFlow graph of shared/testdata/tf: loads, validates (or fails for its
// documented reason), round-trips binary and text, and its op histogram agrees with an
// independent wire-format decode.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/graph_io.h"
#include "graph/summary.h"
#include "graph/validate.h"
#include "gtest/gtest.h"
#include "tests/graph/test_util.h"

namespace tfqat {
namespace {

using testing_util::FindFiles;
using testing_util::ReadBytes;

std::string CorpusDir() { return testing_util::SharedDir() + "/testdata/tf"; }

// Graphs of the corpus that do not pass ValidateGraph, with the reason (a substring of the
// error). Documented in docs/graph.md.
const std::map<std::string, std::string>& ExpectedInvalid() {
  static const auto* m = new std::map<std::string, std::string>{};
  return *m;
}

std::string Relative(const std::string& path) { return path.substr(CorpusDir().size() + 1); }

std::map<std::string, int> Histogram(const tensorflow::GraphDef& g) {
  std::map<std::string, int> h;
  for (const auto& n : g.node()) ++h[n.op()];
  return h;
}

std::string Deterministic(const tensorflow::GraphDef& g) {
  auto s = SerializeGraphDef(g, GraphFormat::kBinary);
  return s.ok() ? *s : std::string("<serialize failed>");
}

// Load, validate, round-trip (binary and text), compare histograms. Returns problems.
void CheckGraph(const std::string& path, const std::map<std::string, int>* independent,
                int* valid, int* exact_bytes) {
  SCOPED_TRACE(path);
  std::string bytes = ReadBytes(path);
  auto g = ParseGraphDef(bytes, path);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_GT(g->node_size(), 0);
  if (independent != nullptr) {
    EXPECT_EQ(Histogram(*g), *independent);
  }

  auto st = ValidateGraph(*g);
  auto expected = ExpectedInvalid().find(Relative(path));
  if (expected == ExpectedInvalid().end()) {
    EXPECT_TRUE(st.ok()) << st;
    if (st.ok()) ++*valid;
  } else {
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(expected->second));
  }
  auto summary = SummarizeGraph(*g);
  EXPECT_TRUE(summary.ok() || !st.ok()) << summary.status();

  for (GraphFormat f : {GraphFormat::kBinary, GraphFormat::kText}) {
    auto out = SerializeGraphDef(*g, f);
    ASSERT_TRUE(out.ok()) << out.status();
    auto back = ParseGraphDef(*out, "round trip");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*g, *back))
        << (f == GraphFormat::kText ? "text" : "binary") << " round trip changed the graph";
    EXPECT_EQ(Deterministic(*g), Deterministic(*back));
    auto again = SerializeGraphDef(*back, f);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*out, *again) << "save(load(save(g))) differs from save(g)";
  }
  if (Deterministic(*g) == bytes) ++*exact_bytes;
}

TEST(CorpusTest, EveryFrozenGraphLoadsValidatesAndRoundTrips) {
  auto files = FindFiles(CorpusDir(), ".pb");
  if (files.empty()) GTEST_SKIP() << "no test graphs under " << CorpusDir();
  EXPECT_EQ(files.size(), 233u) << "MANIFEST.md lists 233 frozen graphs";
  int valid = 0, exact = 0;
  for (const auto& f : files) {
    std::map<std::string, int> wire;
    ASSERT_TRUE(testing_util::WireOpHistogram(ReadBytes(f), &wire)) << f;
    CheckGraph(f, &wire, &valid, &exact);
  }
  std::printf("[corpus] %zu binary graphs: %d valid, %zu documented invalid, %d re-serialize "
              "byte-identical to the file\n",
              files.size(), valid, ExpectedInvalid().size(), exact);
  EXPECT_EQ(valid + static_cast<int>(ExpectedInvalid().size()), static_cast<int>(files.size()));
}

// dl4j text twins: frozen_graph.pbtxt must hold the same ops as frozen_model.pb beside it, and
// model.txt (the un-frozen graph) must load, validate and round-trip.
TEST(CorpusTest, TextTwinsLoadAndAgreeWithBinary) {
  auto twins = FindFiles(CorpusDir() + "/dl4j", "frozen_graph.pbtxt");
  auto unfrozen = FindFiles(CorpusDir() + "/dl4j", "model.txt");
  if (twins.empty()) GTEST_SKIP() << "no dl4j text graphs under " << CorpusDir();
  EXPECT_EQ(twins.size(), 157u);
  EXPECT_EQ(unfrozen.size(), 157u);
  int valid = 0, exact = 0, variables = 0;
  for (const auto& f : twins) {
    std::string dir = f.substr(0, f.rfind('/'));
    std::map<std::string, int> wire;
    ASSERT_TRUE(testing_util::WireOpHistogram(ReadBytes(dir + "/frozen_model.pb"), &wire)) << dir;
    auto text_hist = testing_util::TextOpHistogram(ReadBytes(f));
    EXPECT_EQ(text_hist, wire) << f;
    CheckGraph(f, &wire, &valid, &exact);
  }
  for (const auto& f : unfrozen) {
    auto text_hist = testing_util::TextOpHistogram(ReadBytes(f));
    CheckGraph(f, &text_hist, &valid, &exact);
    auto g = LoadGraphDef(f);
    ASSERT_TRUE(g.ok());
    auto s = SummarizeGraph(*g);
    ASSERT_TRUE(s.ok());
    variables += s->variable_nodes > 0 ? 1 : 0;
  }
  // MANIFEST.md: every model.txt is un-frozen (VariableV2 + Assign).
  EXPECT_EQ(variables, static_cast<int>(unfrozen.size()));
  std::printf("[corpus] %zu text graphs: %d valid\n", twins.size() + unfrozen.size(), valid);
}

// Facts MANIFEST.md states about particular graphs, read through the summary.
TEST(CorpusTest, ManifestFactsHold) {
  std::string qat = CorpusDir() + "/tf2ir/mobilenet_v2_ssd_0.25_160_qat_frozen.pb";
  auto g = LoadGraphDef(qat);
  if (!g.ok()) GTEST_SKIP() << "missing " << qat;
  auto s = SummarizeGraph(*g);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->num_nodes, 2712);
  EXPECT_EQ(s->fake_quant.count, 227);
  EXPECT_EQ(s->fake_quant.by_bits.at(8), 227);
  EXPECT_EQ(s->fake_quant.narrow_range, 0);
  EXPECT_EQ(s->fake_quant.by_range_source.at("constant"), 227);
  EXPECT_FALSE(s->legacy.detected);
  EXPECT_EQ(s->data_format, "NHWC");

  auto w = LoadGraphDef(CorpusDir() + "/opencv_extra/uint8_single_conv_net.pb");
  ASSERT_TRUE(w.ok());
  auto ws = SummarizeGraph(*w);
  ASSERT_TRUE(ws.ok());
  EXPECT_TRUE(ws->legacy.detected);
  EXPECT_EQ(ws->legacy.kind, "quantize_weights");
  EXPECT_EQ(ws->legacy.ops.at("Dequantize"), 2);

  auto nchw = LoadGraphDef(CorpusDir() + "/opencv_extra/conv_pool_nchw_net.pb");
  ASSERT_TRUE(nchw.ok());
  EXPECT_EQ(SummarizeGraph(*nchw)->data_format, "NCHW");

  // 19 graphs use NCHW (MANIFEST.md, traps).
  int nchw_graphs = 0;
  for (const auto& f : FindFiles(CorpusDir(), ".pb")) {
    auto gg = LoadGraphDef(f);
    ASSERT_TRUE(gg.ok());
    auto ss = SummarizeGraph(*gg);
    if (ss.ok() && ss->data_formats.count("NCHW")) ++nchw_graphs;
  }
  EXPECT_EQ(nchw_graphs, 19);
}

}  // namespace
}  // namespace tfqat

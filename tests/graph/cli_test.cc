// `tfqat inspect` end to end: the built binary (TFQAT_BIN) on real graphs, on a legacy-quantized
// graph, and on broken inputs (each: a specific message, exit code 2, no crash).
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "graph/graph_builder.h"
#include "graph/graph_io.h"
#include "graph/tensor.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/graph/legacy_graph.h"
#include "tests/graph/test_util.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;
using testing_util::RunTfqat;
using testing_util::TempPath;
using testing_util::WriteBytes;

class InspectCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing_util::TfqatBin().empty()) GTEST_SKIP() << "TFQAT_BIN is not set (run through ctest)";
  }
  static std::string Corpus(const std::string& rel) {
    return testing_util::SharedDir() + "/testdata/tf/" + rel;
  }
  // Saves `g` and expects `tfqat inspect` to fail with exit 2 and `message` on stderr.
  static void ExpectError(const std::string& path, const std::string& message) {
    auto r = RunTfqat({"inspect", path});
    EXPECT_EQ(r.exit_code, 2) << path << "\nstderr: " << r.err;
    EXPECT_THAT(r.err, HasSubstr("tfqat inspect: error: "));
    EXPECT_THAT(r.err, HasSubstr(message)) << path;
    EXPECT_TRUE(r.out.empty()) << r.out;
    auto j = RunTfqat({"inspect", "--json", path});
    EXPECT_EQ(j.exit_code, 2);
    EXPECT_THAT(j.err, HasSubstr(message));
  }
  static std::string Save(const tensorflow::GraphDef& g, const std::string& stem) {
    std::string path = TempPath(stem);
    EXPECT_TRUE(SaveGraphDef(g, path).ok());
    return path;
  }
};

tensorflow::GraphDef Mlp() {
  GraphBuilder b;
  auto x = b.Placeholder("x", {1, 4});
  auto w = b.Const("w", HostTensor<float>{{4, 2}, std::vector<float>(8, 0.5f)});
  b.Unary("Relu", "fc/Relu", b.MatMul("fc/MatMul", x, w));
  return b.Build();
}

TEST_F(InspectCliTest, UnreadableFiles) {
  std::string empty = TempPath("empty.pb");
  WriteBytes(empty, "");
  ExpectError(empty, "empty file, not a GraphDef");

  std::string full = *SerializeGraphDef(Mlp(), GraphFormat::kBinary);
  std::string truncated = TempPath("truncated.pb");
  WriteBytes(truncated, full.substr(0, full.size() - 7));
  ExpectError(truncated, "not a valid binary GraphDef (corrupt or truncated protobuf)");

  std::mt19937 rng(1234);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(rng() & 0xff);
  std::string random = TempPath("random.pb");
  WriteBytes(random, noise);
  ExpectError(random, "GraphDef");

  std::string text = TempPath("notes.txt");
  WriteBytes(text, "model: resnet50\nlayers: 50\n");
  ExpectError(text, "not a valid text GraphDef (line 1, column 6: Message type \"tensorflow.GraphDef\" has no field named \"model\"");

  ExpectError(TempPath("missing.pb"), "cannot open");
}

TEST_F(InspectCliTest, BrokenGraphsNameTheNode) {
  auto cycle = Mlp();
  cycle.mutable_node(2)->set_input(0, "fc/Relu");
  ExpectError(Save(cycle, "cycle.pb"), "graph has a cycle");
  ExpectError(Save(cycle, "cycle2.pb"), "'fc/MatMul' (MatMul)");

  auto dangling = Mlp();
  dangling.mutable_node(3)->set_input(0, "fc/MatMull");
  ExpectError(Save(dangling, "dangling.pbtxt"),
              "node 'fc/Relu' (Relu): input 0 'fc/MatMull' names a node that does not exist");

  auto duplicate = Mlp();
  *duplicate.add_node() = duplicate.node(1);
  ExpectError(Save(duplicate, "duplicate.pb"), "node 'w' (Const): duplicate node name");

  auto short_buffer = Mlp();
  auto* t = (*short_buffer.mutable_node(1)->mutable_attr())["value"].mutable_tensor();
  t->mutable_tensor_content()->resize(31);
  ExpectError(Save(short_buffer, "short.pb"),
              "node 'w' (Const): tensor of dtype float and shape [4,2] needs 32 bytes of tensor_content, has 31");

  auto control_first = Mlp();
  control_first.mutable_node(3)->clear_input();
  control_first.mutable_node(3)->add_input("^w");
  control_first.mutable_node(3)->add_input("fc/MatMul");
  ExpectError(Save(control_first, "control.pb"), "node 'fc/Relu' (Relu): data input 1 'fc/MatMul' comes after a control input");
}

TEST_F(InspectCliTest, RealQatGraph) {
  std::string path = Corpus("tf2ir/mobilenet_v2_ssd_0.25_160_qat_frozen.pb");
  auto r = RunTfqat({"inspect", path});
  if (r.exit_code != 0 && r.err.find("cannot open") != std::string::npos) GTEST_SKIP() << "missing " << path;
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("(binary, 2,712 nodes)"));
  EXPECT_THAT(r.out, HasSubstr("fake quantization: 227 FakeQuant nodes (FakeQuantWithMinMaxVars 227); "
                               "8-bit 227; narrow_range 0; ranges: constant 227"));
  EXPECT_THAT(r.out, HasSubstr("data format: NHWC"));
  EXPECT_THAT(r.out, HasSubstr("... and 207 more (all in --json)"));
  auto j = RunTfqat({"inspect", "--json", path});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["num_nodes"], 2712);
  EXPECT_EQ(doc["fake_quant"]["nodes"].size(), 227u);
  EXPECT_EQ(doc["legacy_quantization"]["detected"], false);
  // Every range is a constant [min, max] with min < max.
  for (const auto& n : doc["fake_quant"]["nodes"]) {
    ASSERT_EQ(n["range_source"], "constant") << n["name"];
    EXPECT_LT(n["min"][0].get<double>(), n["max"][0].get<double>()) << n["name"];
  }
}

TEST_F(InspectCliTest, RealFloatGraphs) {
  auto r = RunTfqat({"inspect", Corpus("opencv_extra/conv_pool_nchw_net.pb")});
  if (r.exit_code != 0 && r.err.find("cannot open") != std::string::npos) GTEST_SKIP() << "no corpus";
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("inputs (1):\n  input  float unknown shape\n"));
  EXPECT_THAT(r.out, HasSubstr("outputs (1):\n  max_pooling2d/MaxPool  (MaxPool)\n"));
  EXPECT_THAT(r.out, HasSubstr("data format: NCHW"));
  EXPECT_THAT(r.out, HasSubstr("fake quantization: none"));

  auto t = RunTfqat({"inspect", "--json", Corpus("dl4j/mnist_00/frozen_graph.pbtxt")});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  auto doc = nlohmann::json::parse(t.out);
  EXPECT_EQ(doc["file_format"], "text");
  ASSERT_EQ(doc["inputs"].size(), 1u);
  EXPECT_EQ(doc["inputs"][0]["name"], "input");
  EXPECT_EQ(doc["data_format"], "none");

  auto u = RunTfqat({"inspect", "--json", Corpus("dl4j/mnist_00/model.txt")});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(nlohmann::json::parse(u.out)["variable_nodes"], 2);

  auto w = RunTfqat({"inspect", Corpus("opencv_extra/uint8_single_conv_net.pb")});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_THAT(w.out, HasSubstr("LEGACY QUANTIZED GRAPH (quantize_weights: Dequantize 2)"));
}

TEST_F(InspectCliTest, LegacyQuantizedGraphIsExplained) {
  std::string path = Save(testing_util::LegacyQuantizedGraph(), "legacy.pb");
  auto r = RunTfqat({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("LEGACY QUANTIZED GRAPH (quantize_nodes:"));
  EXPECT_THAT(r.out, HasSubstr("TFLite's converter cannot convert such a graph"));
  EXPECT_THAT(r.out, HasSubstr("Run `tfqat rewrite` on the original float graph"));
  auto j = RunTfqat({"inspect", "--json", path});
  auto doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["legacy_quantization"]["detected"], true);
  EXPECT_EQ(doc["legacy_quantization"]["ops"]["QuantizedConv2D"], 1);
}

TEST_F(InspectCliTest, HelpAndUsage) {
  auto h = RunTfqat({"inspect", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_THAT(h.out, HasSubstr("--json"));
  EXPECT_THAT(h.out, HasSubstr("legacy"));
  auto none = RunTfqat({"inspect"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("graph is required"));
}

}  // namespace
}  // namespace tfqat

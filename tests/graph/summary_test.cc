// SummarizeGraph / SummaryToText / SummaryToJson on graphs built here with known answers.
#include <string>

#include "gmock/gmock.h"
#include "graph/attrs.h"
#include "graph/graph_builder.h"
#include "graph/summary.h"
#include "graph/validate.h"
#include "gtest/gtest.h"
#include "tests/graph/legacy_graph.h"

namespace tfqat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// conv (NCHW) + FakeQuant of every kind.
tensorflow::GraphDef QatGraph() {
  GraphBuilder b;
  auto x = b.Placeholder("images", {-1, 3, 8, 8});
  auto* lbl = b.AddNode("labels", "Placeholder", {});
  SetAttr(lbl, "dtype", tensorflow::DT_INT32);  // no shape attribute
  auto w = b.Const("conv/weights", HostTensor<float>{{3, 3, 3, 4}, std::vector<float>(108, 0.1f)});
  b.Const("conv/weights_quant/min", HostTensor<float>{{}, {-0.25f}});
  b.Const("conv/weights_quant/max", HostTensor<float>{{}, {0.75f}});
  b.Identity("conv/weights_quant/min/read", "conv/weights_quant/min");
  auto* fw = b.AddNode("conv/weights_quant/FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVars",
                       {w, "conv/weights_quant/min/read", "conv/weights_quant/max"});
  SetAttr(fw, "num_bits", int64_t{4});
  SetAttr(fw, "narrow_range", true);
  auto conv = b.Conv2D("conv/Conv2D", x, fw->name(), 1, "SAME");
  SetAttr(b.AddNode("unused", "NoOp", {}), "x", int64_t{0});
  b.AddNode("conv/Relu", "Relu", {conv, "^unused"});
  SetAttr(b.AddNode("conv/act_quant/min", "VariableV2", {}), "shape", ShapeToProto({}));
  SetAttr(b.AddNode("conv/act_quant/max", "VariableV2", {}), "shape", ShapeToProto({}));
  b.AddNode("conv/act_quant/FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVars",
            {"conv/Relu", "conv/act_quant/min", "conv/act_quant/max"});
  auto* fa = b.AddNode("args_quant", "FakeQuantWithMinMaxArgs", {"conv/act_quant/FakeQuantWithMinMaxVars"});
  SetAttr(fa, "min", -1.0f);
  SetAttr(fa, "max", 2.0f);
  b.Const("pc/min", HostTensor<float>{{2}, {-1.0f, -2.0f}});
  b.Const("pc/max", HostTensor<float>{{2}, {1.0f, 3.0f}});
  b.AddNode("pc/FakeQuant", "FakeQuantWithMinMaxVarsPerChannel", {"args_quant", "pc/min", "pc/max"});
  // Convolution's data_format to NCHW.
  auto g = b.Build();
  for (auto& n : *g.mutable_node()) {
    if (n.op() == "Conv2D") SetAttr(&n, "data_format", "NCHW");
  }
  return g;
}

TEST(SummaryTest, CountsEverything) {
  auto g = QatGraph();
  ASSERT_TRUE(ValidateGraph(g).ok()) << ValidateGraph(g);
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->num_nodes, g.node_size());
  ASSERT_EQ(s->inputs.size(), 2u);
  EXPECT_EQ(s->inputs[0].name, "images");
  EXPECT_EQ(s->inputs[0].dtype, "float");
  EXPECT_TRUE(s->inputs[0].known_rank);
  EXPECT_THAT(s->inputs[0].shape, ElementsAre(-1, 3, 8, 8));
  EXPECT_EQ(s->inputs[1].dtype, "int32");
  EXPECT_FALSE(s->inputs[1].known_rank);
  ASSERT_EQ(s->outputs.size(), 1u);
  EXPECT_EQ(s->outputs[0].name, "pc/FakeQuant");
  EXPECT_EQ(s->const_nodes, 5);
  EXPECT_EQ(s->const_parameters, 108 + 1 + 1 + 2 + 2);
  EXPECT_EQ(s->const_bytes, 4 * (108 + 1 + 1 + 2 + 2));
  EXPECT_EQ(s->variable_nodes, 2);
  EXPECT_EQ(s->variable_parameters, 2);
  EXPECT_EQ(s->control_edges, 1);
  EXPECT_EQ(s->data_format, "NCHW");
  EXPECT_EQ(s->data_formats.at("NCHW"), 1);
  // Histogram sorted by count, then name.
  EXPECT_EQ(s->op_histogram[0], (std::pair<std::string, int>{"Const", 5}));
  EXPECT_EQ(s->op_histogram[1].first, "FakeQuantWithMinMaxVars");

  const auto& f = s->fake_quant;
  EXPECT_EQ(f.count, 4);
  EXPECT_EQ(f.by_op.at("FakeQuantWithMinMaxVars"), 2);
  EXPECT_EQ(f.by_bits.at(8), 3);
  EXPECT_EQ(f.by_bits.at(4), 1);
  EXPECT_EQ(f.narrow_range, 1);
  EXPECT_EQ(f.per_channel, 1);
  ASSERT_EQ(f.nodes.size(), 4u);
  EXPECT_EQ(f.nodes[0].range_source, "constant");  // through the Identity
  EXPECT_THAT(f.nodes[0].min, ElementsAre(-0.25f));
  EXPECT_THAT(f.nodes[0].max, ElementsAre(0.75f));
  EXPECT_EQ(f.nodes[0].input, "conv/weights");
  EXPECT_EQ(f.nodes[1].range_source, "variable");
  EXPECT_TRUE(f.nodes[1].min.empty());
  EXPECT_EQ(f.nodes[2].range_source, "attributes");
  EXPECT_THAT(f.nodes[2].min, ElementsAre(-1.0f));
  EXPECT_THAT(f.nodes[2].max, ElementsAre(2.0f));
  EXPECT_EQ(f.nodes[3].range_source, "constant");
  EXPECT_THAT(f.nodes[3].max, ElementsAre(1.0f, 3.0f));
  EXPECT_FALSE(s->legacy.detected);
}

TEST(SummaryTest, TextAndJsonReports) {
  auto s = SummarizeGraph(QatGraph());
  ASSERT_TRUE(s.ok());
  s->origin = "qat.pb";
  std::string text = SummaryToText(*s);
  EXPECT_THAT(text, HasSubstr("graph qat.pb ("));
  EXPECT_THAT(text, HasSubstr("  images  float [?,3,8,8]"));
  EXPECT_THAT(text, HasSubstr("  labels  int32 unknown shape"));
  EXPECT_THAT(text, HasSubstr("  pc/FakeQuant  (FakeQuantWithMinMaxVarsPerChannel)"));
  EXPECT_THAT(text, HasSubstr("constant parameters: 114 in 5 Const nodes (456 bytes)"));
  EXPECT_THAT(text, HasSubstr("variables: 2 (2 parameters)"));
  EXPECT_THAT(text, HasSubstr("control edges: 1"));
  EXPECT_THAT(text, HasSubstr("data format: NCHW (NCHW 1)"));
  EXPECT_THAT(text, HasSubstr("fake quantization: 4 FakeQuant nodes"));
  EXPECT_THAT(text, HasSubstr("4-bit 1, 8-bit 3; narrow_range 1"));
  EXPECT_THAT(text, HasSubstr("conv/weights_quant/FakeQuantWithMinMaxVars  4-bit narrow  [-0.25, 0.75]"));
  EXPECT_THAT(text, HasSubstr("pc/FakeQuant  8-bit  2 channels within [-2, 3]"));
  EXPECT_THAT(text, Not(HasSubstr("LEGACY")));
  SummaryTextOptions few;
  few.max_fake_quant_lines = 1;
  EXPECT_THAT(SummaryToText(*s, few), HasSubstr("... and 3 more (all in --json)"));

  auto j = SummaryToJson(*s);
  EXPECT_EQ(j["num_nodes"], s->num_nodes);
  EXPECT_EQ(j["inputs"][0]["shape"], nlohmann::json({-1, 3, 8, 8}));
  EXPECT_TRUE(j["inputs"][1]["shape"].is_null());
  EXPECT_EQ(j["fake_quant"]["count"], 4);
  EXPECT_EQ(j["fake_quant"]["by_bits"]["4"], 1);
  EXPECT_EQ(j["fake_quant"]["nodes"][3]["min"], nlohmann::json({-1.0, -2.0}));
  EXPECT_EQ(j["op_histogram"][0]["op"], "Const");
  EXPECT_EQ(j["legacy_quantization"]["detected"], false);
  // Round trip through text: valid JSON.
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

TEST(SummaryTest, LegacyQuantizedGraphIsExplained) {
  auto g = testing_util::LegacyQuantizedGraph();
  ASSERT_TRUE(ValidateGraph(g).ok()) << ValidateGraph(g);
  auto s = SummarizeGraph(g);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->legacy.detected);
  EXPECT_EQ(s->legacy.kind, "quantize_nodes");
  EXPECT_EQ(s->legacy.ops.at("QuantizeV2"), 1);
  EXPECT_EQ(s->legacy.ops.at("QuantizedConv2D"), 1);
  EXPECT_EQ(s->legacy.ops.at("Requantize"), 1);
  EXPECT_EQ(s->legacy.ops.at("RequantizationRange"), 1);
  EXPECT_EQ(s->legacy.ops.at("Dequantize"), 1);
  EXPECT_THAT(s->legacy.explanation, HasSubstr("cannot convert"));
  EXPECT_THAT(s->legacy.explanation, HasSubstr("`tfqat rewrite` on the original float graph"));
  std::string text = SummaryToText(*s);
  EXPECT_THAT(text, HasSubstr("LEGACY QUANTIZED GRAPH (quantize_nodes: Dequantize 1, QuantizeV2 1, QuantizedConv2D 1, "
                              "RequantizationRange 1, Requantize 1)"));
  EXPECT_EQ(s->fake_quant.count, 0);
  EXPECT_EQ(s->outputs.size(), 1u);
  EXPECT_EQ(s->outputs[0].name, "conv");
}

TEST(SummaryTest, LegacyOpNames) {
  EXPECT_TRUE(IsLegacyQuantizedOp("QuantizedMatMul"));
  EXPECT_TRUE(IsLegacyQuantizedOp("QuantizeV2"));
  EXPECT_TRUE(IsLegacyQuantizedOp("QuantizeDownAndShrinkRange"));
  EXPECT_FALSE(IsLegacyQuantizedOp("FakeQuantWithMinMaxVars"));
  EXPECT_FALSE(IsLegacyQuantizedOp("QuantizeAndDequantizeV2"));
  EXPECT_FALSE(IsLegacyQuantizedOp("Conv2D"));
  EXPECT_TRUE(IsFakeQuantOp("FakeQuantWithMinMaxArgs"));
  EXPECT_FALSE(IsFakeQuantOp("FakeQuantWithMinMaxVarsGradient"));
}

TEST(SummaryTest, MlpHasNoDataFormatAndDanglingInputIsAnError) {
  GraphBuilder b;
  auto x = b.Placeholder("x", {1, 4});
  auto w = b.Const("w", HostTensor<float>{{4, 2}, std::vector<float>(8, 1.0f)});
  auto m = b.MatMul("m", x, w);
  auto bias = b.Const("bias", HostTensor<float>{{2}, {0, 0}});
  b.BiasAdd("b", m, bias);
  auto s = SummarizeGraph(b.Build());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->data_format, "none");
  EXPECT_THAT(SummaryToText(*s), HasSubstr("data format: none"));
  auto g = b.Build();
  g.mutable_node(2)->set_input(0, "nope");
  EXPECT_THAT(std::string(SummarizeGraph(g).status().message()), HasSubstr("node 'm' (MatMul): input 0 'nope'"));
}

}  // namespace
}  // namespace tfqat

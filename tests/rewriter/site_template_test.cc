// Site templates (rewriter/site_template.h): a recorded site replays to exactly the bytes the
// node encoder writes for the same nodes under another scope and input; sites that cannot be
// replayed are refused; and streamed rewrites that replay many sites (several shapes, per
// channel, depthwise, quant delay) give the graph the node-by-node form builds.
#include "rewriter/site_template.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/graph_builder.h"
#include "rewriter/rewrite.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

using rewriter_testing::Filled;

// A small site under `scope` quantizing `x`: a variable, its read, a FakeQuant of x and an
// update reading the global step (a literal).
struct SiteNodes {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> inputs;
  std::vector<std::string> ops;
};

SiteNodes MakeSite(const std::string& scope, const std::string& x) {
  SiteNodes s;
  s.names = {scope + "/min", scope + "/min/read", scope + "/FakeQuantWithMinMaxVars", scope + "/delayed_quant"};
  s.ops = {"VariableV2", "Identity", "FakeQuantWithMinMaxVars", "SelectV2"};
  s.inputs = {{}, {scope + "/min"}, {x, scope + "/min/read", scope + "/min/read"},
              {"global_step/read", scope + "/FakeQuantWithMinMaxVars", x}};
  return s;
}

const int64_t kShape[] = {4};
const AttrEntry kAttrs[][3] = {
    {AttrEntry::Type("dtype", tensorflow::DT_FLOAT), AttrEntry::Shape("shape", kShape),
     AttrEntry::String("container", "")},
    {AttrEntry::Type("T", tensorflow::DT_FLOAT)},
    {AttrEntry::Int("num_bits", 8), AttrEntry::Bool("narrow_range", false)},
    {AttrEntry::Type("T", tensorflow::DT_FLOAT)},
};
const int kNumAttrs[] = {3, 1, 2, 1};

NodeSpec Spec(const SiteNodes& s, int i, std::vector<absl::string_view>* inputs) {
  inputs->assign(s.inputs[i].begin(), s.inputs[i].end());
  return NodeSpec{s.names[i], s.ops[i], *inputs, absl::MakeConstSpan(kAttrs[i], kNumAttrs[i])};
}

// What the node encoder writes for the site's nodes, one record after another.
std::string Encoded(const SiteNodes& s) {
  SerializedGraph g;
  for (int i = 0; i < static_cast<int>(s.names.size()); ++i) {
    std::vector<absl::string_view> in;
    const NodeSpec spec = Spec(s, i, &in);
    const EncodedNodeRecord r(spec);
    const char* at = nullptr;
    r.Write(g.AppendRaw(r.size()), &at);
  }
  return g.ToString();
}

std::optional<SiteTemplate> Record(const std::string& scope, const std::string& x) {
  const SiteNodes s = MakeSite(scope, x);
  SiteRecorder rec(scope, x, {"global_step/read"});
  for (int i = 0; i < static_cast<int>(s.names.size()); ++i) {
    std::vector<absl::string_view> in;
    rec.AddNode(Spec(s, i, &in), s.names[i], s.names[i], /*in_scope=*/true);
  }
  rec.AddEffect(SiteEffect::Kind::kReported, scope + "/min");
  rec.AddEffect(SiteEffect::Kind::kFakeQuant, "");
  rec.AddEffect(SiteEffect::Kind::kUpdateOp, scope + "/delayed_quant");
  return rec.Finish(scope + "/delayed_quant");
}

TEST(SiteTemplateTest, ReplayWritesTheEncodersBytes) {
  const auto t = Record("a/act_quant", "a/Relu");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->num_nodes(), 4);
  EXPECT_EQ(t->output(), 3);
  ASSERT_EQ(t->effects().size(), 3u);
  EXPECT_EQ(t->effects()[0].kind, SiteEffect::Kind::kReported);
  EXPECT_EQ(t->effects()[0].node, 0);
  EXPECT_EQ(t->effects()[1].kind, SiteEffect::Kind::kFakeQuant);
  EXPECT_EQ(t->effects()[2].node, 3);
  // Other scopes and inputs, including lengths whose varints take more bytes (a name of 130
  // characters, a record of more than 16k bytes).
  const std::string long_scope = std::string(130, 's') + "/act_quant";
  const std::string huge_input(17000, 'x');
  for (const auto& [scope, x] : std::vector<std::pair<std::string, std::string>>{
           {"block7/unit_12/conv2/act_quant_3", "block7/unit_12/conv2/Relu6"},
           {long_scope, "in"},
           {"b", huge_input}}) {
    SerializedGraph out;
    out.Append("prefix");
    std::vector<absl::string_view> names;
    t->Replay(scope, x, &out, &names);
    const std::string bytes = out.ToString();
    EXPECT_EQ(bytes.substr(0, 6), "prefix");
    EXPECT_TRUE(bytes.substr(6) == Encoded(MakeSite(scope, x))) << scope;
    const SiteNodes want = MakeSite(scope, x);
    ASSERT_EQ(names.size(), want.names.size());
    for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], want.names[i]);
    tensorflow::GraphDef parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes.substr(6)));
    ASSERT_EQ(parsed.node_size(), 4);
    EXPECT_EQ(parsed.node(2).input(0), x);
    EXPECT_EQ(parsed.node(3).input(0), "global_step/read");
    EXPECT_EQ(parsed.node(0).attr().at("shape").shape().dim(0).size(), 4);
  }
}

TEST(SiteTemplateTest, RefusesSitesThatCannotBeReplayed) {
  const std::string scope = "a/act_quant";
  const SiteNodes s = MakeSite(scope, "a/Relu");
  std::vector<absl::string_view> in;
  {  // a node was renamed (its asked name was taken)
    SiteRecorder rec(scope, "a/Relu", {"global_step/read"});
    rec.AddNode(Spec(s, 0, &in), s.names[0] + "_x", s.names[0], true);
    EXPECT_FALSE(rec.Finish(s.names[0]).has_value());
  }
  {  // a node outside the open scope (e.g. the step counter created by the first site)
    SiteRecorder rec(scope, "a/Relu", {"global_step/read"});
    rec.AddNode(Spec(s, 0, &in), s.names[0], s.names[0], /*in_scope=*/false);
    EXPECT_FALSE(rec.Finish(s.names[0]).has_value());
  }
  {  // an input that is neither under the scope, the site's input nor a literal
    SiteRecorder rec(scope, "a/Relu", {});
    for (int i = 0; i < 4; ++i) rec.AddNode(Spec(s, i, &in), s.names[i], s.names[i], true);
    EXPECT_FALSE(rec.Finish(s.names[3]).has_value());  // "global_step/read" is not a literal here
  }
  {  // the output is not one of the site's nodes
    SiteRecorder rec(scope, "a/Relu", {"global_step/read"});
    for (int i = 0; i < 4; ++i) rec.AddNode(Spec(s, i, &in), s.names[i], s.names[i], true);
    EXPECT_FALSE(rec.Finish("a/Relu").has_value());
  }
  {  // an effect on a node the site did not emit
    SiteRecorder rec(scope, "a/Relu", {"global_step/read"});
    for (int i = 0; i < 4; ++i) rec.AddNode(Spec(s, i, &in), s.names[i], s.names[i], true);
    rec.AddEffect(SiteEffect::Kind::kReported, "elsewhere");
    EXPECT_FALSE(rec.Finish(s.names[3]).has_value());
  }
  {  // an empty site
    SiteRecorder rec(scope, "a/Relu", {});
    EXPECT_FALSE(rec.Finish("").has_value());
  }
}

// Depthwise and regular conv layers of several shapes: in train mode with per-channel ranges
// each shape has its own weight template (its depthwise reshapes and channel count).
tensorflow::GraphDef MixedShapes() {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  int cin = 3;
  for (int i = 0; i < 9; ++i) {
    const std::string p = absl::StrCat("l", i);
    if (i % 3 == 2) {
      const std::string w = g.Const(p + "/depthwise_weights", Filled({3, 3, cin, 1}, 0.3f, i + 1));
      const std::string c = g.DepthwiseConv2dNative(p + "/depthwise", x, w, 1, "SAME");
      x = g.Unary("Relu6", p + "/Relu6", c);
    } else {
      const int cout = 2 + i % 4;
      x = rewriter_testing::ConvBiasRelu(g, p, x, cin, cout, i + 1);
      cin = cout;
    }
  }
  return g.Build();
}

void ExpectStreamedEqualsNodeByNode(const tensorflow::GraphDef& input, const RewriteOptions& o,
                                    const std::string& what) {
  auto ref = Rewrite(input, o);
  ASSERT_TRUE(ref.ok()) << ref.status();
  SerializedGraph bytes;
  auto streamed = RewriteSerialized(input, o, &bytes);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  tensorflow::GraphDef parsed;
  ASSERT_TRUE(bytes.ParseTo(&parsed));
  ASSERT_EQ(parsed.node_size(), ref->graph.node_size()) << what;
  std::map<std::string, const tensorflow::NodeDef*> want;
  for (const auto& n : ref->graph.node()) want[n.name()] = &n;
  for (const auto& n : parsed.node()) {
    auto it = want.find(n.name());
    ASSERT_NE(it, want.end()) << what << ": unexpected " << n.name();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*it->second, n)) << what << ": " << n.name();
  }
  // The same report: inserted nodes per layer, in order, and the same counts.
  ASSERT_EQ(streamed->quantize.layers.size(), ref->quantize.layers.size());
  for (size_t i = 0; i < ref->quantize.layers.size(); ++i) {
    EXPECT_EQ(streamed->quantize.layers[i].inserted, ref->quantize.layers[i].inserted) << what << " layer " << i;
  }
  EXPECT_EQ(streamed->quantize.fake_quant_inserted, ref->quantize.fake_quant_inserted) << what;
  EXPECT_EQ(streamed->quantize.nodes_added, ref->quantize.nodes_added) << what;
}

TEST(SiteTemplateTest, StreamedRewritesReplaySitesExactly) {
  for (bool per_channel : {false, true}) {
    for (int delay : {0, 50}) {
      RewriteOptions o;
      o.quantize.mode = QuantizeOptions::Mode::kTrain;
      o.quantize.per_channel = per_channel;
      o.quantize.quant_delay = delay;
      o.quantize.quantize_inputs = delay > 0;
      ExpectStreamedEqualsNodeByNode(MixedShapes(), o,
                                     absl::StrCat("per_channel=", per_channel, " delay=", delay));
    }
  }
  RewriteOptions eval;
  eval.quantize.mode = QuantizeOptions::Mode::kEval;
  ExpectStreamedEqualsNodeByNode(MixedShapes(), eval, "eval");
}

}  // namespace
}  // namespace tfqat

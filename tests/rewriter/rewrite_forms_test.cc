// The three forms of the rewrite pipeline produce the same graph: Rewrite (a new GraphDef),
// RewriteInPlace (also on a protobuf Arena) and RewriteSerialized (emitted nodes streamed
// as bytes, then the input's nodes). Compared node by node, by name, on graphs that exercise
// every edit of an input node: folded batch norms, concat ties, shared weights, quant delay,
// quantized inputs, an existing update group, an exclusion.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/bench_graphs.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "graph/graph_io.h"
#include "rewriter/rewrite.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

using rewriter_testing::ConvBiasRelu;
using rewriter_testing::Filled;

// Concat of two layers and a pool, shared weights, an existing NoOp update group.
tensorflow::GraphDef EditHeavyGraph() {
  GraphBuilder g;
  std::string x = g.Placeholder("input", {1, 8, 8, 3});
  std::string a = ConvBiasRelu(g, "a", x, 3, 2, 1);
  std::string b = ConvBiasRelu(g, "b", x, 3, 2, 2);
  std::string pool = g.Pool("MaxPool", "pool", x, 1, 1, "SAME");
  std::string cat = g.ConcatV2("cat", {a, b, pool}, 3);
  std::string w = g.Const("shared/w", Filled({1, 1, 7, 7}));
  std::string c1 = g.Conv2D("l1/Conv2D", cat, w, 1, "SAME");
  std::string r1 = g.Unary("Relu", "l1/Relu", c1);
  std::string c2 = g.Conv2D("l2/Conv2D", r1, w, 1, "SAME");
  g.Unary("Relu", "l2/Relu", c2);
  tensorflow::GraphDef gd = g.Build();
  auto* noop = gd.add_node();
  noop->set_name("tfqat/update_ops");
  noop->set_op("NoOp");
  gd.mutable_versions()->set_producer(1234);
  return gd;
}

absl::flat_hash_map<std::string, const tensorflow::NodeDef*> ByName(const tensorflow::GraphDef& g) {
  absl::flat_hash_map<std::string, const tensorflow::NodeDef*> m;
  for (const auto& n : g.node()) m[n.name()] = &n;
  return m;
}

void ExpectSameGraph(const tensorflow::GraphDef& want, const tensorflow::GraphDef& got, const std::string& what) {
  ASSERT_EQ(want.node_size(), got.node_size()) << what;
  auto w = ByName(want);
  auto g = ByName(got);
  ASSERT_EQ(w.size(), static_cast<size_t>(want.node_size())) << what << ": duplicate names";
  for (const auto& [name, n] : w) {
    auto it = g.find(name);
    ASSERT_NE(it, g.end()) << what << ": missing " << name;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*n, *it->second))
        << what << ": node " << name << " differs:\n" << n->DebugString() << "vs\n" << it->second->DebugString();
  }
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(want.versions(), got.versions())) << what;
}

void CheckForms(const tensorflow::GraphDef& input, const RewriteOptions& o, const std::string& what) {
  auto ref = Rewrite(input, o);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_TRUE(ref->quantize.changed) << what;

  tensorflow::GraphDef heap = input;
  auto in_place = RewriteInPlace(&heap, o);
  ASSERT_TRUE(in_place.ok()) << in_place.status();
  ExpectSameGraph(ref->graph, heap, what + " in place");
  EXPECT_EQ(in_place->output_nodes, ref->output_nodes);

  google::protobuf::Arena arena(GraphArenaOptions(input.ByteSizeLong()));
  auto* on_arena = google::protobuf::Arena::CreateMessage<tensorflow::GraphDef>(&arena);
  *on_arena = input;
  auto arena_r = RewriteInPlace(on_arena, o);
  ASSERT_TRUE(arena_r.ok()) << arena_r.status();
  ExpectSameGraph(ref->graph, *on_arena, what + " on an arena");

  SerializedGraph bytes;
  auto streamed = RewriteSerialized(input, o, &bytes);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_EQ(streamed->output_nodes, ref->output_nodes) << what;
  EXPECT_EQ(streamed->quantize.nodes_added, ref->quantize.nodes_added) << what;
  EXPECT_EQ(streamed->folded.size(), ref->folded.size()) << what;
  tensorflow::GraphDef parsed;
  ASSERT_TRUE(bytes.ParseTo(&parsed)) << what;
  EXPECT_EQ(bytes.size(), bytes.ToString().size());
  ExpectSameGraph(ref->graph, parsed, what + " serialized");
  // Emitted nodes come first, then the nodes of the graph that was quantized (the folded one).
  const int quantized_nodes = ref->output_nodes - ref->quantize.nodes_added;
  EXPECT_EQ(parsed.node(parsed.node_size() - 1).name(), ref->graph.node(quantized_nodes - 1).name()) << what;
  EXPECT_EQ(parsed.node(0).name(), ref->graph.node(quantized_nodes).name()) << what;

  // Deterministic (as `tfqat rewrite` writes binary outputs): the same graph, and exactly the
  // bytes SaveGraphDef writes for it (attributes in key order), on every run.
  SerializedGraph det;
  det.set_deterministic(true);
  auto det_r = RewriteSerialized(input, o, &det);
  ASSERT_TRUE(det_r.ok()) << det_r.status();
  tensorflow::GraphDef det_parsed;
  ASSERT_TRUE(det.ParseTo(&det_parsed)) << what;
  ExpectSameGraph(ref->graph, det_parsed, what + " serialized deterministically");
  auto canonical = SerializeGraphDef(det_parsed, GraphFormat::kBinary);
  ASSERT_TRUE(canonical.ok()) << canonical.status();
  EXPECT_TRUE(*canonical == det.ToString()) << what << ": not the deterministic encoding";
  SerializedGraph again;
  again.set_deterministic(true);
  ASSERT_TRUE(RewriteSerialized(input, o, &again).ok());
  EXPECT_TRUE(again.ToString() == det.ToString()) << what;
}

TEST(RewriteFormsTest, SameGraphInEveryForm) {
  for (bool train : {true, false}) {
    const std::string mode = train ? "train" : "eval";
    RewriteOptions o;
    o.quantize.mode = train ? QuantizeOptions::Mode::kTrain : QuantizeOptions::Mode::kEval;
    CheckForms(bench::ResNet50Like(), o, "resnet " + mode);
    CheckForms(bench::LayerChain(200), o, "chain " + mode);
    CheckForms(EditHeavyGraph(), o, "edits " + mode);
    RewriteOptions more = o;
    more.quantize.quant_delay = 100;
    more.quantize.quantize_inputs = true;
    more.quantize.per_channel = true;
    more.quantize.exclude = {"b"};
    CheckForms(EditHeavyGraph(), more, "edits+options " + mode);
  }
}

TEST(RewriteFormsTest, SerializedGraphChunksAndNameStore) {
  SerializedGraph s;
  tensorflow::NodeDef n;
  n.set_name(std::string(3000, 'x'));
  n.set_op("NoOp");
  for (int i = 0; i < 10000; ++i) s.AppendNode(n);  // ~30 MB: more than one chunk
  EXPECT_GT(s.pieces().size(), 1u);
  tensorflow::GraphDef g;
  ASSERT_TRUE(s.ParseTo(&g));
  EXPECT_EQ(g.node_size(), 10000);
  EXPECT_EQ(g.node(9999).name(), n.name());

  NameStore names;
  std::vector<absl::string_view> views;
  for (int i = 0; i < 100000; ++i) views.push_back(names.Intern(absl::StrCat("node_", i)));  // > 1 chunk
  views.push_back(names.Intern(std::string(3 << 20, 'y')));                                // its own chunk
  views.push_back(names.Intern("after"));
  for (int i = 0; i < 100000; ++i) ASSERT_EQ(views[i], absl::StrCat("node_", i));
  EXPECT_EQ(views[100000].size(), size_t{3} << 20);
  EXPECT_EQ(views[100001], "after");
}

}  // namespace
}  // namespace tfqat

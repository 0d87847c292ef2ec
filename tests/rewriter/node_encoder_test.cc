// rewriter/node_encoder.h: the bytes written straight from a node description are exactly
// protobuf's deterministic encoding of the NodeDef the same description builds, for every
// attribute kind; and RewriteSerialized (which encodes emitted nodes that way) writes exactly
// the deterministic encoding of Rewrite's graph (NodeDef path), emitted nodes first, for the
// option sets that change what is emitted.
#include "rewriter/node_encoder.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_graphs.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "rewriter/rewrite.h"

namespace tfqat {
namespace {

// Protobuf's deterministic encoding of `g` (attributes by key).
std::string DeterministicBytes(const tensorflow::GraphDef& g) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  g.ByteSizeLong();  // caches the sizes SerializeWithCachedSizes writes
  g.SerializeWithCachedSizes(&coded);
  coded.Trim();
  return out;
}

// The GraphDef.node record protobuf writes for `node`.
std::string ProtobufRecord(const tensorflow::NodeDef& node) {
  tensorflow::GraphDef g;
  *g.add_node() = node;
  return DeterministicBytes(g);
}

std::string Encoded(const NodeSpec& spec, absl::string_view* name_out) {
  EncodedNodeRecord record(spec);
  std::string bytes(record.size(), '\0');
  const char* name_at = nullptr;
  uint8_t* end = record.Write(reinterpret_cast<uint8_t*>(&bytes[0]), &name_at);
  EXPECT_EQ(end, reinterpret_cast<uint8_t*>(&bytes[0]) + bytes.size()) << spec.name << ": size() and Write differ";
  *name_out = absl::string_view(name_at, spec.name.size());
  return bytes;
}

void ExpectSameEncoding(const NodeSpec& spec) {
  tensorflow::NodeDef node;
  FillNodeDef(spec, &node);
  absl::string_view name;
  const std::string direct = Encoded(spec, &name);
  EXPECT_EQ(name, spec.name);
  EXPECT_TRUE(direct == ProtobufRecord(node)) << spec.name << ": encoding differs from protobuf's for\n"
                                              << node.DebugString();
  // And it parses back to the same node.
  tensorflow::GraphDef parsed;
  ASSERT_TRUE(parsed.ParseFromString(direct)) << spec.name;
  ASSERT_EQ(parsed.node_size(), 1);
  EXPECT_EQ(parsed.node(0).DebugString(), node.DebugString());
}

TEST(NodeEncoderTest, EveryAttributeKindMatchesProtobuf) {
  const std::vector<absl::string_view> inputs = {"x", "scope/w:1", "^ctrl"};
  const std::vector<int64_t> dims = {3, 0, -1, int64_t{1} << 40};
  const std::vector<int64_t> no_dims;
  const std::vector<float> floats = {0.f, -6.f, 1e-30f, 3.5f};
  const std::vector<int32_t> ints = {0, -1, 7, 1 << 30};
  const std::string content(12, '\x7f');

  TensorValue scalar;  // present, empty shape; one float
  scalar.dtype = tensorflow::DT_FLOAT;
  scalar.has_shape = true;
  scalar.float_val = absl::MakeConstSpan(floats.data() + 1, 1);
  TensorValue no_shape;  // shape absent
  no_shape.dtype = tensorflow::DT_FLOAT;
  no_shape.float_val = floats;
  TensorValue int_vals;
  int_vals.dtype = tensorflow::DT_INT32;
  int_vals.has_shape = true;
  int_vals.dims = absl::MakeConstSpan(dims.data(), 1);
  int_vals.int_val = ints;
  TensorValue packed;
  packed.dtype = tensorflow::DT_INT64;
  packed.has_shape = true;
  packed.dims = dims;
  packed.content = content;
  TensorValue empty;  // DT_INVALID, nothing set

  const std::vector<AttrEntry> attrs = {
      AttrEntry::Type("dtype", tensorflow::DT_INT64), AttrEntry::Bool("validate_shape", true),
      AttrEntry::Bool("use_locking", false), AttrEntry::Int("num_bits", 8), AttrEntry::Int("neg", -3),
      AttrEntry::String("container", ""), AttrEntry::String("shared_name", "a/b"),
      AttrEntry::Shape("shape", dims)};
  ExpectSameEncoding({"many/attrs", "VariableV2", inputs, attrs});
  ExpectSameEncoding({"scalar_shape", "VariableV2", {}, {AttrEntry::Shape("shape", no_dims)}});
  for (const TensorValue* t : {&scalar, &no_shape, &int_vals, &packed, &empty}) {
    ExpectSameEncoding({"c/Const", "Const", {}, {AttrEntry::Tensor("value", t), AttrEntry::Type("dtype", t->dtype)}});
  }
  // Keys given out of order are written in key order (protobuf's deterministic map order).
  ExpectSameEncoding({"order", "Min", inputs,
                      {AttrEntry::Type("T", tensorflow::DT_FLOAT), AttrEntry::Bool("keep_dims", false),
                       AttrEntry::Type("Tidx", tensorflow::DT_INT32)}});
  // A name longer than 127 bytes (two-byte length) and a node longer than 16 KiB.
  const std::string long_name(300, 'n');
  std::vector<std::string> many(2000, std::string(20, 'i'));
  std::vector<absl::string_view> many_views(many.begin(), many.end());
  ExpectSameEncoding({long_name, "NoOp", many_views, {}});
}

// Rewrite's graph (NodeDef path) in RewriteSerialized's order: emitted nodes, then the rest.
std::string ReorderedCanonical(const RewriteResult& r) {
  tensorflow::GraphDef g;
  const int quantized_nodes = r.output_nodes - r.quantize.nodes_added;
  for (int i = quantized_nodes; i < r.graph.node_size(); ++i) *g.add_node() = r.graph.node(i);
  for (int i = 0; i < quantized_nodes; ++i) *g.add_node() = r.graph.node(i);
  if (r.graph.has_versions()) *g.mutable_versions() = r.graph.versions();
  if (r.graph.has_library()) *g.mutable_library() = r.graph.library();
  g.set_version(r.graph.version());
  return DeterministicBytes(g);
}

// A chain whose input already holds names under the scopes the rewrite would pick, so that
// both the fresh-scope names and the checked-one-by-one names are exercised.
tensorflow::GraphDef CollidingChain() {
  tensorflow::GraphDef g = bench::LayerChain(60);
  for (const char* n : {"block0/conv/weights_quant/min", "block1/conv/act_quant", "block2/conv/weights_quant/max",
                        "block2/conv/weights_quant_1/FakeQuantWithMinMaxVars", "block3/conv/act_quant/max/read",
                        "block4/conv/act_quant/min/biased", "block5/conv/weights_quant/BatchMin", "global_step/read"}) {
    auto* c = g.add_node();
    c->set_name(n);
    c->set_op("NoOp");
  }
  return g;
}

TEST(NodeEncoderTest, SerializedRewriteIsTheNodeDefPathsEncoding) {
  struct Case {
    std::string what;
    void (*set)(RewriteOptions*);
  };
  const std::vector<Case> cases = {
      {"defaults", [](RewriteOptions*) {}},
      {"per-channel", [](RewriteOptions* o) { o->quantize.per_channel = true; }},
      {"symmetric, wide range, 4/6 bits",
       [](RewriteOptions* o) {
         o->quantize.symmetric = true;
         o->quantize.narrow_range_weights = false;
         o->quantize.weight_bits = 4;
         o->quantize.activation_bits = 6;
       }},
      {"quant delay, inputs, ema decay",
       [](RewriteOptions* o) {
         o->quantize.quant_delay = 250;
         o->quantize.quantize_inputs = true;
         o->quantize.ema_decay = 0.99f;
       }},
  };
  const std::vector<std::pair<std::string, tensorflow::GraphDef>> graphs = {
      {"resnet", bench::ResNet50Like()}, {"colliding chain", CollidingChain()}};
  for (bool train : {false, true}) {
    for (const Case& c : cases) {
      for (const auto& [gname, graph] : graphs) {
        const std::string what = absl::StrCat(gname, " ", train ? "train" : "eval", " ", c.what);
        RewriteOptions o;
        o.quantize.mode = train ? QuantizeOptions::Mode::kTrain : QuantizeOptions::Mode::kEval;
        c.set(&o);
        auto ref = Rewrite(graph, o);
        ASSERT_TRUE(ref.ok()) << what << ": " << ref.status();
        ASSERT_GT(ref->quantize.nodes_added, 0) << what;
        SerializedGraph bytes;
        bytes.set_deterministic(true);
        auto streamed = RewriteSerialized(graph, o, &bytes);
        ASSERT_TRUE(streamed.ok()) << what << ": " << streamed.status();
        const std::string want = ReorderedCanonical(*ref);
        const std::string got = bytes.ToString();
        EXPECT_EQ(got.size(), want.size()) << what;
        EXPECT_TRUE(got == want) << what << ": streamed bytes differ from the NodeDef path's encoding";
      }
    }
  }
}

TEST(NodeEncoderTest, NamesStayUniqueWhenTheInputHoldsTheScopes) {
  RewriteOptions o;
  o.quantize.mode = QuantizeOptions::Mode::kTrain;
  o.quantize.quant_delay = 10;
  SerializedGraph bytes;
  auto r = RewriteSerialized(CollidingChain(), o, &bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  tensorflow::GraphDef parsed;
  ASSERT_TRUE(bytes.ParseTo(&parsed));
  absl::flat_hash_set<std::string> names;
  for (const auto& n : parsed.node()) EXPECT_TRUE(names.insert(n.name()).second) << "duplicate " << n.name();
  // The taken scopes moved to the next free one; the input's nodes are kept as they were.
  EXPECT_TRUE(names.contains("block0/conv/weights_quant_1/FakeQuantWithMinMaxVars"));
  EXPECT_TRUE(names.contains("block2/conv/weights_quant/FakeQuantWithMinMaxVars"));
  EXPECT_TRUE(names.contains("block2/conv/weights_quant/max_1"));
  // A scope whose other names are taken keeps its name; only the taken node is renamed.
  EXPECT_TRUE(names.contains("block5/conv/weights_quant/FakeQuantWithMinMaxVars"));
  EXPECT_TRUE(names.contains("block5/conv/weights_quant/BatchMin_1"));
  // The step counter is created; its read moves past the input's node of that name.
  EXPECT_TRUE(names.contains("global_step"));
  EXPECT_TRUE(names.contains("global_step/read_1"));
}

}  // namespace
}  // namespace tfqat

namespace tfqat {
namespace {

// Spilled to a file as it is made (what `tfqat rewrite` does): the same bytes, with the
// name checks reading spilled chunks back (a chain over several 16 MiB chunks whose input
// holds names under the scopes, late in the graph).
TEST(NodeEncoderTest, SpilledToAFileGivesTheSameBytes) {
  tensorflow::GraphDef g = bench::LayerChain(30000);
  for (const char* n : {"block2900/conv/weights_quant/min", "block2950/conv/act_quant/max/read"}) {
    auto* c = g.add_node();
    c->set_name(n);
    c->set_op("NoOp");
  }
  RewriteOptions o;
  o.quantize.mode = QuantizeOptions::Mode::kTrain;
  o.quantize.quant_delay = 5;
  SerializedGraph memory;
  memory.set_deterministic(true);
  ASSERT_TRUE(RewriteSerialized(g, o, &memory).ok());
  ASSERT_GT(memory.pieces().size(), 2u);

  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  SerializedGraph spilled;
  spilled.set_deterministic(true);
  spilled.SpillTo(fileno(f));
  auto r = RewriteSerialized(g, o, &spilled);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LE(spilled.pieces().size(), 1u) << "full chunks should have left memory";
  ASSERT_EQ(spilled.FinishSpill(), 0);
  EXPECT_TRUE(spilled.pieces().empty());
  std::string file(spilled.size(), '\0');
  ASSERT_EQ(std::fseek(f, 0, SEEK_SET), 0);
  ASSERT_EQ(std::fread(&file[0], 1, file.size(), f), file.size());
  std::fclose(f);
  EXPECT_EQ(file.size(), memory.size());
  EXPECT_TRUE(file == memory.ToString()) << "spilled bytes differ";
}

// AnyNodeName reads spilled chunks back from the file.
TEST(NodeEncoderTest, SpilledChunksAreReadBackForNameScans) {
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  SerializedGraph s;
  s.SpillTo(fileno(f));
  tensorflow::NodeDef n;
  n.set_op("NoOp");
  const size_t first = s.size();
  for (int i = 0; i < 40000; ++i) {  // ~40 MB: three chunks
    n.set_name(absl::StrCat("node_", i, "/", std::string(1000, 'x')));
    s.AppendNode(n);
  }
  s.SpillFullChunks();
  EXPECT_EQ(s.pieces().size(), 1u);
  int seen = 0;
  EXPECT_FALSE(s.AnyNodeName(first, s.size(), [&](absl::string_view name) {
    ++seen;
    return false;
  }));
  EXPECT_EQ(seen, 40000);
  EXPECT_TRUE(s.AnyNodeName(first, s.size(), [](absl::string_view name) {
    return absl::StartsWith(name, "node_123/");  // in the first, spilled chunk
  }));
  ASSERT_EQ(s.FinishSpill(), 0);
  std::fclose(f);
}

// Spilled chunks are written on a helper thread: a failing write is reported by FinishSpill,
// and the owner may close its descriptor while chunks are still queued (the writer has its own).
TEST(NodeEncoderTest, SpillErrorsAndEarlyClose) {
  tensorflow::NodeDef n;
  n.set_op("NoOp");
  auto fill = [&](SerializedGraph* s) {
    for (int i = 0; i < 40000; ++i) {  // ~40 MB: three chunks
      n.set_name(absl::StrCat("node_", i, "/", std::string(1000, 'x')));
      s->AppendNode(n);
    }
    s->SpillFullChunks();
  };
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    SerializedGraph s;
    s.SpillTo(fds[1]);  // pwrite on a pipe fails (ESPIPE)
    fill(&s);
    EXPECT_EQ(s.FinishSpill(), ESPIPE);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    SerializedGraph s;
    s.SpillTo(fileno(f));
    fill(&s);
    std::fclose(f);  // as `tfqat rewrite` does on a failed rewrite; s is destroyed afterwards
  }
}

}  // namespace
}  // namespace tfqat

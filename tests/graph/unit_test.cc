// Unit tests of the graph library: input-string parsing, attributes, tensors, validation,
// MutableGraph, .npy files and large-graph I/O.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/arena.h"
#include "graph/attrs.h"
#include "graph/graph_builder.h"
#include "graph/graph_io.h"
#include "graph/graph_view.h"
#include "graph/mutable_graph.h"
#include "graph/npy.h"
#include "graph/tensor.h"
#include "graph/tensor_ref.h"
#include "graph/validate.h"
#include "gtest/gtest.h"
#include "tests/graph/test_util.h"

namespace tfqat {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

MATCHER_P2(StatusIs, code, substr, "") {
  return arg.code() == code && std::string(arg.message()).find(substr) != std::string::npos;
}

// ---------------------------------------------------------------- tensor_ref
TEST(TensorRefTest, ParsesNamePortAndControl) {
  EXPECT_EQ(*ParseTensorRef("conv1/Conv2D"), (TensorRef{"conv1/Conv2D", 0, false}));
  EXPECT_EQ(*ParseTensorRef("split:2"), (TensorRef{"split", 2, false}));
  EXPECT_EQ(*ParseTensorRef("^init"), (TensorRef{"init", 0, true}));
  EXPECT_EQ(*ParseTensorRef("a:b:10"), (TensorRef{"a:b", 10, false}));
  // TensorFlow's rule: only digits after the last ':' form a port.
  EXPECT_EQ(ParseTensorRef("a:x")->node, "a:x");
  EXPECT_EQ(ParseTensorRef("a:-1")->node, "a:-1");
  EXPECT_EQ(ParseTensorRef("a:+1")->node, "a:+1");
  EXPECT_EQ(ParseTensorRef("a: 1")->node, "a: 1");
  EXPECT_EQ(ParseTensorRef("a:")->node, "a:");
  EXPECT_EQ(ParseTensorRef("a:99999999999")->node, "a:99999999999");
  EXPECT_EQ(*ParseTensorRef("^a:1"), (TensorRef{"a", 0, true}));
}

TEST(TensorRefTest, RejectsEmptyNames) {
  EXPECT_THAT(ParseTensorRef("").status(), StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
  EXPECT_THAT(ParseTensorRef("^").status(), StatusIs(absl::StatusCode::kInvalidArgument, "empty"));
  EXPECT_THAT(ParseTensorRef(":1").status(), StatusIs(absl::StatusCode::kInvalidArgument, "no node name"));
}

TEST(TensorRefTest, ToStringRoundTripsAndNodeNameOfAgrees) {
  for (const char* s : {"x", "x:1", "^x", "a/b:12", "a:b", "a:-1"}) {
    auto ref = ParseTensorRef(s);
    ASSERT_TRUE(ref.ok()) << s;
    EXPECT_EQ(ref->ToString(), s);
    EXPECT_EQ(NodeNameOf(s), ref->node) << s;
  }
}

// ---------------------------------------------------------------- attrs
tensorflow::NodeDef ConvNode() {
  tensorflow::NodeDef n;
  n.set_name("conv1/Conv2D");
  n.set_op("Conv2D");
  SetAttr(&n, "strides", std::vector<int64_t>{1, 2, 2, 1});
  SetAttr(&n, "padding", "SAME");
  SetAttr(&n, "T", tensorflow::DT_FLOAT);
  SetAttr(&n, "use_cudnn_on_gpu", true);
  SetAttr(&n, "epsilon", 0.5f);
  SetAttr(&n, "num_bits", int64_t{8});
  SetAttr(&n, "empty", std::vector<int64_t>{});
  return n;
}

TEST(AttrsTest, TypedGetters) {
  auto n = ConvNode();
  EXPECT_THAT(*GetAttr<std::vector<int64_t>>(n, "strides"), ElementsAre(1, 2, 2, 1));
  EXPECT_THAT(*GetAttr<std::vector<int>>(n, "strides"), ElementsAre(1, 2, 2, 1));
  EXPECT_EQ(*GetAttr<std::string>(n, "padding"), "SAME");
  EXPECT_EQ(*GetAttr<tensorflow::DataType>(n, "T"), tensorflow::DT_FLOAT);
  EXPECT_TRUE(*GetAttr<bool>(n, "use_cudnn_on_gpu"));
  EXPECT_FLOAT_EQ(*GetAttr<float>(n, "epsilon"), 0.5f);
  EXPECT_EQ(*GetAttr<int64_t>(n, "num_bits"), 8);
  EXPECT_EQ(*GetAttr<int>(n, "num_bits"), 8);
  // An empty list is acceptable for any list type.
  EXPECT_TRUE(GetAttr<std::vector<float>>(n, "empty")->empty());
  EXPECT_TRUE(GetAttr<std::vector<std::string>>(n, "empty")->empty());
  EXPECT_EQ(*GetAttrOr<int>(n, "missing", 7), 7);
  EXPECT_TRUE(HasAttr(n, "padding"));
  EXPECT_FALSE(HasAttr(n, "missing"));
}

TEST(AttrsTest, WrongTypeAndMissingNameNodeOpAndAttr) {
  auto n = ConvNode();
  EXPECT_THAT(GetAttr<int64_t>(n, "padding").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node 'conv1/Conv2D' (Conv2D): attribute 'padding' must be int, got string"));
  EXPECT_THAT(GetAttr<std::string>(n, "strides").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "must be string, got list(int)"));
  EXPECT_THAT(GetAttr<std::vector<float>>(n, "strides").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "must be list(float), got list(int)"));
  EXPECT_THAT(GetAttr<float>(n, "num_bits").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "must be float, got int"));
  EXPECT_THAT(GetAttr<bool>(n, "T").status(), StatusIs(absl::StatusCode::kInvalidArgument, "got type"));
  EXPECT_THAT(GetAttr<float>(n, "alpha").status(),
              StatusIs(absl::StatusCode::kNotFound, "node 'conv1/Conv2D' (Conv2D): missing attribute 'alpha'"));
  // GetAttrOr: a present attribute of the wrong kind is still an error.
  EXPECT_FALSE(GetAttrOr<int>(n, "padding", 3).ok());
}

// ---------------------------------------------------------------- tensors
tensorflow::TensorProto FloatProto(std::vector<int64_t> shape) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_FLOAT);
  *p.mutable_tensor_shape() = ShapeToProto(shape);
  return p;
}

TEST(TensorTest, DecodesTensorContent) {
  auto p = FloatProto({2, 2});
  float v[4] = {1.5f, -2.0f, 3.25f, 0.0f};
  p.set_tensor_content(std::string(reinterpret_cast<const char*>(v), sizeof(v)));
  auto t = DecodeTensor<float>(p, "t");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->shape, ElementsAre(2, 2));
  EXPECT_THAT(t->values, ElementsAre(1.5f, -2.0f, 3.25f, 0.0f));
  auto d = DecodeTensor<double>(p, "t");
  EXPECT_DOUBLE_EQ(d->values[2], 3.25);
}

TEST(TensorTest, DecodesFloatValAndScalarBroadcast) {
  auto p = FloatProto({2, 3});
  p.add_float_val(4.0f);  // one value fills the whole tensor
  EXPECT_THAT(DecodeTensor<float>(p, "t")->values, ElementsAre(4, 4, 4, 4, 4, 4));
  p.add_float_val(5.0f);  // a short list repeats its last value
  EXPECT_THAT(DecodeTensor<float>(p, "t")->values, ElementsAre(4, 5, 5, 5, 5, 5));
  auto empty = FloatProto({3});
  EXPECT_THAT(DecodeTensor<float>(empty, "t")->values, ElementsAre(0, 0, 0));
  auto scalar = FloatProto({});
  scalar.add_float_val(-1.0f);
  auto s = DecodeTensor<float>(scalar, "t");
  EXPECT_TRUE(s->shape.empty());
  EXPECT_THAT(s->values, ElementsAre(-1.0f));
}

TEST(TensorTest, DecodesIntegerAndHalfTypes) {
  tensorflow::TensorProto p;
  p.set_dtype(tensorflow::DT_INT32);
  *p.mutable_tensor_shape() = ShapeToProto({3});
  p.add_int_val(-7);
  p.add_int_val(9);
  EXPECT_THAT(DecodeTensor<int32_t>(p, "t")->values, ElementsAre(-7, 9, 9));
  EXPECT_THAT(DecodeTensor<float>(p, "t")->values, ElementsAre(-7.f, 9.f, 9.f));
  tensorflow::TensorProto q;
  q.set_dtype(tensorflow::DT_QUINT8);
  *q.mutable_tensor_shape() = ShapeToProto({2});
  q.set_tensor_content(std::string("\x01\xff", 2));
  EXPECT_THAT(DecodeTensor<int32_t>(q, "t")->values, ElementsAre(1, 255));
  tensorflow::TensorProto h;
  h.set_dtype(tensorflow::DT_HALF);
  *h.mutable_tensor_shape() = ShapeToProto({2});
  h.add_half_val(0x3c00);  // 1.0
  h.add_half_val(0xc000);  // -2.0
  EXPECT_THAT(DecodeTensor<float>(h, "t")->values, ElementsAre(1.0f, -2.0f));
  tensorflow::TensorProto b;
  b.set_dtype(tensorflow::DT_BFLOAT16);
  *b.mutable_tensor_shape() = ShapeToProto({1});
  b.add_half_val(0x4040);  // 3.0
  EXPECT_THAT(DecodeTensor<float>(b, "t")->values, ElementsAre(3.0f));
}

TEST(TensorTest, FloatToIntegerSaturatesInsteadOfOverflowing) {
  auto p = FloatProto({3});
  p.add_float_val(1e30f);
  p.add_float_val(-1e30f);
  p.add_float_val(std::nanf(""));
  auto t = DecodeTensor<int8_t>(p, "t");
  ASSERT_TRUE(t.ok());
  EXPECT_THAT(t->values, ElementsAre(127, -128, 0));
}

TEST(TensorTest, ShortOrLongBuffersAreErrorsNamingTheContext) {
  auto p = FloatProto({2, 3});
  p.set_tensor_content(std::string(20, '\0'));  // 5 floats for 6 elements
  EXPECT_THAT(DecodeTensor<float>(p, "node 'w' (Const)").status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "node 'w' (Const): tensor of dtype float and shape [2,3] needs 24 bytes of tensor_content, has 20"));
  p.set_tensor_content(std::string(28, '\0'));
  EXPECT_FALSE(DecodeTensor<float>(p, "w").ok());
  auto q = FloatProto({2});
  for (int i = 0; i < 3; ++i) q.add_float_val(1.0f);
  EXPECT_THAT(ValidateTensorProto(q, "node 'b' (Const)"),
              StatusIs(absl::StatusCode::kInvalidArgument, "node 'b' (Const): tensor stores 3 values"));
  auto r = FloatProto({-1, 2});
  EXPECT_THAT(ValidateTensorProto(r, "c"), StatusIs(absl::StatusCode::kInvalidArgument, "unknown dimension"));
  auto huge = FloatProto({1 << 30, 1 << 30, 1 << 30});
  EXPECT_THAT(ValidateTensorProto(huge, "h"), StatusIs(absl::StatusCode::kInvalidArgument, "too large"));
  tensorflow::TensorProto s;
  s.set_dtype(tensorflow::DT_STRING);
  *s.mutable_tensor_shape() = ShapeToProto({1});
  s.add_string_val("x");
  EXPECT_THAT(DecodeTensor<float>(s, "s").status(), StatusIs(absl::StatusCode::kUnimplemented, "string"));
}

TEST(TensorTest, EncodeDecodeRoundTrip) {
  HostTensor<float> f{{2, 2}, {1, 2, 3, 4}};
  auto pf = EncodeTensor(f);
  EXPECT_EQ(pf.tensor_content().size(), 16u);
  EXPECT_EQ(DecodeTensor<float>(pf, "f")->values, f.values);
  HostTensor<float> one{{}, {2.5f}};
  auto p1 = EncodeTensor(one);
  EXPECT_EQ(p1.float_val_size(), 1);
  EXPECT_EQ(DecodeTensor<float>(p1, "f")->values, one.values);
  HostTensor<int32_t> i{{3}, {-1, 0, 1}};
  EXPECT_EQ(DecodeTensor<int32_t>(EncodeTensor(i), "i")->values, i.values);
  HostTensor<int64_t> l{{2}, {int64_t{1} << 40, -5}};
  EXPECT_EQ(DecodeTensor<int64_t>(EncodeTensor(l), "l")->values, l.values);
  HostTensor<uint8_t> u{{2}, {0, 255}};
  EXPECT_EQ(DecodeTensor<uint8_t>(EncodeTensor(u), "u")->values, u.values);
  HostTensor<int8_t> s{{2}, {-128, 127}};
  EXPECT_EQ(DecodeTensor<int8_t>(EncodeTensor(s), "s")->values, s.values);
  HostTensor<double> d{{2}, {0.1, -0.2}};
  EXPECT_EQ(DecodeTensor<double>(EncodeTensor(d), "d")->values, d.values);
}

// ---------------------------------------------------------------- validate
tensorflow::GraphDef SmallGraph() {
  GraphBuilder b;
  auto x = b.Placeholder("x", {1, 4});
  auto w = b.Const("w", HostTensor<float>{{4, 2}, std::vector<float>(8, 0.5f)});
  auto m = b.MatMul("fc/MatMul", x, w);
  b.Unary("Relu", "fc/Relu", m);
  return b.Build();
}

TEST(ValidateTest, SmallGraphIsValid) { EXPECT_TRUE(ValidateGraph(SmallGraph()).ok()); }

tensorflow::NodeDef* Node(tensorflow::GraphDef* g, const std::string& name) {
  for (auto& n : *g->mutable_node()) if (n.name() == name) return &n;
  return nullptr;
}

TEST(ValidateTest, DanglingInput) {
  auto g = SmallGraph();
  Node(&g, "fc/Relu")->set_input(0, "fc/MatMull");
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "node 'fc/Relu' (Relu): input 0 'fc/MatMull' names a node that does not exist"));
  auto all = ValidateGraphAll(g);
  ASSERT_EQ(all.size(), 1u);
}

TEST(ValidateTest, EveryDanglingInputIsReported) {
  auto g = SmallGraph();
  Node(&g, "fc/Relu")->set_input(0, "nope1");
  Node(&g, "fc/MatMul")->set_input(1, "nope2:1");
  auto all = ValidateGraphAll(g);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_THAT(absl::StrCat(all[0].message(), all[1].message()), HasSubstr("nope1"));
  EXPECT_THAT(absl::StrCat(all[0].message(), all[1].message()), HasSubstr("'nope2:1'"));
}

TEST(ValidateTest, DuplicateName) {
  auto g = SmallGraph();
  *g.add_node() = *Node(&g, "w");
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "node 'w' (Const): duplicate node name (also node #1)"));
}

TEST(ValidateTest, Cycle) {
  auto g = SmallGraph();
  Node(&g, "fc/MatMul")->set_input(0, "fc/Relu");
  auto st = ValidateGraph(g);
  EXPECT_THAT(st, StatusIs(absl::StatusCode::kInvalidArgument, "graph has a cycle"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("'fc/MatMul' (MatMul)"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("'fc/Relu' (Relu)"));
}

TEST(ValidateTest, NextIterationBackEdgeIsNotACycle) {
  GraphBuilder b;
  b.AddNode("enter", "Placeholder", {});
  b.AddNode("merge", "Merge", {"enter", "next"});
  b.AddNode("body", "Identity", {"merge"});
  b.AddNode("next", "NextIteration", {"body"});
  auto g = b.Build();
  ValidateOptions lax;
  lax.check_attr_types = false;
  ASSERT_TRUE(ValidateGraph(g, lax).ok());
  auto view = GraphView::Create(g);
  auto order = view->TopologicalOrder();
  ASSERT_TRUE(order.ok());
  EXPECT_THAT(*order, ElementsAre(0, 1, 2, 3));
}

TEST(ValidateTest, ControlInputBeforeDataInput) {
  auto g = SmallGraph();
  auto* mm = Node(&g, "fc/MatMul");
  mm->clear_input();
  mm->add_input("^w");
  mm->add_input("x");
  mm->add_input("w");
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "node 'fc/MatMul' (MatMul): data input 1 'x' comes after a control input"));
}

TEST(ValidateTest, WrongAttributeKind) {
  auto g = SmallGraph();
  SetAttr(Node(&g, "fc/MatMul"), "transpose_a", int64_t{1});
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "node 'fc/MatMul' (MatMul): attribute 'transpose_a' must be bool, got int"));
  ValidateOptions lax;
  lax.check_attr_types = false;
  EXPECT_TRUE(ValidateGraph(g, lax).ok());
}

TEST(ValidateTest, TypeListAttrOnlyWhereTheOpDefSaysSo) {
  // IdentityN's "T" is list(type) in TensorFlow's OpDef; Identity's is a single type.
  GraphBuilder b;
  b.AddNode("x", "Placeholder", {});
  b.AddNode("y", "Placeholder", {});
  b.AddNode("both", "IdentityN", {"x", "y"});
  b.AddNode("one", "Identity", {"x"});
  auto g = b.Build();
  for (auto& n : *g.mutable_node()) {
    if (n.op() == "Placeholder") SetAttr(&n, "dtype", tensorflow::DT_FLOAT);
    if (n.op() == "IdentityN" || n.op() == "Identity") {
      auto* list = (*n.mutable_attr())["T"].mutable_list();
      list->add_type(tensorflow::DT_FLOAT);
      list->add_type(tensorflow::DT_FLOAT);
    }
  }
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "node 'one' (Identity): attribute 'T' must be type, got list(type)"));
  g.mutable_node()->RemoveLast();
  EXPECT_TRUE(ValidateGraph(g).ok()) << ValidateGraph(g);
}

TEST(ValidateTest, TensorByteSizeMismatch) {
  auto g = SmallGraph();
  auto* w = Node(&g, "w");
  auto t = *GetAttr<tensorflow::TensorProto>(*w, "value");
  t.mutable_tensor_content()->resize(30);
  SetAttr(w, "value", t);
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument,
                                         "node 'w' (Const): tensor of dtype float and shape [4,2] needs 32 bytes"));
  Node(&g, "w")->mutable_attr()->erase("value");
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument, "node 'w' (Const): Const without a 'value'"));
}

TEST(ValidateTest, NonFiniteWeightsOnlyWhenAsked) {
  auto g = SmallGraph();
  SetAttr(Node(&g, "w"), "value", EncodeTensor(HostTensor<float>{{2}, {1.0f, INFINITY}}));
  EXPECT_TRUE(ValidateGraph(g).ok());
  ValidateOptions strict;
  strict.reject_nonfinite_constants = true;
  EXPECT_THAT(ValidateGraph(g, strict), StatusIs(absl::StatusCode::kInvalidArgument, "node 'w' (Const): value 1 is inf"));
}

TEST(ValidateTest, EmptyNameAndEmptyOp) {
  auto g = SmallGraph();
  g.add_node()->set_op("NoOp");
  EXPECT_THAT(ValidateGraph(g), StatusIs(absl::StatusCode::kInvalidArgument, "node #4 (NoOp) has an empty name"));
  auto h = SmallGraph();
  h.add_node()->set_name("noop");
  EXPECT_THAT(ValidateGraph(h), StatusIs(absl::StatusCode::kInvalidArgument, "node 'noop' (): empty op type"));
}

// ---------------------------------------------------------------- GraphView
TEST(GraphViewTest, FanInFanOutInputsOutputs) {
  auto g = SmallGraph();
  auto* relu = Node(&g, "fc/Relu");
  relu->add_input("^w");
  auto v = GraphView::Create(g);
  ASSERT_TRUE(v.ok());
  int mm = *v->index("fc/MatMul");
  int w = *v->index("w");
  EXPECT_EQ(v->data_fanin(mm).size(), 2u);
  EXPECT_EQ(v->num_data_consumers(w), 1);
  EXPECT_EQ(v->fanout(w).size(), 2u);  // MatMul (data) + Relu (control)
  EXPECT_EQ(v->consumers(mm, 0).size(), 1u);
  EXPECT_THAT(v->Placeholders(), ElementsAre(0));
  ASSERT_EQ(v->Outputs().size(), 1u);
  EXPECT_EQ(v->node(v->Outputs()[0]).name(), "fc/Relu");
  EXPECT_EQ(v->FindNode("nope"), nullptr);
}

// Nodes written consumers first: inputs naming a later node are resolved after the pass,
// and fan-in / fan-out / order are those of the edges, not of the node order.
TEST(GraphViewTest, ConsumersBeforeProducers) {
  GraphBuilder b;
  b.AddNode("out", "AddV2", {"mid:1", "a", "^c"});
  b.AddNode("mid", "Split", {"a", "b"});
  b.AddNode("a", "Placeholder", {});
  b.AddNode("b", "Const", {});
  b.AddNode("c", "NoOp", {});
  auto g = b.Build();
  auto v = GraphView::Create(g);
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->fanin(0).size(), 3u);
  EXPECT_EQ(v->fanin(0)[0].node, 1);
  EXPECT_EQ(v->fanin(0)[0].port, 1);
  EXPECT_EQ(v->fanin(0)[1].node, 2);
  EXPECT_EQ(v->fanin(0)[2].node, 4);
  EXPECT_TRUE(v->fanin(0)[2].is_control);
  ASSERT_EQ(v->fanin(1).size(), 2u);
  EXPECT_EQ(v->fanin(1)[0].node, 2);
  EXPECT_EQ(v->fanin(1)[1].node, 3);
  EXPECT_TRUE(v->fanin(2).empty());
  // a feeds out (slot 1) and mid (slot 0): by consumer index, then slot.
  ASSERT_EQ(v->fanout(2).size(), 2u);
  EXPECT_EQ(v->fanout(2)[0].node, 0);
  EXPECT_EQ(v->fanout(2)[0].input_slot, 1);
  EXPECT_EQ(v->fanout(2)[1].node, 1);
  EXPECT_EQ(v->fanout(2)[1].input_slot, 0);
  EXPECT_TRUE(v->fanout(0).empty());
  ASSERT_EQ(v->fanout(4).size(), 1u);
  EXPECT_TRUE(v->fanout(4)[0].is_control);
  auto order = v->TopologicalOrder();
  ASSERT_TRUE(order.ok());
  EXPECT_THAT(*order, ElementsAre(2, 3, 1, 4, 0));  // Kahn, ties by index
}

TEST(GraphViewTest, ProducersFirstOrderIsGraphOrder) {
  auto g = SmallGraph();
  auto v = GraphView::Create(g);
  ASSERT_TRUE(v.ok());
  auto order = v->TopologicalOrder();
  ASSERT_TRUE(order.ok());
  std::vector<int> expected(g.node_size());
  for (int i = 0; i < g.node_size(); ++i) expected[i] = i;
  EXPECT_EQ(*order, expected);
}

// Errors are reported in the documented order whatever the single pass met first: names
// (empty, duplicate) before inputs, inputs node by node.
TEST(GraphViewTest, ErrorOrder) {
  {
    GraphBuilder b;
    b.AddNode("x", "Identity", {"missing"});  // dangling, first in the graph
    b.AddNode("y", "Const", {});
    b.AddNode("y", "Const", {});  // duplicate, later
    auto g = b.Build();
    EXPECT_THAT(GraphView::Create(g).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "node 'y' (Const): duplicate node name (also node #1); node names must be unique"));
  }
  {
    GraphBuilder b;
    b.AddNode("x", "Identity", {"later_missing"});
    b.AddNode("z", "Identity", {"x:bad"});
    auto g = b.Build();
    EXPECT_THAT(GraphView::Create(g).status(),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         "node 'x' (Identity): input 0 'later_missing' names a node that does not exist "
                         "(dangling input)"));
  }
  {
    GraphBuilder b;
    b.AddNode("x", "Identity", {"y"});  // resolved after the pass: fine
    b.AddNode("y", "Const", {});
    b.AddNode("", "Const", {});
    auto g = b.Build();
    EXPECT_THAT(GraphView::Create(g).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, "node #2 (Const) has an empty name"));
  }
}

// ---------------------------------------------------------------- MutableGraph
TEST(MutableGraphTest, UniqueNamesAddRewireRemove) {
  MutableGraph m(SmallGraph());
  EXPECT_EQ(m.UniqueName("new"), "new");
  EXPECT_EQ(m.UniqueName("w"), "w_1");
  auto* a = m.AddNode("w", "Identity");
  EXPECT_EQ(a->name(), "w_1");
  EXPECT_EQ(m.AddNode("w", "Identity")->name(), "w_2");
  EXPECT_TRUE(m.HasNode("w_2"));
  tensorflow::NodeDef dup;
  dup.set_name("w");
  dup.set_op("Const");
  EXPECT_THAT(m.AddNode(dup).status(), StatusIs(absl::StatusCode::kAlreadyExists, "node 'w' (Const)"));

  // Insert Identity between MatMul and Relu.
  auto* id = m.AddNode("fc/act_in", "Identity");
  id->add_input("fc/MatMul");
  std::string id_name = id->name();
  EXPECT_EQ(m.RewireConsumers({"fc/MatMul", 0, false}, {id_name, 0, false}, {id_name}), 1);
  EXPECT_EQ(m.FindNode("fc/Relu")->input(0), "fc/act_in");
  EXPECT_EQ(m.FindNode(id_name)->input(0), "fc/MatMul");

  // Removing a node that is still read as data fails and names the reader.
  EXPECT_THAT(m.RemoveNodes({"fc/act_in"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "node 'fc/Relu' (Relu): still reads 'fc/act_in'"));
  // Control inputs on removed nodes are dropped.
  m.FindNode("fc/Relu")->add_input("^w_1");
  ASSERT_TRUE(m.RemoveNodes({"w_1", "w_2"}).ok());
  EXPECT_FALSE(m.HasNode("w_1"));
  EXPECT_EQ(m.FindNode("fc/Relu")->input_size(), 1);
  EXPECT_NE(m.FindNode("fc/act_in"), nullptr);  // index rebuilt after removal
  auto g = std::move(m).Release();
  EXPECT_EQ(g.node_size(), 5);
  EXPECT_TRUE(ValidateGraph(g).ok());
}

// ---------------------------------------------------------------- npy
template <typename T>
void NpyRoundTrip(NpyDType dtype, std::vector<T> values, std::vector<int64_t> shape) {
  NpyArray a = NpyArray::Zeros(dtype, shape);
  ASSERT_EQ(a.data.size(), values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(a.data.data(), values.data(), a.data.size());
  std::string path = testing_util::TempPath(absl::StrCat(NpyDTypeName(dtype), ".npy"));
  ASSERT_TRUE(WriteNpy(path, a).ok());
  std::string bytes = testing_util::ReadBytes(path);
  EXPECT_EQ((bytes.size() - a.data.size()) % 64, 0u) << "header is padded to 64 bytes";
  auto b = ReadNpy(path);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->dtype, dtype);
  EXPECT_EQ(b->shape, shape);
  EXPECT_EQ(b->data, a.data);
}

TEST(NpyTest, RoundTripEveryDtype) {
  NpyRoundTrip<float>(NpyDType::kFloat32, {1.5f, -2.f, 0.f, 7.f, 8.f, 9.f}, {2, 3});
  NpyRoundTrip<double>(NpyDType::kFloat64, {0.1, 0.2}, {2});
  NpyRoundTrip<int32_t>(NpyDType::kInt32, {-1, 2, 3, 4}, {1, 2, 2});
  NpyRoundTrip<int64_t>(NpyDType::kInt64, {int64_t{1} << 40}, {});
  NpyRoundTrip<uint8_t>(NpyDType::kUInt8, {0, 255, 3}, {3, 1});
  NpyRoundTrip<int8_t>(NpyDType::kInt8, {-128, 127}, {2});
  NpyRoundTrip<float>(NpyDType::kFloat32, {}, {0, 3});
}

std::string NpyWithHeader(const std::string& dict, const std::string& payload) {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(h.size() & 0xff));
  out.push_back(static_cast<char>(h.size() >> 8));
  return out + h + payload;
}

TEST(NpyTest, ReadsWhatNumpyWrites) {
  // Header exactly as numpy 1.x writes it for np.float32 [[1,2]] and a bool vector.
  std::string payload(8, '\0');
  float v[2] = {1, 2};
  std::memcpy(payload.data(), v, 8);
  auto a = ParseNpy(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", payload), "a.npy");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(a->ToFloat(), ElementsAre(1.0f, 2.0f));
  auto b = ParseNpy(NpyWithHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\x01\x00\x01", 3)), "b.npy");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->dtype, NpyDType::kUInt8);
  EXPECT_THAT(b->ToFloat(), ElementsAre(1, 0, 1));
}

TEST(NpyTest, ErrorsNameTheFileAndTheFix) {
  EXPECT_THAT(ParseNpy(NpyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                                     std::string(16, '\0')), "f.npy").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "f.npy: Fortran-order arrays are not supported"));
  EXPECT_THAT(ParseNpy(NpyWithHeader("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
                                     std::string(16, '\0')), "o.npy").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "o.npy: object arrays (dtype 'O') cannot be read"));
  EXPECT_THAT(ParseNpy(NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                                     std::string(12, '\0')), "t.npy").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "t.npy: truncated .npy data: shape (4) needs 16 bytes, file has 12"));
  EXPECT_THAT(ParseNpy(NpyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
                                     std::string(4, '\0')), "be.npy").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "big-endian"));
  EXPECT_THAT(ParseNpy(NpyWithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
                                     std::string(8, '\0')), "c.npy").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "unsupported dtype '<c8'"));
  std::string full = NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'));
  EXPECT_THAT(ParseNpy(full.substr(0, 40), "h.npy").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "h.npy: truncated .npy header"));
  EXPECT_THAT(ParseNpy("hello", "x.npy").status(), StatusIs(absl::StatusCode::kInvalidArgument, "not a .npy file"));
  EXPECT_THAT(ReadNpy("/nonexistent/dir/x.npy").status(), StatusIs(absl::StatusCode::kNotFound, "cannot open"));
}

// ---------------------------------------------------------------- graph I/O
TEST(GraphIoTest, DetectsFormatFromContentNotExtension) {
  auto g = SmallGraph();
  std::string text_path = testing_util::TempPath("graph.pb");  // text in a .pb file
  ASSERT_TRUE(SaveGraphDef(g, text_path, {GraphFormat::kText}).ok());
  EXPECT_EQ(testing_util::ReadBytes(text_path).substr(0, 4), "node");
  auto a = LoadGraphDef(text_path);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->node_size(), 4);
  std::string bin_path = testing_util::TempPath("graph.pbtxt");
  ASSERT_TRUE(SaveGraphDef(g, bin_path, {GraphFormat::kBinary}).ok());
  auto b = LoadGraphDef(bin_path);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*SerializeGraphDef(*a, GraphFormat::kBinary), *SerializeGraphDef(*b, GraphFormat::kBinary));
  // kAuto picks text for .pbtxt.
  std::string auto_path = testing_util::TempPath("auto.pbtxt");
  ASSERT_TRUE(SaveGraphDef(g, auto_path).ok());
  EXPECT_EQ(testing_util::ReadBytes(auto_path).substr(0, 4), "node");
}

TEST(GraphIoTest, SerializationIsDeterministic) {
  auto g = SmallGraph();
  auto* n = Node(&g, "fc/MatMul");
  for (int i = 0; i < 20; ++i) SetAttr(n, absl::StrCat("_extra", i), int64_t{i});
  std::string a = *SerializeGraphDef(g, GraphFormat::kBinary);
  auto back = ParseGraphDef(a, "a");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*SerializeGraphDef(*back, GraphFormat::kBinary), a);
}

TEST(GraphIoTest, BadInputsGiveSpecificErrors) {
  EXPECT_THAT(ParseGraphDef("", "e.pb").status(), StatusIs(absl::StatusCode::kInvalidArgument, "e.pb: empty file"));
  std::string bin = *SerializeGraphDef(SmallGraph(), GraphFormat::kBinary);
  EXPECT_THAT(ParseGraphDef(bin.substr(0, bin.size() / 2), "t.pb").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "t.pb: not a valid binary GraphDef"));
  EXPECT_THAT(ParseGraphDef("hello world, this is not a graph\n", "h.txt").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "h.txt: not a valid text GraphDef"));
  EXPECT_THAT(ParseGraphDef("node { name: \"a\" op: \"Const\" \n", "u.pbtxt").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "u.pbtxt: not a valid text GraphDef (line"));
  EXPECT_THAT(ParseGraphDef("  \n# only a comment\n", "c.pbtxt").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "has no nodes"));
  EXPECT_THAT(ParseGraphDef("node { op: \"Const\" }", "n.pbtxt").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "node #0 has no name"));
  // Found by the fuzzer: text escapes that make invalid UTF-8, which binary protobuf rejects.
  EXPECT_THAT(ParseGraphDef("node { name: \"a\\377\" op: \"Const\" }", "u8.pbtxt").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, "u8.pbtxt: text GraphDef holds a string field"));
  EXPECT_THAT(LoadGraphDef("/nonexistent/dir/g.pb").status(), StatusIs(absl::StatusCode::kNotFound, "cannot open"));
  EXPECT_THAT(LoadGraphDef(::testing::TempDir()).status(), StatusIs(absl::StatusCode::kInvalidArgument, "is a directory"));
}

// ParseGraphDefInto (what `tfqat rewrite` parses onto an arena): the same graph as
// ParseGraphDef, the same errors, and the target cleared first.
TEST(GraphIoTest, ParseIntoAnArenaGraph) {
  const std::string bin = *SerializeGraphDef(SmallGraph(), GraphFormat::kBinary);
  google::protobuf::Arena arena;
  auto* g = google::protobuf::Arena::CreateMessage<tensorflow::GraphDef>(&arena);
  ASSERT_TRUE(ParseGraphDefInto(bin, "a.pb", g).ok());
  EXPECT_EQ(*SerializeGraphDef(*g, GraphFormat::kBinary), bin);
  ASSERT_TRUE(ParseGraphDefInto(bin, "a.pb", g).ok());  // parsed again: not appended
  EXPECT_EQ(g->node_size(), SmallGraph().node_size());
  EXPECT_THAT(ParseGraphDefInto(bin.substr(0, bin.size() / 2), "t.pb", g),
              StatusIs(absl::StatusCode::kInvalidArgument, "t.pb: not a valid binary GraphDef"));
  EXPECT_THAT(ParseGraphDefInto("", "e.pb", g), StatusIs(absl::StatusCode::kInvalidArgument, "e.pb: empty file"));
  EXPECT_THAT(ParseGraphDefInto("node { op: \"Const\" }", "n.pbtxt", g),
              StatusIs(absl::StatusCode::kInvalidArgument, "node #0 has no name"));
}

// Protobuf's default limit is 64 MiB; TensorFlow graphs are often larger.
TEST(GraphIoTest, GraphOver64MiBLoads) {
  GraphBuilder b;
  auto x = b.Placeholder("x", {1, 4096});
  HostTensor<float> w{{4096, 4200}, std::vector<float>(4096 * 4200, 0.25f)};  // 68.8 MB
  w.values.back() = -3.0f;
  auto wn = b.Const("big/w", w);
  b.MatMul("big/MatMul", x, wn);
  std::string path = testing_util::TempPath("big.pb");
  ASSERT_TRUE(SaveGraphDef(b.Build(), path).ok());
  auto g = LoadGraphDef(path);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_GT(g->ByteSizeLong(), size_t{64} << 20);
  EXPECT_TRUE(ValidateGraph(*g).ok());
  auto t = DecodeConst<float>(*Node(&*g, "big/w"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->values.back(), -3.0f);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tfqat

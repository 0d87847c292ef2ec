#include "patterns/matcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "patterns/op_set.h"
#include "patterns/pattern.h"
#include "tests/patterns/test_graphs.h"

namespace tfqat::patterns {
namespace {

using ::testing::HasSubstr;
using testing::Idx;

GraphView View(const tensorflow::GraphDef& g) {
  auto v = GraphView::Create(g);
  EXPECT_TRUE(v.ok()) << v.status();
  return *std::move(v);
}

// Relu?(BiasAdd?(Conv2D(any, Const)))
Pattern SimpleChain() {
  Pat conv = Pat::Op(ops::kConv2D).Capture("conv").Inputs(
      {Pat::Any("x"), Pat::Op(OpSet{"Const", "Identity"}).Boundary().Capture("w")});
  Pat bias = Pat::Op(ops::kBiasAdd).Capture("bias").Inputs({conv, Pat::Any("b")}).Optional();
  return Pattern("chain", Pat::Op(OpSet{"Relu"}).Capture("act").Inputs({bias}).Optional());
}

TEST(OpSetTest, ContainsUnionAndToString) {
  OpSet a{"Conv2D", "MatMul"};
  EXPECT_TRUE(a.Contains("MatMul"));
  EXPECT_FALSE(a.Contains("Mat"));
  OpSet u = a | OpSet{"MatMul", "Relu"};
  EXPECT_EQ(u.ToString(), "{Conv2D, MatMul, Relu}");
}

TEST(MatcherTest, MatchesFullChainWithCaptures) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  testing::ConvBiasRelu(g, "l1", x, 3, 4);
  auto gd = g.Build();
  GraphView v = View(gd);
  auto ms = FindMatches(v, {SimpleChain()});
  ASSERT_TRUE(ms.ok()) << ms.status();
  ASSERT_EQ(ms->matches.size(), 1u);
  const Match& m = ms->matches[0];
  EXPECT_EQ(m.root, Idx(v, "l1/Relu"));
  EXPECT_EQ(m.Node("conv"), Idx(v, "l1/Conv2D"));
  EXPECT_EQ(m.Node("bias"), Idx(v, "l1/BiasAdd"));
  EXPECT_EQ(m.Node("w"), Idx(v, "l1/weights/read"));
  EXPECT_EQ(m.Node("x"), Idx(v, "x"));
  // Boundary and wildcard nodes are not owned.
  EXPECT_THAT(m.owned, ::testing::UnorderedElementsAre(Idx(v, "l1/Relu"), Idx(v, "l1/BiasAdd"),
                                                       Idx(v, "l1/Conv2D")));
  EXPECT_EQ(ms->owner[Idx(v, "l1/weights/read")], -1);
}

TEST(MatcherTest, OptionalNodesMaySkip) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string w = g.Const("w", testing::Filled({1, 1, 3, 2}));
  std::string c = g.Conv2D("conv", x, w, 1, "SAME");
  g.Unary("Relu", "relu", c);
  auto gd = g.Build();
  GraphView v = View(gd);
  auto ms = FindMatches(v, {SimpleChain()});
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 1u);
  EXPECT_EQ(ms->matches[0].Node("bias"), -1);
  EXPECT_EQ(ms->matches[0].Node("act"), Idx(v, "relu"));
}

TEST(MatcherTest, EscapingFanOutShortensTheMatch) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string r = testing::ConvBiasRelu(g, "l1", x, 3, 4);
  // A second consumer of the BiasAdd output: the Relu cannot join the match.
  g.Unary("Tanh", "side", "l1/BiasAdd");
  auto gd = g.Build();
  GraphView v = View(gd);
  auto ms = FindMatches(v, {SimpleChain()});
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 1u);
  EXPECT_EQ(ms->matches[0].root, Idx(v, "l1/BiasAdd"));
  EXPECT_EQ(ms->matches[0].Node("act"), -1);
  // The refused candidate at the Relu says why.
  bool found = false;
  for (const MatchFailure& f : ms->failures) {
    if (f.root == Idx(v, r)) {
      found = true;
      EXPECT_THAT(f.reason, HasSubstr("consumer outside the match"));
      EXPECT_THAT(f.reason, HasSubstr("'side' (Tanh)"));
    }
  }
  EXPECT_TRUE(found);
}

TEST(MatcherTest, AllowEscapeKeepsTheMatch) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  testing::ConvBiasRelu(g, "l1", x, 3, 4);
  g.Unary("Tanh", "side", "l1/BiasAdd");
  auto gd = g.Build();
  GraphView v = View(gd);
  Pat conv = Pat::Op(ops::kConv2D).Inputs({Pat::Any(), Pat::Any()});
  Pat bias = Pat::Op(ops::kBiasAdd).AllowEscape().Inputs({conv, Pat::Any()});
  Pattern p("p", Pat::Op(OpSet{"Relu"}).Inputs({bias}));
  auto ms = FindMatches(v, {p});
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 1u);
  EXPECT_EQ(ms->matches[0].root, Idx(v, "l1/Relu"));
}

TEST(MatcherTest, ProtectedGraphOutputInTheMiddle) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  testing::ConvBiasRelu(g, "l1", x, 3, 4);
  auto gd = g.Build();
  GraphView v = View(gd);
  MatchOptions opt;
  opt.protected_nodes.insert(Idx(v, "l1/BiasAdd"));
  auto ms = FindMatches(v, {SimpleChain()}, opt);
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 1u);
  EXPECT_EQ(ms->matches[0].root, Idx(v, "l1/BiasAdd"));
  ASSERT_FALSE(ms->failures.empty());
  EXPECT_THAT(ms->failures[0].reason, HasSubstr("graph output in the middle"));
}

TEST(MatcherTest, CommutativeInputs) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {4});
  std::string c = g.Const("c", testing::Filled({4}));
  g.Binary("Add", "add1", x, c);
  g.Binary("AddV2", "add2", c, x);
  auto gd = g.Build();
  GraphView v = View(gd);
  Pat p = Pat::Op(ops::kAdd).Commutative().Inputs(
      {Pat::Op(OpSet{"Placeholder"}).Boundary().Capture("x"),
       Pat::Op(ops::kConst).Boundary().Capture("c")});
  auto ms = FindMatches(v, {Pattern("add", p)});
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 2u);
  for (const Match& m : ms->matches) {
    EXPECT_EQ(m.Node("x"), Idx(v, "x"));
    EXPECT_EQ(m.Node("c"), Idx(v, "c"));
  }
  // Without Commutative() only the first order matches.
  Pat q = Pat::Op(ops::kAdd).Inputs({Pat::Op(OpSet{"Placeholder"}).Boundary(),
                                     Pat::Op(ops::kConst).Boundary()});
  auto ms2 = FindMatches(v, {Pattern("add", q)});
  ASSERT_TRUE(ms2.ok());
  ASSERT_EQ(ms2->matches.size(), 1u);
  EXPECT_EQ(ms2->matches[0].root, Idx(v, "add1"));
}

TEST(MatcherTest, AlternativesInOrderAndPredicates) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 4, 4, 2});
  std::string a = g.Unary("Relu", "a", x);
  auto* n = g.AddNode("b", "Relu6", {a});
  (void)n;
  auto gd = g.Build();
  GraphView v = View(gd);
  Pat p = Pat::OneOf({Pat::Op(OpSet{"Relu6"}).Capture("six"), Pat::Op(OpSet{"Relu"}).Capture("one")})
              .Inputs({});
  auto ms = FindMatches(v, {Pattern("alt", p)});
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 2u);
  EXPECT_EQ(ms->matches[0].Node("six"), Idx(v, "b"));
  EXPECT_EQ(ms->matches[1].Node("one"), Idx(v, "a"));

  Pat named = Pat::Op(OpSet{"Relu", "Relu6"}).Where(pred::NameEndsWith("b"));
  std::string why;
  EXPECT_FALSE(MatchAt(v, Pattern("named", named), Idx(v, "a"), {}, &why).has_value());
  EXPECT_THAT(why, HasSubstr("name ends with 'b'"));
  EXPECT_TRUE(MatchAt(v, Pattern("named", named), Idx(v, "b")).has_value());
}

TEST(MatcherTest, MatchesDoNotOverlapAndAreDeterministic) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string r1 = testing::ConvBiasRelu(g, "l1", x, 3, 4);
  std::string r2 = testing::ConvBiasRelu(g, "l2", r1, 4, 4);
  auto gd = g.Build();
  GraphView v = View(gd);
  auto ms = FindMatches(v, {SimpleChain()});
  ASSERT_TRUE(ms.ok());
  ASSERT_EQ(ms->matches.size(), 2u);
  // Reverse topological: the later layer first.
  EXPECT_EQ(ms->matches[0].root, Idx(v, r2));
  EXPECT_EQ(ms->matches[1].root, Idx(v, r1));
  EXPECT_EQ(ms->matches[0].Node("x"), Idx(v, r1));
  // Every node owned at most once.
  std::vector<int> count(v.num_nodes(), 0);
  for (const Match& m : ms->matches)
    for (int o : m.owned) ++count[o];
  for (int c : count) EXPECT_LE(c, 1);
  auto again = FindMatches(v, {SimpleChain()});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->matches.size(), 2u);
  EXPECT_EQ(again->matches[0].owned, ms->matches[0].owned);
}

TEST(MatcherTest, ExcludedNodesAreNeverOwned) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  testing::ConvBiasRelu(g, "l1", x, 3, 4);
  auto gd = g.Build();
  GraphView v = View(gd);
  MatchOptions opt;
  opt.excluded_nodes.insert(Idx(v, "l1/Conv2D"));
  auto ms = FindMatches(v, {SimpleChain()}, opt);
  ASSERT_TRUE(ms.ok());
  EXPECT_TRUE(ms->matches.empty());
  ASSERT_FALSE(ms->failures.empty());
  EXPECT_THAT(ms->failures[0].reason, HasSubstr("excluded"));
}

TEST(MatcherTest, FailureNamesTheNodeAndExpectation) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  std::string m = g.Pool("MaxPool", "pool", x, 2, 2, "VALID");
  g.Unary("Relu", "relu", m);
  auto gd = g.Build();
  GraphView v = View(gd);
  auto ms = FindMatches(v, {SimpleChain()});
  ASSERT_TRUE(ms.ok());
  EXPECT_TRUE(ms->matches.empty());
  ASSERT_EQ(ms->failures.size(), 1u);
  EXPECT_EQ(ms->failures[0].root, Idx(v, "relu"));
  EXPECT_EQ(ms->failures[0].at_node, Idx(v, "pool"));
  EXPECT_THAT(ms->failures[0].reason, HasSubstr("'pool' (MaxPool) is not"));
}

TEST(MatcherTest, PortsAreChecked) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {1, 8, 8, 3});
  auto* split = g.AddNode("split", "Unpack", {x});
  (void)split;
  g.AddNode("relu", "Relu", {"split:1"});
  auto gd = g.Build();
  GraphView v = View(gd);
  Pattern p("p", Pat::Op(OpSet{"Relu"}).Inputs({Pat::Op(OpSet{"Unpack"}).Boundary()}));
  std::string why;
  EXPECT_FALSE(MatchAt(v, p, Idx(v, "relu"), {}, &why).has_value());
  EXPECT_THAT(why, HasSubstr("output 1"));
  Pattern q("q", Pat::Op(OpSet{"Relu"}).Inputs({Pat::Op(OpSet{"Unpack"}).Boundary().Port(1)}));
  EXPECT_TRUE(MatchAt(v, q, Idx(v, "relu")).has_value());
}

}  // namespace
}  // namespace tfqat::patterns

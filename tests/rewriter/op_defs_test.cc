#include "rewriter/op_defs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "graph/attrs.h"
#include "tests/rewriter/rewriter_test_util.h"

namespace tfqat {
namespace {

using ::testing::HasSubstr;

absl::Status CheckLast(const tensorflow::GraphDef& g) {
  auto v = GraphView::Create(g);
  if (!v.ok()) return v.status();
  return CheckNodeAgainstOpDef(*v, v->num_nodes() - 1);
}

TEST(OpDefsTest, TableCoversTheContractVocabulary) {
  for (const std::string& op : EmittedOps()) {
    EXPECT_TRUE(rewriter_testing::ContractVocabulary().contains(op)) << op;
  }
  for (const char* op : {"FakeQuantWithMinMaxVars", "VariableV2", "Assign", "AssignSub", "SelectV2",
                         "GreaterEqual", "Pow", "Min", "Reshape"}) {
    EXPECT_NE(FindEmittedOpDef(op), nullptr) << op;
  }
}

TEST(OpDefsTest, CatchesMissingAttrWrongTypeAndRefInputs) {
  GraphBuilder g;
  std::string x = g.Placeholder("x", {4});
  std::string mn = g.Const("mn", rewriter_testing::Filled({1}));
  auto* fq = g.AddNode("fq", "FakeQuantWithMinMaxVars", {x, mn, mn});
  SetAttr(fq, "num_bits", int64_t{8});
  auto st = CheckLast(g.Build());
  EXPECT_THAT(st.message(), HasSubstr("missing attr 'narrow_range'"));
  SetAttr(fq, "narrow_range", false);
  EXPECT_TRUE(CheckLast(g.Build()).ok());
  SetAttr(fq, "num_bits", 8.0f);
  EXPECT_THAT(CheckLast(g.Build()).message(), HasSubstr("'num_bits' must be int"));

  GraphBuilder h;
  std::string c = h.Const("c", rewriter_testing::Filled({1}));
  std::string r = h.Identity("c/read", c);
  auto* a = h.AddNode("assign", "Assign", {r, c});
  SetAttr(a, "T", tensorflow::DT_FLOAT);
  SetAttr(a, "validate_shape", true);
  SetAttr(a, "use_locking", true);
  EXPECT_THAT(CheckLast(h.Build()).message(), HasSubstr("must be a ref tensor"));

  GraphBuilder k;
  std::string i = k.Placeholder("i", {1}, tensorflow::DT_INT64);
  std::string f = k.Const("f", rewriter_testing::Filled({1}));
  auto* ge = k.AddNode("ge", "GreaterEqual", {i, f});
  SetAttr(ge, "T", tensorflow::DT_INT64);
  EXPECT_THAT(CheckLast(k.Build()).message(), HasSubstr("input 1 (y) is float"));
  auto* extra = k.AddNode("ge2", "GreaterEqual", {i});
  SetAttr(extra, "T", tensorflow::DT_INT64);
  EXPECT_THAT(CheckLast(k.Build()).message(), HasSubstr("1 data inputs"));
}

}  // namespace
}  // namespace tfqat

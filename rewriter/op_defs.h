// The TensorFlow OpDefs of every op the rewriter emits (facts from TF's op registrations:
// core/ops/{array,math,state,no}_ops.cc), and a checker that tests a NodeDef against them:
// op known, data-input count, every attribute present with the right kind, type attributes
// within their allowed sets, and input dtypes (ref or not) consistent with the arguments.
// The train-mode graph must import into real TensorFlow, so every emitted node is checked.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "graph/graph_view.h"
#include "proto/graph.pb.h"

namespace tfqat {

struct OpArgDef {
  std::string name;
  // Either a fixed dtype, or the name of a type attribute.
  tensorflow::DataType fixed = tensorflow::DT_INVALID;
  std::string type_attr;
  bool is_ref = false;  // Ref(T): must come straight from a variable / a ref output
};

struct OpAttrDef {
  std::string name;
  std::string kind;  // "type", "int", "float", "bool", "string", "shape", "tensor"
  std::vector<tensorflow::DataType> allowed;  // for "type" (empty: any)
  bool has_default = false;
};

struct OpDefInfo {
  std::string op;
  std::vector<OpArgDef> inputs;
  std::vector<OpArgDef> outputs;
  std::vector<OpAttrDef> attrs;
};

// The OpDef of an op the rewriter emits (nullptr for others).
const OpDefInfo* FindEmittedOpDef(absl::string_view op);
// Every op in the table, in table order.
std::vector<std::string> EmittedOps();

// Dtype of output `port` of node `n` as far as it can be told from the node's attributes
// (covers the emitted ops and the common float ops); `is_ref` is set for ref outputs
// (VariableV2, Assign*). nullopt when unknown.
std::optional<tensorflow::DataType> OutputDtype(const GraphView& view, int n, int port,
                                                bool* is_ref = nullptr);

// Checks `node` (index n in `view`) against its OpDef. Errors name the node and the op.
absl::Status CheckNodeAgainstOpDef(const GraphView& view, int n);

}  // namespace tfqat

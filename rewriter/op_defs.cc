#include "rewriter/op_defs.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/tensor.h"

namespace tfqat {

namespace {

using tensorflow::DataType;
constexpr DataType kF = tensorflow::DT_FLOAT;
constexpr DataType kD = tensorflow::DT_DOUBLE;
constexpr DataType kH = tensorflow::DT_HALF;
constexpr DataType kBF = tensorflow::DT_BFLOAT16;
constexpr DataType kI32 = tensorflow::DT_INT32;
constexpr DataType kI64 = tensorflow::DT_INT64;
constexpr DataType kBool = tensorflow::DT_BOOL;

OpArgDef T(std::string name, std::string attr = "T") { return OpArgDef{std::move(name), tensorflow::DT_INVALID, std::move(attr), false}; }
OpArgDef Ref(std::string name, std::string attr = "T") { return OpArgDef{std::move(name), tensorflow::DT_INVALID, std::move(attr), true}; }
OpArgDef Fixed(std::string name, DataType t) { return OpArgDef{std::move(name), t, "", false}; }
OpAttrDef Type(std::string name, std::vector<DataType> allowed = {}, bool def = false) {
  return OpAttrDef{std::move(name), "type", std::move(allowed), def};
}
OpAttrDef Attr(std::string name, std::string kind, bool def) {
  return OpAttrDef{std::move(name), std::move(kind), {}, def};
}

// Real number types accepted by the float math we emit (the subset that matters here:
// we only emit float, int32 and int64 tensors).
const std::vector<DataType> kRealNumber = {kF, kD, kH, kBF, kI32, kI64, tensorflow::DT_INT8,
                                           tensorflow::DT_INT16, tensorflow::DT_UINT8,
                                           tensorflow::DT_UINT16};
const std::vector<DataType> kIndex = {kI32, kI64};

std::vector<OpDefInfo> MakeTable() {
  std::vector<OpDefInfo> t;
  // array_ops.cc
  t.push_back({"Const", {}, {T("output", "dtype")}, {Attr("value", "tensor", false), Type("dtype")}});
  t.push_back({"Identity", {T("input")}, {T("output")}, {Type("T")}});
  t.push_back({"Reshape", {T("tensor"), T("shape", "Tshape")}, {T("output")},
               {Type("T"), Type("Tshape", kIndex, true)}});
  t.push_back({"FakeQuantWithMinMaxVars", {Fixed("inputs", kF), Fixed("min", kF), Fixed("max", kF)},
               {Fixed("outputs", kF)}, {Attr("num_bits", "int", true), Attr("narrow_range", "bool", true)}});
  t.push_back({"FakeQuantWithMinMaxVarsPerChannel",
               {Fixed("inputs", kF), Fixed("min", kF), Fixed("max", kF)}, {Fixed("outputs", kF)},
               {Attr("num_bits", "int", true), Attr("narrow_range", "bool", true)}});
  // state_ops.cc
  t.push_back({"VariableV2", {}, {Ref("ref", "dtype")},
               {Attr("shape", "shape", false), Type("dtype"), Attr("container", "string", true),
                Attr("shared_name", "string", true)}});
  t.push_back({"Assign", {Ref("ref"), T("value")}, {Ref("output_ref")},
               {Type("T"), Attr("validate_shape", "bool", true), Attr("use_locking", "bool", true)}});
  t.push_back({"AssignAdd", {Ref("ref"), T("value")}, {Ref("output_ref")},
               {Type("T", kRealNumber), Attr("use_locking", "bool", true)}});
  t.push_back({"AssignSub", {Ref("ref"), T("value")}, {Ref("output_ref")},
               {Type("T", kRealNumber), Attr("use_locking", "bool", true)}});
  // no_op.cc
  t.push_back({"NoOp", {}, {}, {}});
  // math_ops.cc
  for (const char* r : {"Min", "Max", "Mean"}) {
    t.push_back({r, {T("input"), T("reduction_indices", "Tidx")}, {T("output")},
                 {Attr("keep_dims", "bool", true), Type("T", kRealNumber), Type("Tidx", kIndex, true)}});
  }
  for (const char* b : {"Minimum", "Maximum"}) {
    t.push_back({b, {T("x"), T("y")}, {T("z")}, {Type("T", {kBF, kH, kF, kD, kI32, kI64})}});
  }
  for (const char* b : {"AddV2", "Sub", "Mul", "RealDiv"}) {
    t.push_back({b, {T("x"), T("y")}, {T("z")}, {Type("T", kRealNumber)}});
  }
  t.push_back({"Pow", {T("x"), T("y")}, {T("z")}, {Type("T", {kBF, kF, kH, kD, kI32, kI64})}});
  t.push_back({"GreaterEqual", {T("x"), T("y")}, {Fixed("z", kBool)}, {Type("T", kRealNumber)}});
  t.push_back({"SelectV2", {Fixed("condition", kBool), T("t"), T("e")}, {T("output")}, {Type("T")}});
  t.push_back({"Cast", {T("x", "SrcT")}, {T("y", "DstT")},
               {Type("SrcT"), Type("DstT"), Attr("Truncate", "bool", true)}});
  for (const char* u : {"Square", "Rsqrt", "Sqrt"}) {
    t.push_back({u, {T("x")}, {T("y")}, {Type("T", {kBF, kH, kF, kD})}});
  }
  return t;
}

const std::vector<OpDefInfo>& Table() {
  static const std::vector<OpDefInfo>* const kTable = new std::vector<OpDefInfo>(MakeTable());
  return *kTable;
}

bool AttrKindOk(const tensorflow::AttrValue& v, const std::string& kind) {
  switch (v.value_case()) {
    case tensorflow::AttrValue::kType: return kind == "type";
    case tensorflow::AttrValue::kI: return kind == "int";
    case tensorflow::AttrValue::kF: return kind == "float";
    case tensorflow::AttrValue::kB: return kind == "bool";
    case tensorflow::AttrValue::kS: return kind == "string";
    case tensorflow::AttrValue::kShape: return kind == "shape";
    case tensorflow::AttrValue::kTensor: return kind == "tensor";
    default: return false;
  }
}

}  // namespace

const OpDefInfo* FindEmittedOpDef(absl::string_view op) {
  for (const OpDefInfo& d : Table()) {
    if (d.op == op) return &d;
  }
  return nullptr;
}

std::vector<std::string> EmittedOps() {
  std::vector<std::string> out;
  for (const OpDefInfo& d : Table()) out.push_back(d.op);
  return out;
}

std::optional<tensorflow::DataType> OutputDtype(const GraphView& view, int n, int port,
                                                bool* is_ref) {
  if (is_ref != nullptr) *is_ref = false;
  const tensorflow::NodeDef& node = view.node(n);
  auto type_attr = [&](const char* name) -> std::optional<DataType> {
    auto it = node.attr().find(name);
    if (it == node.attr().end() || it->second.value_case() != tensorflow::AttrValue::kType)
      return std::nullopt;
    return it->second.type();
  };
  if (const OpDefInfo* d = FindEmittedOpDef(node.op())) {
    if (port < 0 || port >= static_cast<int>(d->outputs.size())) return std::nullopt;
    const OpArgDef& out = d->outputs[port];
    if (is_ref != nullptr) *is_ref = out.is_ref;
    if (out.fixed != tensorflow::DT_INVALID) return out.fixed;
    return type_attr(out.type_attr.c_str());
  }
  const std::string& op = node.op();
  if (op == "Placeholder" || op == "VarHandleOp") return port == 0 ? type_attr("dtype") : std::nullopt;
  if (op == "Variable") {
    if (is_ref != nullptr) *is_ref = true;
    return type_attr("dtype");
  }
  if (op == "ReadVariableOp") return type_attr("dtype");
  if (op == "FusedBatchNorm" || op == "FusedBatchNormV3" || op == "FusedBatchNormV2") {
    return port <= 4 ? type_attr(op == "FusedBatchNorm" ? "T" : (port == 0 ? "T" : "U"))
                     : type_attr("U");
  }
  if (op == "Shape" || op == "Size" || op == "Rank") return type_attr("out_type").value_or(kI32);
  if (op == "ConcatV2" || op == "Pack" || op == "Conv2D" || op == "DepthwiseConv2dNative" ||
      op == "MatMul" || op == "BiasAdd" || op == "Add" || op == "Relu" || op == "Relu6" ||
      op == "Tanh" || op == "Sigmoid" || op == "Elu" || op == "LeakyRelu" || op == "MaxPool" ||
      op == "AvgPool" || op == "Squeeze" || op == "Pad" || op == "Conv2DBackpropInput" ||
      op == "Softmax" || op == "Neg" || op == "Abs" || op == "Exp" || op == "StopGradient" ||
      op == "FakeQuantWithMinMaxArgs" || op == "Transpose" || op == "Sum" || op == "Prod" ||
      op == "SquaredDifference" || op == "Div" || op == "Select" || op == "Tile" ||
      op == "StridedSlice" || op == "Slice" || op == "ExpandDims" || op == "BatchMatMul" ||
      op == "BatchMatMulV2" || op == "Reciprocal" || op == "Floor" || op == "Log") {
    return type_attr("T");
  }
  if (op == "Greater" || op == "Less" || op == "Equal" || op == "LessEqual" || op == "NotEqual" ||
      op == "LogicalAnd" || op == "LogicalOr" || op == "LogicalNot" || op == "IsFinite") {
    return tensorflow::DT_BOOL;
  }
  return std::nullopt;
}

absl::Status CheckNodeAgainstOpDef(const GraphView& view, int n) {
  const tensorflow::NodeDef& node = view.node(n);
  const std::string who = absl::StrCat("node '", node.name(), "' (", node.op(), ")");
  const OpDefInfo* d = FindEmittedOpDef(node.op());
  if (d == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": op is not in the emitted-op table"));
  }
  // Attributes: every OpDef attr present with the right kind, no unknown attrs.
  for (const OpAttrDef& a : d->attrs) {
    auto it = node.attr().find(a.name);
    if (it == node.attr().end()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": missing attr '", a.name, "'"));
    }
    if (!AttrKindOk(it->second, a.kind)) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": attr '", a.name, "' must be ", a.kind,
                                                     ", got ", AttrKindName(it->second)));
    }
    if (a.kind == "type" && !a.allowed.empty()) {
      bool ok = false;
      for (DataType t : a.allowed) ok |= (t == it->second.type());
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(who, ": attr '", a.name, "' = ",
                                                       DataTypeName(it->second.type()),
                                                       " is not an allowed type"));
      }
    }
  }
  for (const auto& [name, value] : node.attr()) {
    bool known = false;
    for (const OpAttrDef& a : d->attrs) known |= (a.name == name);
    if (!known && name.rfind("_", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": unknown attr '", name, "'"));
    }
  }
  // Inputs: count and dtypes.
  const auto& fanin = view.fanin(n);
  int num_data = 0;
  while (num_data < static_cast<int>(fanin.size()) && !fanin[num_data].is_control) ++num_data;
  if (num_data != static_cast<int>(d->inputs.size())) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": has ", num_data, " data inputs, OpDef says ",
                                                   d->inputs.size()));
  }
  for (int i = 0; i < num_data; ++i) {
    const OpArgDef& arg = d->inputs[i];
    DataType want = arg.fixed;
    if (want == tensorflow::DT_INVALID) {
      auto it = node.attr().find(arg.type_attr);
      if (it == node.attr().end()) continue;  // reported above
      want = it->second.type();
    }
    bool is_ref = false;
    auto got = OutputDtype(view, fanin[i].node, fanin[i].port, &is_ref);
    if (arg.is_ref && !is_ref) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": input ", i, " (", arg.name,
                                                     ") must be a ref tensor (a variable), got '",
                                                     view.node(fanin[i].node).name(), "'"));
    }
    if (got.has_value() && *got != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          who, ": input ", i, " (", arg.name, ") is ", DataTypeName(*got), ", OpDef wants ",
          DataTypeName(want), " (from '", view.node(fanin[i].node).name(), "')"));
    }
  }
  if (node.op() == "Const") {
    auto v = node.attr().find("value");
    auto t = node.attr().find("dtype");
    if (v->second.tensor().dtype() != t->second.type()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": value dtype differs from attr dtype"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tfqat

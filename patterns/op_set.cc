#include "patterns/op_set.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace tfqat::patterns {

OpSet::OpSet(std::initializer_list<const char*> ops) {
  for (const char* op : ops) {
    if (!Contains(op)) ops_.emplace_back(op);
  }
}

OpSet::OpSet(std::vector<std::string> ops) {
  for (auto& op : ops) {
    if (!Contains(op)) ops_.push_back(std::move(op));
  }
}

bool OpSet::Contains(absl::string_view op) const {
  for (const std::string& o : ops_) {
    if (o.size() == op.size() && absl::string_view(o) == op) return true;
  }
  return false;
}

OpSet OpSet::operator|(const OpSet& other) const {
  std::vector<std::string> all = ops_;
  for (const std::string& o : other.ops_) all.push_back(o);
  return OpSet(std::move(all));
}

std::string OpSet::ToString() const { return "{" + absl::StrJoin(ops_, ", ") + "}"; }

namespace ops {
const OpSet kConv2D{"Conv2D"};
const OpSet kDepthwiseConv2dNative{"DepthwiseConv2dNative"};
const OpSet kMatMul{"MatMul"};
const OpSet kConv2DBackpropInput{"Conv2DBackpropInput"};
const OpSet kWeightedInput1{"Conv2D", "DepthwiseConv2dNative", "MatMul"};
const OpSet kWeighted{"Conv2D", "DepthwiseConv2dNative", "MatMul", "Conv2DBackpropInput"};
const OpSet kBiasAdd{"BiasAdd"};
const OpSet kAdd{"Add", "AddV2"};
const OpSet kMul{"Mul"};
const OpSet kFusedBatchNorm{"FusedBatchNorm", "FusedBatchNormV3"};
const OpSet kActivation{"Relu", "Relu6", "Identity", "LeakyRelu", "Elu", "Tanh", "Sigmoid"};
const OpSet kConst{"Const"};
const OpSet kIdentity{"Identity"};
const OpSet kVariable{"VariableV2", "Variable"};
const OpSet kReadVariableOp{"ReadVariableOp"};
const OpSet kVarHandleOp{"VarHandleOp"};
const OpSet kFakeQuant{"FakeQuantWithMinMaxVars", "FakeQuantWithMinMaxVarsPerChannel",
                       "FakeQuantWithMinMaxArgs"};
const OpSet kSelectV2{"SelectV2"};
const OpSet kPassThrough{"AvgPool", "MaxPool", "Reshape", "Squeeze", "Pad"};
const OpSet kConcat{"ConcatV2"};
}  // namespace ops

}  // namespace tfqat::patterns

#include "graph/attrs.h"

#include "absl/strings/str_cat.h"

namespace tfqat {
namespace {

using tensorflow::AttrValue;

absl::StatusOr<const AttrValue*> Find(const tensorflow::NodeDef& node, absl::string_view name) {
  auto it = node.attr().find(std::string(name));
  if (it == node.attr().end()) {
    return absl::NotFoundError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                            "): missing attribute '", name, "'"));
  }
  return &it->second;
}

absl::Status WrongType(const tensorflow::NodeDef& node, absl::string_view name, absl::string_view want,
                       const AttrValue& got) {
  return absl::InvalidArgumentError(absl::StrCat("node '", node.name(), "' (", node.op(),
                                                 "): attribute '", name, "' must be ", want,
                                                 ", got ", AttrKindName(got)));
}

}  // namespace

std::string AttrKindName(const AttrValue& v) {
  switch (v.value_case()) {
    case AttrValue::kS: return "string";
    case AttrValue::kI: return "int";
    case AttrValue::kF: return "float";
    case AttrValue::kB: return "bool";
    case AttrValue::kType: return "type";
    case AttrValue::kShape: return "shape";
    case AttrValue::kTensor: return "tensor";
    case AttrValue::kFunc: return "func";
    case AttrValue::kPlaceholder: return "placeholder";
    case AttrValue::kList: {
      const auto& l = v.list();
      if (l.s_size()) return "list(string)";
      if (l.i_size()) return "list(int)";
      if (l.f_size()) return "list(float)";
      if (l.b_size()) return "list(bool)";
      if (l.type_size()) return "list(type)";
      if (l.shape_size()) return "list(shape)";
      if (l.tensor_size()) return "list(tensor)";
      if (l.func_size()) return "list(func)";
      return "list (empty)";
    }
    case AttrValue::VALUE_NOT_SET: return "unset";
  }
  return "unknown";
}

bool HasAttr(const tensorflow::NodeDef& node, absl::string_view name) {
  return node.attr().find(std::string(name)) != node.attr().end();
}

#define TFQAT_FIND_OR_RETURN(var)               \
  auto var##_or = Find(node, name);             \
  if (!var##_or.ok()) return var##_or.status(); \
  const AttrValue& var = **var##_or

template <>
absl::StatusOr<int64_t> GetAttr<int64_t>(const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kI) return WrongType(node, name, "int", v);
  return v.i();
}

template <>
absl::StatusOr<int> GetAttr<int>(const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kI) return WrongType(node, name, "int", v);
  return static_cast<int>(v.i());
}

template <>
absl::StatusOr<float> GetAttr<float>(const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kF) return WrongType(node, name, "float", v);
  return v.f();
}

template <>
absl::StatusOr<bool> GetAttr<bool>(const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kB) return WrongType(node, name, "bool", v);
  return v.b();
}

template <>
absl::StatusOr<std::string> GetAttr<std::string>(const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kS) return WrongType(node, name, "string", v);
  return v.s();
}

template <>
absl::StatusOr<tensorflow::DataType> GetAttr<tensorflow::DataType>(const tensorflow::NodeDef& node,
                                                                   absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kType) return WrongType(node, name, "type", v);
  return v.type();
}

template <>
absl::StatusOr<tensorflow::TensorShapeProto> GetAttr<tensorflow::TensorShapeProto>(
    const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kShape) return WrongType(node, name, "shape", v);
  return v.shape();
}

template <>
absl::StatusOr<tensorflow::TensorProto> GetAttr<tensorflow::TensorProto>(const tensorflow::NodeDef& node,
                                                                         absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kTensor) return WrongType(node, name, "tensor", v);
  return v.tensor();
}

// An empty list is stored by TF as an empty ListValue; accept it for any list type.
#define TFQAT_LIST_GETTER(T, field, kind)                                                     \
  template <>                                                                                 \
  absl::StatusOr<std::vector<T>> GetAttr<std::vector<T>>(const tensorflow::NodeDef& node,     \
                                                         absl::string_view name) {             \
    TFQAT_FIND_OR_RETURN(v);                                                                  \
    if (v.value_case() != AttrValue::kList) return WrongType(node, name, kind, v);            \
    const auto& l = v.list();                                                                 \
    std::string got = AttrKindName(v);                                                        \
    if (got != kind && got != "list (empty)") return WrongType(node, name, kind, v);          \
    return std::vector<T>(l.field().begin(), l.field().end());                                \
  }

TFQAT_LIST_GETTER(int64_t, i, "list(int)")
TFQAT_LIST_GETTER(int, i, "list(int)")
TFQAT_LIST_GETTER(float, f, "list(float)")
TFQAT_LIST_GETTER(std::string, s, "list(string)")
TFQAT_LIST_GETTER(tensorflow::TensorShapeProto, shape, "list(shape)")

template <>
absl::StatusOr<std::vector<tensorflow::DataType>> GetAttr<std::vector<tensorflow::DataType>>(
    const tensorflow::NodeDef& node, absl::string_view name) {
  TFQAT_FIND_OR_RETURN(v);
  if (v.value_case() != AttrValue::kList) return WrongType(node, name, "list(type)", v);
  std::string got = AttrKindName(v);
  if (got != "list(type)" && got != "list (empty)") return WrongType(node, name, "list(type)", v);
  std::vector<tensorflow::DataType> out;
  for (int t : v.list().type()) out.push_back(static_cast<tensorflow::DataType>(t));
  return out;
}

static AttrValue& Slot(tensorflow::NodeDef* node, absl::string_view name) {
  AttrValue& v = (*node->mutable_attr())[std::string(name)];
  v.Clear();
  return v;
}

void SetAttr(tensorflow::NodeDef* node, absl::string_view name, int64_t v) { Slot(node, name).set_i(v); }
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, float v) { Slot(node, name).set_f(v); }
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, bool v) { Slot(node, name).set_b(v); }
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, absl::string_view v) {
  Slot(node, name).set_s(std::string(v));
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const char* v) {
  Slot(node, name).set_s(v);
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, tensorflow::DataType v) {
  Slot(node, name).set_type(v);
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const tensorflow::TensorShapeProto& v) {
  *Slot(node, name).mutable_shape() = v;
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const tensorflow::TensorProto& v) {
  *Slot(node, name).mutable_tensor() = v;
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<int64_t>& v) {
  auto* l = Slot(node, name).mutable_list();
  for (int64_t x : v) l->add_i(x);
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<float>& v) {
  auto* l = Slot(node, name).mutable_list();
  for (float x : v) l->add_f(x);
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<std::string>& v) {
  auto* l = Slot(node, name).mutable_list();
  for (const auto& x : v) l->add_s(x);
}
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<tensorflow::DataType>& v) {
  auto* l = Slot(node, name).mutable_list();
  for (auto x : v) l->add_type(x);
}

}  // namespace tfqat

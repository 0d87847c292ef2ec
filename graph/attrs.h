// Typed access to NodeDef attributes. Every getter returns StatusOr with a message that
// names the node, its op and the attribute.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "proto/node_def.pb.h"

namespace tfqat {

// Supported T: int64_t, int, float, bool, std::string, tensorflow::DataType,
// tensorflow::TensorShapeProto, tensorflow::TensorProto, std::vector<int64_t>,
// std::vector<int>, std::vector<float>, std::vector<std::string>,
// std::vector<tensorflow::DataType>, std::vector<tensorflow::TensorShapeProto>.
template <typename T>
absl::StatusOr<T> GetAttr(const tensorflow::NodeDef& node, absl::string_view name);

// Like GetAttr but returns `fallback` when the attribute is absent (a present attribute of
// the wrong type is still an error).
template <typename T>
absl::StatusOr<T> GetAttrOr(const tensorflow::NodeDef& node, absl::string_view name, T fallback) {
  if (node.attr().find(std::string(name)) == node.attr().end()) return fallback;
  return GetAttr<T>(node, name);
}

bool HasAttr(const tensorflow::NodeDef& node, absl::string_view name);

void SetAttr(tensorflow::NodeDef* node, absl::string_view name, int64_t v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, float v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, bool v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, absl::string_view v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const char* v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, tensorflow::DataType v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const tensorflow::TensorShapeProto& v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const tensorflow::TensorProto& v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<int64_t>& v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<float>& v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<std::string>& v);
void SetAttr(tensorflow::NodeDef* node, absl::string_view name, const std::vector<tensorflow::DataType>& v);

// Name of the AttrValue oneof case ("int", "list(int)", "tensor", ...), for messages.
std::string AttrKindName(const tensorflow::AttrValue& v);

}  // namespace tfqat

// A node the rewriter emits, described once and either built as a NodeDef or encoded straight
// to GraphDef wire bytes (no NodeDef, no attribute map): the rewriter's nodes only use a few
// attribute kinds (type, bool, int, string, shape, small tensors), so their encoding is written
// field by field. The bytes are exactly what protobuf's deterministic serialization writes for
// the NodeDef that FillNodeDef builds (attributes in key order; tested in
// tests/rewriter/node_encoder_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "proto/graph.pb.h"

namespace tfqat {

// A TensorProto value: dtype, an optional shape message (present even when it has no dims,
// as `mutable_tensor_shape()` makes it) and one form of content.
struct TensorValue {
  tensorflow::DataType dtype = tensorflow::DT_INVALID;
  bool has_shape = false;
  absl::Span<const int64_t> dims;
  absl::Span<const float> float_val;  // TensorProto.float_val (packed)
  absl::Span<const int32_t> int_val;  // TensorProto.int_val (packed)
  absl::string_view content;          // TensorProto.tensor_content (omitted when empty)
};

// One attribute: its key and its AttrValue (one member of the value oneof).
struct AttrEntry {
  enum class Kind : uint8_t { kType, kBool, kInt, kString, kShape, kTensor };
  absl::string_view key;
  Kind kind = Kind::kType;
  int64_t i = 0;                  // kType, kBool, kInt
  absl::string_view s;            // kString
  absl::Span<const int64_t> dims;  // kShape
  const TensorValue* tensor = nullptr;  // kTensor

  static AttrEntry Type(absl::string_view key, tensorflow::DataType t) { return {key, Kind::kType, t}; }
  static AttrEntry Bool(absl::string_view key, bool b) { return {key, Kind::kBool, b ? 1 : 0}; }
  static AttrEntry Int(absl::string_view key, int64_t v) { return {key, Kind::kInt, v}; }
  static AttrEntry String(absl::string_view key, absl::string_view s) {
    AttrEntry a{key, Kind::kString};
    a.s = s;
    return a;
  }
  static AttrEntry Shape(absl::string_view key, absl::Span<const int64_t> dims) {
    AttrEntry a{key, Kind::kShape};
    a.dims = dims;
    return a;
  }
  static AttrEntry Tensor(absl::string_view key, const TensorValue* t) {
    AttrEntry a{key, Kind::kTensor};
    a.tensor = t;
    return a;
  }
};

struct NodeSpec {
  absl::string_view name;
  absl::string_view op;
  absl::Span<const absl::string_view> inputs;
  absl::Span<const AttrEntry> attrs;  // distinct keys, any order
};

// The node as a NodeDef (attributes set on a possibly recycled map: other keys are kept).
void FillNodeDef(const NodeSpec& spec, tensorflow::NodeDef* node);

// Writes the node as one GraphDef.node record (field 1, length-delimited), attributes in key
// order. EncodedNodeRecord::size gives the bytes to reserve; Write returns the end and sets
// *name_at to where the name's bytes were written.
class EncodedNodeRecord {
 public:
  explicit EncodedNodeRecord(const NodeSpec& spec);
  size_t size() const { return record_size_; }
  uint8_t* Write(uint8_t* p, const char** name_at) const;

 private:
  static constexpr int kMaxAttrs = 8;
  const NodeSpec& spec_;
  const AttrEntry* sorted_[kMaxAttrs];
  uint32_t value_size_[kMaxAttrs];
  int num_attrs_ = 0;
  size_t body_size_ = 0;
  size_t record_size_ = 0;
};

}  // namespace tfqat

// Decoding TensorProto to dense host arrays (and back).
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "proto/node_def.pb.h"
#include "proto/tensor.pb.h"
#include "proto/types.pb.h"

namespace tfqat {

// A dense C-order array of T with its shape.
template <typename T>
struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<T> values;

  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

// Byte size of one element (0 for string/resource/variant and unknown types).
size_t DataTypeSize(tensorflow::DataType t);
// TensorFlow's spelling: "float", "int32", "uint8", "float_ref", ...
std::string DataTypeName(tensorflow::DataType t);
// DT_FLOAT_REF -> DT_FLOAT.
tensorflow::DataType BaseType(tensorflow::DataType t);

// Fully-defined shape; error on unknown rank or unknown (-1) dims.
absl::StatusOr<std::vector<int64_t>> ShapeFromProto(const tensorflow::TensorShapeProto& shape);
tensorflow::TensorShapeProto ShapeToProto(const std::vector<int64_t>& shape);

// Decodes any numeric/bool tensor to T (values converted). Handles tensor_content and the
// typed *_val fields, including the short form where fewer values than elements are stored
// (the last value repeats, as TensorFlow does). `context` prefixes error messages
// (e.g. "node 'w' (Const)").
template <typename T>
absl::StatusOr<HostTensor<T>> DecodeTensor(const tensorflow::TensorProto& proto, absl::string_view context);

// Decodes the 'value' attribute of a Const node.
template <typename T>
absl::StatusOr<HostTensor<T>> DecodeConst(const tensorflow::NodeDef& node);

// Encodes with tensor_content (or the scalar *_val form for one element).
tensorflow::TensorProto EncodeTensor(const HostTensor<float>& t);
tensorflow::TensorProto EncodeTensor(const HostTensor<double>& t);
tensorflow::TensorProto EncodeTensor(const HostTensor<int32_t>& t);
tensorflow::TensorProto EncodeTensor(const HostTensor<int64_t>& t);
tensorflow::TensorProto EncodeTensor(const HostTensor<uint8_t>& t);
tensorflow::TensorProto EncodeTensor(const HostTensor<int8_t>& t);
tensorflow::TensorProto EncodeTensor(const HostTensor<bool>& t);

// Checks that a tensor's stored bytes agree with its shape and dtype.
absl::Status ValidateTensorProto(const tensorflow::TensorProto& proto, absl::string_view context);

}  // namespace tfqat

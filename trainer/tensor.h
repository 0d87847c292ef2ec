// The executor's value type: a dense C-order tensor with its TensorFlow dtype.
// Floating types (float, double, half) are held as float32; integer and bool types as int64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/npy.h"
#include "proto/tensor.pb.h"
#include "proto/types.pb.h"

namespace tfqat {

struct Tensor {
  tensorflow::DataType dtype = tensorflow::DT_FLOAT;
  std::vector<int64_t> shape;
  std::vector<float> f;    // data when is_float()
  std::vector<int64_t> i;  // data otherwise (integers, bool as 0/1)
  std::string resource;    // DT_RESOURCE handles: the variable's name

  bool is_float() const;
  int rank() const { return static_cast<int>(shape.size()); }
  int64_t dim(int d) const { return shape[d]; }
  int64_t num_elements() const;
  // Element e as double / int64 regardless of storage.
  double AsDouble(int64_t e) const { return is_float() ? f[e] : static_cast<double>(i[e]); }
  int64_t AsInt(int64_t e) const { return is_float() ? static_cast<int64_t>(f[e]) : i[e]; }
  std::string ShapeString() const;

  static Tensor Float(std::vector<int64_t> shape, std::vector<float> values);
  static Tensor Float(std::vector<int64_t> shape, float fill);
  static Tensor Int(tensorflow::DataType dtype, std::vector<int64_t> shape, std::vector<int64_t> values);
  static Tensor Scalar(float v) { return Float({}, std::vector<float>{v}); }
  // Allocates zeros of the dtype.
  static Tensor Zeros(tensorflow::DataType dtype, std::vector<int64_t> shape);
};

bool IsFloatType(tensorflow::DataType t);
int64_t NumElements(const std::vector<int64_t>& shape);

absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto, const std::string& context);
tensorflow::TensorProto TensorToProto(const Tensor& t);
absl::StatusOr<Tensor> TensorFromNpy(const NpyArray& a);
// float types -> float32 .npy, int32/int64/uint8/int8 keep their type, bool -> uint8.
NpyArray TensorToNpy(const Tensor& t);

}  // namespace tfqat

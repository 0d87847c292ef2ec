// The executor's value type: a dense C-order tensor with its TensorFlow dtype.
// Floating types (float, double, half) are held as float32; integer and bool types as int64.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// Float arrays kept by exact size between training steps, so that the activation- and
// gradient-sized arrays of one step are not allocated (and zero-filled) again in the next:
// the executor gives back the previous step's values, Backward its consumed gradients, and the
// hot kernels take their outputs from here. Arrays under kMinFloats are not kept; at most
// kMaxFloats floats are held. Not thread-safe (one pool per RunTrace).
class BufferPool {
 public:
  static constexpr size_t kMinFloats = 4096;
  static constexpr size_t kMaxFloats = size_t{64} << 20;
  // n floats, contents unspecified.
  std::vector<float> Take(size_t n);
  void Give(std::vector<float>&& v);
  size_t held_floats() const { return held_; }

 private:
  absl::flat_hash_map<size_t, std::vector<std::vector<float>>> free_;
  size_t held_ = 0;
};

// Makes t->f hold n floats with unspecified contents (kept when it already has n; else from
// the pool when there is one).
void ResizeUninitialized(Tensor* t, size_t n, BufferPool* pool);

bool IsFloatType(tensorflow::DataType t);
int64_t NumElements(const std::vector<int64_t>& shape);

absl::StatusOr<Tensor> TensorFromProto(const tensorflow::TensorProto& proto, const std::string& context);
tensorflow::TensorProto TensorToProto(const Tensor& t);
absl::StatusOr<Tensor> TensorFromNpy(const NpyArray& a);
// float types -> float32 .npy, int32/int64/uint8/int8 keep their type, bool -> uint8.
NpyArray TensorToNpy(const Tensor& t);

}  // namespace tfqat

// NumPy .npy files: the tensor exchange format of every tfqat command.
// Reads and writes float32/float64/int32/int64/uint8/int8 (plus bool as uint8 on read),
// little-endian, C order, format versions 1.0-3.0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tfqat {

enum class NpyDType { kFloat32, kFloat64, kInt32, kInt64, kUInt8, kInt8 };

const char* NpyDTypeName(NpyDType t);  // "float32", ...
size_t NpyDTypeSize(NpyDType t);

struct NpyArray {
  NpyDType dtype = NpyDType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // raw little-endian bytes, C order

  int64_t num_elements() const;
  template <typename T>
  const T* as() const { return reinterpret_cast<const T*>(data.data()); }
  template <typename T>
  T* mutable_as() { return reinterpret_cast<T*>(data.data()); }
  // Every element converted to float (any dtype).
  std::vector<float> ToFloat() const;
  static NpyArray FromFloat(std::vector<int64_t> shape, const std::vector<float>& values);
  static NpyArray Zeros(NpyDType dtype, std::vector<int64_t> shape);
};

// Parses .npy bytes; `origin` names the file in error messages.
absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& origin);
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);
std::string SerializeNpy(const NpyArray& array);
// Atomic write (temp file + rename).
absl::Status WriteNpy(const std::string& path, const NpyArray& array);

}  // namespace tfqat

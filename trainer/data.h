// Training data: .npy (N x ... float, or uint8 scaled by `scale`) and MNIST IDX files
// (optionally gzip-compressed; read with zlib).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/tensor.h"

namespace tfqat {

struct Dataset {
  Tensor x;                     // float, first dim = examples
  std::vector<int64_t> labels;  // one class index per example
  int64_t size() const { return x.shape.empty() ? 0 : x.shape[0]; }
};

// Reads a tensor from .npy or IDX (by content: the IDX magic 0x0000080?; .gz by its magic).
// Integer data is converted to float and multiplied by `scale`; float data is kept.
absl::StatusOr<Tensor> LoadDataTensor(const std::string& path, float scale);
// Labels: any integer .npy/IDX (or float .npy holding integers), flattened.
absl::StatusOr<std::vector<int64_t>> LoadLabels(const std::string& path);
// Parses IDX bytes (already decompressed).
absl::StatusOr<Tensor> ParseIdx(const std::string& bytes, const std::string& origin);

}  // namespace tfqat

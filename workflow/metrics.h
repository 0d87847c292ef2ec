// Numbers the pipeline and compare report: accuracy, agreement, SQNR, errors in LSBs.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/npy.h"

namespace tfqat::workflow {

// Row-wise argmax of a [N, C] (or [N, 1, 1, C]) score array.
absl::StatusOr<std::vector<int64_t>> ArgMaxRows(const NpyArray& scores);
// Labels as int64 (any integer .npy, shape [N] or [N,1]).
absl::StatusOr<std::vector<int64_t>> Labels(const NpyArray& labels);

double Accuracy(const std::vector<int64_t>& predictions, const std::vector<int64_t>& labels);
// Fraction of equal entries.
double Agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

struct ErrorStats {
  double sqnr_db = 0;     // 10·log10(Σref² / Σ(ref − x)²); +inf when identical
  double max_abs = 0;
  double mean_abs = 0;
  double max_lsb = 0;     // max_abs / scale (when scale > 0)
  int64_t count = 0;
};

// Compares `x` against the reference `ref` (same element count); `scale` is the output
// quantization step used to express the error in LSBs (0: not reported).
absl::StatusOr<ErrorStats> CompareArrays(const std::vector<float>& ref, const std::vector<float>& x,
                                         double scale);

}  // namespace tfqat::workflow

#include "workflow/metrics.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tfqat::workflow {

absl::StatusOr<std::vector<int64_t>> ArgMaxRows(const NpyArray& scores) {
  if (scores.shape.empty()) return absl::InvalidArgumentError("scores must have a batch dimension");
  const int64_t n = scores.shape[0];
  if (n == 0) return std::vector<int64_t>{};
  const int64_t total = scores.num_elements();
  const int64_t c = total / n;
  if (c <= 0) return absl::InvalidArgumentError("scores have no classes");
  std::vector<float> v = scores.ToFloat();
  std::vector<int64_t> out(n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j) {
      if (v[i * c + j] > v[i * c + best]) best = j;
    }
    out[i] = best;
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> Labels(const NpyArray& labels) {
  if (labels.dtype == NpyDType::kFloat32 || labels.dtype == NpyDType::kFloat64) {
    return absl::InvalidArgumentError("labels must be an integer array (sparse class ids)");
  }
  if (labels.shape.size() > 2 || (labels.shape.size() == 2 && labels.shape[1] != 1)) {
    return absl::InvalidArgumentError("labels must have shape [N] or [N, 1]");
  }
  std::vector<float> f = labels.ToFloat();
  std::vector<int64_t> out(f.size());
  for (size_t i = 0; i < f.size(); ++i) out[i] = static_cast<int64_t>(f[i]);
  return out;
}

double Accuracy(const std::vector<int64_t>& predictions, const std::vector<int64_t>& labels) {
  const size_t n = std::min(predictions.size(), labels.size());
  if (n == 0) return 0.0;
  size_t ok = 0;
  for (size_t i = 0; i < n; ++i) ok += predictions[i] == labels[i];
  return static_cast<double>(ok) / static_cast<double>(n);
}

double Agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) { return Accuracy(a, b); }

absl::StatusOr<ErrorStats> CompareArrays(const std::vector<float>& ref, const std::vector<float>& x,
                                         double scale) {
  if (ref.size() != x.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("arrays differ in size: ", ref.size(), " vs ", x.size()));
  }
  ErrorStats s;
  s.count = static_cast<int64_t>(ref.size());
  double signal = 0, noise = 0, sum_abs = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double r = ref[i], d = static_cast<double>(x[i]) - r;
    signal += r * r;
    noise += d * d;
    sum_abs += std::fabs(d);
    s.max_abs = std::max(s.max_abs, std::fabs(d));
  }
  s.mean_abs = ref.empty() ? 0.0 : sum_abs / static_cast<double>(ref.size());
  s.sqnr_db = noise == 0 ? std::numeric_limits<double>::infinity()
                         : 10.0 * std::log10(std::max(signal, 1e-300) / noise);
  s.max_lsb = scale > 0 ? s.max_abs / scale : 0.0;
  return s;
}

}  // namespace tfqat::workflow

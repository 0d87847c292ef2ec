// Weight packing for the optimized float conv (portable code; runs once at plan time).
#include <cmath>

#include "runtime/optimized/conv_float_packed.h"

namespace tfqat::runtime::optimized {

bool PackFloatConv(const float* filter, int n, int k, const float* bias, PackedFloatConv* out) {
  if (n <= 0 || k <= 0) return false;
  for (int64_t i = 0; i < static_cast<int64_t>(n) * k; ++i)
    if (!std::isfinite(filter[i])) return false;
  for (int c = 0; bias != nullptr && c < n; ++c)
    if (!std::isfinite(bias[c])) return false;
  PackedFloatConv& w = *out;
  w.n = n;
  w.k = k;
  w.panels = (n + kGemmNr - 1) / kGemmNr;
  w.data.assign(static_cast<size_t>(w.panels) * k * kGemmNr, 0.f);
  for (int c = 0; c < n; ++c)
    for (int kk = 0; kk < k; ++kk)
      w.data[(static_cast<size_t>(c / kGemmNr) * k + kk) * kGemmNr + c % kGemmNr] =
          filter[static_cast<size_t>(c) * k + kk];
  w.bias.assign(static_cast<size_t>(w.panels) * kGemmNr, 0.f);
  w.has_bias = bias != nullptr;
  for (int c = 0; bias != nullptr && c < n; ++c) w.bias[c] = bias[c];
  return true;
}

}  // namespace tfqat::runtime::optimized

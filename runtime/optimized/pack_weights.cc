// Weight packing for the optimized GEMM (portable code; runs once at plan time).
#include <algorithm>

#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

template <typename T>
bool PackGemmWeights(const T* filter, int n, int k, int32_t weights_offset, const int32_t* bias,
                     const int32_t* multiplier, const int32_t* shift, int threads,
                     PackedGemmWeights* out) {
  if (n <= 0 || k <= 0 || weights_offset < -255 || weights_offset > 255) return false;
  for (int c = 0; c < n; ++c)
    if (multiplier[c] < 0 || shift[c] > 31 || (shift[c] < -31 && multiplier[c] != 0)) return false;
  PackedGemmWeights& w = *out;
  w.n = n;
  w.k = k;
  w.k2 = (k + 1) / 2 * 2;
  w.panels = (n + kGemmNr - 1) / kGemmNr;
  w.threads = std::max(1, threads);
  const int kpairs = w.k2 / 2;
  w.data.assign(static_cast<size_t>(w.panels) * kpairs * 2 * kGemmNr, 0);
  for (int p = 0; p < w.panels; ++p)
    for (int j = 0; j < kGemmNr; ++j) {
      const int c = p * kGemmNr + j;
      if (c >= n) continue;
      for (int kk = 0; kk < k; ++kk) {
        const size_t dst = (static_cast<size_t>(p) * kpairs + kk / 2) * 2 * kGemmNr + 2 * j + kk % 2;
        w.data[dst] = static_cast<int16_t>(static_cast<int32_t>(filter[static_cast<size_t>(c) * k + kk]) +
                                           weights_offset);
      }
    }
  const size_t padded = static_cast<size_t>(w.panels) * kGemmNr;
  w.bias.assign(padded, 0);
  w.multiplier.assign(padded, 0);
  w.left_shift.assign(padded, 0);
  w.right_shift.assign(padded, 0);
  w.any_left_shift = false;
  for (int c = 0; c < n; ++c) {
    w.bias[c] = bias ? bias[c] : 0;
    w.multiplier[c] = multiplier[c];
    w.left_shift[c] = shift[c] > 0 ? shift[c] : 0;
    w.right_shift[c] = shift[c] > 0 ? 0 : std::min(-shift[c], 31);
    w.any_left_shift = w.any_left_shift || w.left_shift[c] > 0;
  }
  w.multiplier_odd.assign(padded, 0);
  w.round_mask.assign(padded, 0);
  w.round_half.assign(padded, 0);
  for (size_t c = 0; c < padded; ++c) {
    if (c % 2 == 0) w.multiplier_odd[c] = w.multiplier[c + 1];
    const uint32_t mask = (uint32_t{1} << w.right_shift[c]) - 1;
    w.round_mask[c] = static_cast<int32_t>(mask);
    w.round_half[c] = static_cast<int32_t>(mask >> 1);
  }
  return true;
}

template bool PackGemmWeights<int8_t>(const int8_t*, int, int, int32_t, const int32_t*,
                                      const int32_t*, const int32_t*, int, PackedGemmWeights*);
template bool PackGemmWeights<uint8_t>(const uint8_t*, int, int, int32_t, const int32_t*,
                                       const int32_t*, const int32_t*, int, PackedGemmWeights*);

}  // namespace tfqat::runtime::optimized

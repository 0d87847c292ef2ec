// Weight packing for the optimized GEMM (portable code; runs once at plan time).
#include <algorithm>
#include <cstring>

#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

namespace {

// Tables of the one-shift epilogue (requantize_avx2.h). With p = x * M (x the int32 accumulator
// + bias, M the Q31 multiplier, s >= 1 the right shift), TFLite's
//   RoundingDivideByPOT(floor((p + 2^30) / 2^31), s)
// (half up, then half away from zero) equals floor((p + 2^30 + c * 2^31) / 2^(31 + s)) with
// c = 2^(s-1) for p >= 0 and 2^(s-1) - 1 for p < 0 (nested floors of integer divisions merge).
// 2^62 is added so that the 64-bit sum is never negative (|p| < 2^62) and a logical shift can take
// the bits; it leaves 2^(31 - s) in the result, which offset_fix removes.
void BuildOneShiftTables(int n, PackedGemmWeights* out) {
  PackedGemmWeights& w = *out;
  const size_t padded = w.multiplier.size();
  w.one_shift = !w.any_left_shift;
  for (int c = 0; c < n && w.one_shift; ++c) w.one_shift = w.right_shift[c] >= 1;
  w.one_shift_table.clear();
  if (!w.one_shift) return;
  w.one_shift_table.assign(padded / 8 * kOneShiftBlock, 0);
  auto put64 = [&w](size_t at, int64_t v) { std::memcpy(&w.one_shift_table[at], &v, sizeof v); };
  for (size_t c = 0; c < padded; ++c) {
    // Padding channels (never stored) take shift 1 like any valid channel.
    const int s = c < static_cast<size_t>(n) ? w.right_shift[c] : 1;
    const int64_t pos = (int64_t{1} << 62) + (int64_t{1} << 30) + (int64_t{1} << (30 + s));
    const int64_t neg = pos - (int64_t{1} << 31);
    const size_t block = c / 8 * kOneShiftBlock, i = c % 8, lane64 = 2 * (i / 2);
    w.one_shift_table[block + kOneShiftBias + i] = w.bias[c];
    w.one_shift_table[block + kOneShiftMult + i] = w.multiplier[c];
    w.one_shift_table[block + kOneShiftMultOdd + i] = w.multiplier_odd[c];
    w.one_shift_table[block + kOneShiftFix + i] =
        static_cast<int32_t>(0u - (uint32_t{1} << (31 - s)));
    if (i % 2 == 0) {
      put64(block + kOneShiftShiftEven + lane64, 31 + s);
      put64(block + kOneShiftAddEvenPos + lane64, pos);
      put64(block + kOneShiftAddEvenNeg + lane64, neg);
    } else {
      put64(block + kOneShiftShiftOdd + lane64, s - 1);
      put64(block + kOneShiftAddOddPos + lane64, pos);
      put64(block + kOneShiftAddOddNeg + lane64, neg);
    }
  }
}

}  // namespace

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
  BuildOneShiftTables(n, &w);
  return true;
}

template bool PackGemmWeights<int8_t>(const int8_t*, int, int, int32_t, const int32_t*,
                                      const int32_t*, const int32_t*, int, PackedGemmWeights*);
template bool PackGemmWeights<uint8_t>(const uint8_t*, int, int, int32_t, const int32_t*,
                                       const int32_t*, const int32_t*, int, PackedGemmWeights*);

}  // namespace tfqat::runtime::optimized

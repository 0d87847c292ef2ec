// Plan-time part of the exact Winograd F(2x2, 3x3) conv (portable): when it applies, scratch
// sizes, and the transformed filters 4U = G' g G'^T, G' = 2G = [2 0 0; 1 1 1; 1 -1 1; 0 0 2].
#include <cstdint>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/winograd_layout.h"

namespace tfqat::runtime::optimized {

bool WinogradApplies(const ConvGeometry& g) {
  // in_d <= 900 keeps |S| <= 9 * in_d * 255^2 below 2^29 (see gemm_packed.h). Below 16 input or
  // output channels the transforms cost more than the multiplications they save.
  if (g.f_h != 3 || g.f_w != 3 || g.stride_h != 1 || g.stride_w != 1 || g.dil_h != 1 ||
      g.dil_w != 1 || g.in_d < 16 || g.in_d > 900 || g.out_d < 16) {
    return false;
  }
  return WinogradLayout::Of(g).image_bytes <= (64u << 20);
}

size_t WinogradScratchBytes(const ConvGeometry& g, int threads) {
  return WinogradLayout::Of(g).ScratchBytes(threads);
}

template <typename T>
void PackWinogradWeights(const T* filter, const ConvGeometry& g, int32_t weights_offset,
                         PackedGemmWeights* w) {
  static constexpr int kG[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
  const WinogradLayout l = WinogradLayout::Of(g);
  const int kpairs = l.cp / 2;
  w->winograd_k = l.cp;
  w->winograd_data.assign(static_cast<size_t>(16) * l.panels * kpairs * 2 * kGemmNr, 0);
  for (int n = 0; n < g.out_d; ++n) {
    const int p = n / kGemmNr, j = n % kGemmNr;
    for (int c = 0; c < g.in_d; ++c) {
      int32_t f[3][3];
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 3; ++x)
          f[y][x] = static_cast<int32_t>(
                        filter[((static_cast<size_t>(n) * 3 + y) * 3 + x) * g.in_d + c]) +
                    weights_offset;
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          int32_t u = 0;
          for (int y = 0; y < 3; ++y)
            for (int x = 0; x < 3; ++x) u += kG[a][y] * f[y][x] * kG[b][x];
          const size_t dst =
              ((static_cast<size_t>(a * 4 + b) * l.panels + p) * kpairs + c / 2) * 2 * kGemmNr +
              2 * j + c % 2;
          w->winograd_data[dst] = static_cast<int16_t>(u);  // |u| <= 9 * 255
        }
    }
  }
}

template void PackWinogradWeights<int8_t>(const int8_t*, const ConvGeometry&, int32_t,
                                          PackedGemmWeights*);
template void PackWinogradWeights<uint8_t>(const uint8_t*, const ConvGeometry&, int32_t,
                                           PackedGemmWeights*);

}  // namespace tfqat::runtime::optimized

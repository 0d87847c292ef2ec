// Sizes of the exact Winograd F(2x2, 3x3) conv (conv_winograd_avx2.cc): tiles, the padded image
// and the per-thread block buffers. Portable; shared by the plan-time packing and the driver.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "runtime/optimized/gemm_packed.h"

namespace tfqat::runtime::optimized {

struct WinogradLayout {
  int64_t tiles_h = 0, tiles_w = 0;  // 2x2 output tiles per image (rounded up)
  int64_t tiles = 0;                 // over all batches
  int64_t img_h = 0, img_w = 0;      // padded int16 image: 2 * tiles + 2 pixels
  int cp = 0;                        // in_d rounded up to even (the GEMM's k)
  int panels = 0;                    // 16-channel output panels
  int block = 0;                     // tiles per block, a multiple of kGemmMr
  size_t image_bytes = 0;            // the padded image, 64-byte multiple
  size_t v_bytes = 0,
         m_bytes = 0;  // one thread's V [16][block][cp] int16, M [16][block/6][panels][6][16] int32

  static WinogradLayout Of(const ConvGeometry& g) {
    WinogradLayout l;
    l.tiles_h = (g.out_h + 1) / 2;
    l.tiles_w = (g.out_w + 1) / 2;
    l.tiles = static_cast<int64_t>(g.batches) * l.tiles_h * l.tiles_w;
    l.img_h = 2 * l.tiles_h + 2;
    l.img_w = 2 * l.tiles_w + 2;
    l.cp = (g.in_d + 1) / 2 * 2;
    l.panels = (g.out_d + kGemmNr - 1) / kGemmNr;
    // V of a block within ~64 KB and M within ~256 KB (L2), at least one 6-tile row.
    const int64_t by_v = (64 << 10) / (16 * l.cp * 2);
    const int64_t by_m = (256 << 10) / (16 * l.panels * 4 * kGemmNr);
    const int64_t b = std::max<int64_t>(1, std::min<int64_t>({by_v, by_m, 48}) / kGemmMr);
    const int64_t needed = (l.tiles + kGemmMr - 1) / kGemmMr;
    l.block = static_cast<int>(std::min(b, needed) * kGemmMr);
    auto round64 = [](size_t x) { return (x + 63) / 64 * 64; };
    l.image_bytes =
        round64(static_cast<size_t>(g.batches) * l.img_h * l.img_w * g.in_d * sizeof(int16_t));
    l.v_bytes = round64(static_cast<size_t>(16) * l.block * l.cp * sizeof(int16_t));
    l.m_bytes = round64(static_cast<size_t>(16) * l.block * l.panels * kGemmNr * sizeof(int32_t));
    return l;
  }
  size_t ScratchBytes(int threads) const {
    return image_bytes + static_cast<size_t>(std::max(1, threads)) * (v_bytes + m_bytes);
  }
};

}  // namespace tfqat::runtime::optimized

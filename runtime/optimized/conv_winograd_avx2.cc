// Exact integer Winograd F(2x2, 3x3) for 3x3 stride-1 int8/uint8 convs on AVX2
// (docs/runtime_optimized.md, gemm_packed.h for why it is exact). Per call:
//   1. the input is copied into scratch as a zero-padded int16 image with the input offset
//      applied (2 * tiles + 2 pixels per side, so every 4x4 tile window is inside), row by row
//      on demand by the thread whose tile block first needs a row;
//   2. blocks of 2x2-output tiles are handed out to threads; per block:
//      V[xi][tile][c] = (B^T d B)[xi] for the tile's 4x4 window d (int16, |V| <= 4 * 255),
//      M[xi] = V[xi] x 4U[xi] for the 16 positions xi: the 6x16 int16 micro-kernel with k = in_d,
//      Y' = A^T M A = 4 S (int32, wraps), S = Y' >> 2, then the usual requantization epilogue.
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1].
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/gemm_tile_avx2.h"
#include "runtime/optimized/on_demand_rows.h"
#include "runtime/optimized/winograd_layout.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

// Input transform of `count` tiles starting at flat tile index t0 into V [16][block][cp].
void InputTransform(const ConvGeometry& g, const WinogradLayout& l, const int16_t* image,
                    int64_t t0, int count, int16_t* v) {
  const int64_t per_image = l.tiles_h * l.tiles_w;
  const int64_t pix = g.in_d, row = l.img_w * g.in_d;
  const int64_t xi_stride = static_cast<int64_t>(l.block) * l.cp;
  for (int i = 0; i < count; ++i) {
    const int64_t t = t0 + i, b = t / per_image, ty = (t % per_image) / l.tiles_w,
                  tx = t % l.tiles_w;
    const int16_t* d = image + ((b * l.img_h + 2 * ty) * l.img_w + 2 * tx) * pix;
    int16_t* dst = v + static_cast<int64_t>(i) * l.cp;
    int c = 0;
    for (; c + 16 <= g.in_d; c += 16) {
      __m256i s[4][4];
      for (int x = 0; x < 4; ++x) {
        auto ld = [&](int y) {
          return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(d + y * row + x * pix + c));
        };
        const __m256i d0 = ld(0), d1 = ld(1), d2 = ld(2), d3 = ld(3);
        s[0][x] = _mm256_sub_epi16(d0, d2);
        s[1][x] = _mm256_add_epi16(d1, d2);
        s[2][x] = _mm256_sub_epi16(d2, d1);
        s[3][x] = _mm256_sub_epi16(d1, d3);
      }
      for (int y = 0; y < 4; ++y) {
        auto st = [&](int x, __m256i val) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (4 * y + x) * xi_stride + c), val);
        };
        st(0, _mm256_sub_epi16(s[y][0], s[y][2]));
        st(1, _mm256_add_epi16(s[y][1], s[y][2]));
        st(2, _mm256_sub_epi16(s[y][2], s[y][1]));
        st(3, _mm256_sub_epi16(s[y][1], s[y][3]));
      }
    }
    for (; c < g.in_d; ++c) {
      int32_t s[4][4];
      for (int x = 0; x < 4; ++x) {
        const int32_t d0 = d[x * pix + c], d1 = d[row + x * pix + c], d2 = d[2 * row + x * pix + c],
                      d3 = d[3 * row + x * pix + c];
        s[0][x] = d0 - d2, s[1][x] = d1 + d2, s[2][x] = d2 - d1, s[3][x] = d1 - d3;
      }
      for (int y = 0; y < 4; ++y) {
        dst[(4 * y + 0) * xi_stride + c] = static_cast<int16_t>(s[y][0] - s[y][2]);
        dst[(4 * y + 1) * xi_stride + c] = static_cast<int16_t>(s[y][1] + s[y][2]);
        dst[(4 * y + 2) * xi_stride + c] = static_cast<int16_t>(s[y][2] - s[y][1]);
        dst[(4 * y + 3) * xi_stride + c] = static_cast<int16_t>(s[y][1] - s[y][3]);
      }
    }
    if (c < l.cp)  // odd in_d: the padding k (its weight is 0) reads a defined 0
      for (int xi = 0; xi < 16; ++xi) dst[xi * xi_stride + g.in_d] = 0;
  }
}

// M [16][microtiles][panels][6][16] = V x 4U for the 16 positions.
template <bool kVnni>
void BlockGemms(const WinogradLayout& l, const PackedGemmWeights& w, const int16_t* v, int count,
                int32_t* m) {
  const int microtiles = (count + kGemmMr - 1) / kGemmMr;
  const int pairs = l.cp / 2;
  const int64_t lda_bytes = static_cast<int64_t>(l.cp) * 2;
  for (int xi = 0; xi < 16; ++xi) {
    const int16_t* vx = v + static_cast<int64_t>(xi) * l.block * l.cp;
    const int16_t* wx = w.winograd_data.data() + static_cast<int64_t>(xi) * l.panels * pairs * 32;
    int32_t* mx = m + static_cast<int64_t>(xi) * microtiles * l.panels * 96;
    for (int mt = 0; mt < microtiles; ++mt) {
      const int mr = std::min(kGemmMr, count - mt * kGemmMr);
      for (int p = 0; p < l.panels; ++p)
        GemmTileRows<kVnni>(mr, vx + static_cast<int64_t>(mt) * kGemmMr * l.cp, lda_bytes, 0, 1,
                            pairs, wx + static_cast<int64_t>(p) * pairs * 32,
                            mx + (static_cast<int64_t>(mt) * l.panels + p) * 96);
    }
  }
}

// Y' = A^T M A for 8 channels: y[r][s] (r, s in {0, 1}), then S = Y' >> 2.
inline void OutputTransform8(const int32_t* m, int64_t xi_stride, __m256i y[2][2]) {
  auto ld = [&](int xi) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(m + xi * xi_stride));
  };
  __m256i s[2][4];
  for (int x = 0; x < 4; ++x) {
    const __m256i m0 = ld(x), m1 = ld(4 + x), m2 = ld(8 + x), m3 = ld(12 + x);
    s[0][x] = _mm256_add_epi32(_mm256_add_epi32(m0, m1), m2);
    s[1][x] = _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), m3);
  }
  for (int r = 0; r < 2; ++r) {
    y[r][0] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(s[r][0], s[r][1]), s[r][2]), 2);
    y[r][1] = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(s[r][1], s[r][2]), s[r][3]), 2);
  }
}

template <typename T>
void BlockOutputs(const ConvGeometry& g, const WinogradLayout& l, const PackedGemmWeights& w,
                  const int32_t* m, int64_t t0, int count, const Epilogue& e, T* output) {
  const int microtiles = (count + kGemmMr - 1) / kGemmMr;
  const int64_t xi_stride = static_cast<int64_t>(microtiles) * l.panels * 96;
  const int64_t per_image = l.tiles_h * l.tiles_w;
  for (int p = 0; p < l.panels; ++p) {
    const int n0 = p * kGemmNr, ncols = std::min(kGemmNr, w.n - n0);
    const PanelConsts k = LoadPanelConsts(w, n0, e);
    for (int i = 0; i < count; ++i) {
      const int32_t* mi =
          m + (static_cast<int64_t>(i / kGemmMr) * l.panels + p) * 96 + (i % kGemmMr) * kGemmNr;
      __m256i lo[2][2], hi[2][2];
      OutputTransform8(mi, xi_stride, lo);
      OutputTransform8(mi + 8, xi_stride, hi);
      const int64_t t = t0 + i, b = t / per_image, ty = (t % per_image) / l.tiles_w,
                    tx = t % l.tiles_w;
      for (int r = 0; r < 2; ++r) {
        const int64_t oy = 2 * ty + r;
        if (oy >= g.out_h) break;
        for (int s = 0; s < 2; ++s) {
          const int64_t ox = 2 * tx + s;
          if (ox >= g.out_w) break;
          T* o = output + ((b * g.out_h + oy) * g.out_w + ox) * w.n + n0;
          StoreRow<T>(k, lo[r][s], hi[r][s], e, o, ncols);
        }
      }
    }
  }
}

template <typename T>
void ConvWinograd(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                  int32_t output_offset, int32_t act_min, int32_t act_max, const T* input,
                  T* output, const KernelContext& ctx) {
  const WinogradLayout l = WinogradLayout::Of(g);
  uint8_t* scratch = static_cast<uint8_t*>(ctx.scratch);
  int16_t* image = reinterpret_cast<int16_t*>(scratch);
  // As many threads as the scratch has block buffers for (it was sized for w.threads).
  const int64_t fit =
      (static_cast<int64_t>(ctx.scratch_bytes) - static_cast<int64_t>(l.image_bytes)) /
      static_cast<int64_t>(l.v_bytes + l.m_bytes);
  const int threads =
      ctx.pool == nullptr
          ? 1
          : static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(ctx.num_threads, fit)));
  const PaddedImage pi{l.img_h, l.img_w};
  // Image rows are built on demand by the threads whose tile blocks need them.
  OnDemandRows on_demand(static_cast<int64_t>(g.batches) * pi.h);
  const int64_t per_image = l.tiles_h * l.tiles_w;
  auto image_row = [&](int64_t t) {
    return (t / per_image) * pi.h + 2 * ((t % per_image) / l.tiles_w);
  };
  const Epilogue e = MakeEpilogue<T>(output_offset, act_min, act_max);
  const int64_t blocks = (l.tiles + l.block - 1) / l.block;
  std::atomic<int64_t> next{0};
  const int tasks = static_cast<int>(std::min<int64_t>(threads, blocks));
  ParallelFor(ctx.pool, tasks, [&](int task) {
    uint8_t* mine = scratch + l.image_bytes + static_cast<size_t>(task) * (l.v_bytes + l.m_bytes);
    int16_t* v = reinterpret_cast<int16_t*>(mine);
    int32_t* m = reinterpret_cast<int32_t*>(mine + l.v_bytes);
    for (int64_t blk; (blk = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) {
      const int64_t t0 = blk * l.block;
      const int count = static_cast<int>(std::min<int64_t>(l.block, l.tiles - t0));
      on_demand.Ensure(image_row(t0), image_row(t0 + count - 1) + 4, [&](int64_t r) {
        ConvertImageRows(g, pi, input, static_cast<int16_t>(input_offset), r, r + 1, image);
      });
      InputTransform(g, l, image, t0, count, v);
      if (w.use_avxvnni) {
        BlockGemms<true>(l, w, v, count, m);
      } else {
        BlockGemms<false>(l, w, v, count, m);
      }
      BlockOutputs<T>(g, l, w, m, t0, count, e, output);
    }
  });
}

}  // namespace

void ConvWinogradInt8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                          int32_t output_offset, int32_t act_min, int32_t act_max,
                          const int8_t* input, int8_t* output, const KernelContext& ctx) {
  ConvWinograd<int8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}
void ConvWinogradUint8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                           int32_t output_offset, int32_t act_min, int32_t act_max,
                           const uint8_t* input, uint8_t* output, const KernelContext& ctx) {
  ConvWinograd<uint8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}

}  // namespace tfqat::runtime::optimized

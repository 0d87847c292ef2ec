// Shared pieces of the AVX2 conv/FC drivers (include from *_avx2.cc only): int16 widening of
// activations with the input offset applied, and runs of MR x 16 tiles = micro-kernel + epilogue.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/microkernel_avx2.h"
#include "runtime/optimized/requantize_avx2.h"

namespace tfqat::runtime::optimized {

template <typename T>
inline __m256i Widen16(const T* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return std::is_same<T, int8_t>::value ? _mm256_cvtepi8_epi16(v) : _mm256_cvtepu8_epi16(v);
}

// dst[i] = src[i] + offset as int16, n values.
template <typename T>
inline void ConvertRow(const T* src, int n, int16_t offset, int16_t* dst) {
  const __m256i off = _mm256_set1_epi16(offset);
  int i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_add_epi16(Widen16(src + i), off));
  for (; i < n; ++i) dst[i] = static_cast<int16_t>(src[i] + offset);
}

// The zero-padded int16 image the implicit and Winograd convs read (h x w pixels per batch).
struct PaddedImage {
  int64_t h, w;  // padded height and width in pixels
  static PaddedImage Of(const ConvGeometry& g) {
    return {static_cast<int64_t>(g.out_h - 1) * g.stride_h + g.f_h,
            static_cast<int64_t>(g.out_w - 1) * g.stride_w + g.f_w};
  }
};

// Rows [row_begin, row_end) of the batches x pi.h padded image: input + offset, 0 outside.
template <typename T>
inline void ConvertImageRows(const ConvGeometry& g, const PaddedImage& pi, const T* input,
                             int16_t offset, int64_t row_begin, int64_t row_end, int16_t* image) {
  const int64_t row_len = pi.w * g.in_d;
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / pi.h, py = row % pi.h;
    int16_t* dst = image + row * row_len;
    const int64_t iy = py - g.pad_h;
    if (iy < 0 || iy >= g.in_h) {
      std::memset(dst, 0, sizeof(int16_t) * row_len);
      continue;
    }
    // Padded columns px map to input columns px - pad_w; [x0, x1) are inside the input.
    const int64_t x0 = std::min<int64_t>(pi.w, std::max<int64_t>(0, g.pad_w));
    const int64_t x1 = std::max<int64_t>(x0, std::min<int64_t>(pi.w, g.in_w + g.pad_w));
    std::memset(dst, 0, sizeof(int16_t) * x0 * g.in_d);
    if (x1 > x0) {
      const T* src = input + ((b * g.in_h + iy) * g.in_w + (x0 - g.pad_w)) * g.in_d;
      ConvertRow(src, static_cast<int>((x1 - x0) * g.in_d), offset, dst + x0 * g.in_d);
    }
    std::memset(dst + x1 * g.in_d, 0, sizeof(int16_t) * (pi.w - x1) * g.in_d);
  }
}

// `count` rows lda_bytes apart (each nseg segments of `pairs` k pairs, see GemmTile6x16: one for
// 1x1 convs, FC and im2col blocks, f_h for the implicit conv) times panels [p_begin, p_end),
// outputs row-major with stride w.n. Panel by panel, so that a panel's epilogue constants are
// loaded once per run instead of once per 6-row tile; the rows (a few dozen) stay in L1 across
// the panels. The one-shift epilogue runs channel group by channel group over a tile (its 10
// constants stay in registers), then narrows the rows.
template <typename T, bool kVnni>
inline void RowsTimesPanels(const int16_t* a, int64_t lda_bytes, int64_t seg_stride_bytes,
                            int nseg, int pairs, int64_t count, const PackedGemmWeights& w,
                            int p_begin, int p_end, const Epilogue& e, T* out) {
  const int kpairs = w.k2 / 2;
  alignas(32) int32_t acc[6 * 16];
  auto row = [&acc](int r, int half) { return reinterpret_cast<__m256i*>(acc + 16 * r + 8 * half); };
  for (int p = p_begin; p < p_end; ++p) {
    const int n0 = p * kGemmNr, ncols = std::min(kGemmNr, w.n - n0);
    const int16_t* b = w.data.data() + static_cast<int64_t>(p) * kpairs * 32;
    auto tile = [&](int64_t r0) {
      const int mr = static_cast<int>(std::min<int64_t>(kGemmMr, count - r0));
      GemmTileRows<kVnni>(mr, a + r0 * (lda_bytes / 2), lda_bytes, seg_stride_bytes, nseg, pairs,
                          b, acc);
      return mr;
    };
    if (!w.one_shift) {
      const PanelConsts k = LoadPanelConsts(w, n0, e);
      for (int64_t r0 = 0; r0 < count; r0 += kGemmMr) {
        const int mr = tile(r0);
        for (int r = 0; r < mr; ++r)
          StoreRow<T>(k, _mm256_load_si256(row(r, 0)), _mm256_load_si256(row(r, 1)), e,
                      out + (r0 + r) * w.n + n0, ncols);
      }
      continue;
    }
    const OneShiftConsts k0 = LoadOneShiftConsts(w, n0, e.zp);
    const OneShiftConsts k1 = LoadOneShiftConsts(w, n0 + 8, e.zp);
    for (int64_t r0 = 0; r0 < count; r0 += kGemmMr) {
      const int mr = tile(r0);
      for (int r = 0; r < mr; ++r)
        _mm256_store_si256(row(r, 0), RequantizeOneShiftAvx2(_mm256_load_si256(row(r, 0)), k0));
      for (int r = 0; r < mr; ++r)
        _mm256_store_si256(row(r, 1), RequantizeOneShiftAvx2(_mm256_load_si256(row(r, 1)), k1));
      for (int r = 0; r < mr; ++r)
        PackStoreRow<T>(_mm256_load_si256(row(r, 0)), _mm256_load_si256(row(r, 1)), e,
                        out + (r0 + r) * w.n + n0, ncols);
    }
  }
}

}  // namespace tfqat::runtime::optimized

// Implicit (im2col-free) exact int8/uint8 convolution on AVX2 for dilation-1 convs
// (docs/runtime_optimized.md). Phase 1 copies the input once into scratch as an int16
// image padded to ((out_h-1)*stride_h + f_h) x ((out_w-1)*stride_w + f_w) pixels with the input
// offset applied (padding = 0, which is what the reference's skipped taps contribute). Phase 2
// walks output rows: a tile of up to 6 consecutive output pixels reads, for each of the f_h filter
// rows, f_w * in_d contiguous int16 values per pixel (pixels stride_w * in_d apart) straight from
// the image — one micro-kernel segment per filter row, no gather. The packed weights' k order
// is (fy, [fx, ic] padded to an even length SegLen2()): k pairs stay inside one segment; an odd
// row's last pair reads the next image value against a 0 weight.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "runtime/optimized/gemm_packed.h"
#include "runtime/optimized/gemm_tile_avx2.h"
#include "runtime/optimized/on_demand_rows.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime::optimized {
namespace {

// An odd-length filter row reads one int16 past its last pixel (times a 0 weight): the image is
// followed by this many zeroed bytes.
constexpr size_t kImageSlackBytes = 64;

template <typename T>
void ConvImplicit(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                  int32_t output_offset, int32_t act_min, int32_t act_max, const T* input,
                  T* output, const KernelContext& ctx) {
  const PaddedImage pi = PaddedImage::Of(g);
  int16_t* image = reinterpret_cast<int16_t*>(ctx.scratch);
  const int threads = ctx.pool == nullptr ? 1 : std::max(1, ctx.num_threads);
  const int16_t offset = static_cast<int16_t>(input_offset);

  const int64_t image_rows = static_cast<int64_t>(g.batches) * pi.h;
  std::memset(image + image_rows * pi.w * g.in_d, 0, kImageSlackBytes);
  const Epilogue e = MakeEpilogue<T>(output_offset, act_min, act_max);
  const int64_t pix_bytes = static_cast<int64_t>(g.in_d) * 2;
  const int64_t lda_bytes = pix_bytes * g.stride_w;
  const int64_t seg_stride_bytes = pix_bytes * pi.w;
  const int pairs = g.SegLen2() / 2;
  // A run of `count` output pixels whose inputs start at `a` (pixels lda apart, f_h segments
  // one padded image row apart) and whose outputs are consecutive from `out`.
  auto run = [&](const int16_t* a, T* out, int64_t count) {
    if (w.use_avxvnni) {
      RowsTimesPanels<T, true>(a, lda_bytes, seg_stride_bytes, g.f_h, pairs, count, w, 0,
                               w.panels, e, out);
    } else {
      RowsTimesPanels<T, false>(a, lda_bytes, seg_stride_bytes, g.f_h, pairs, count, w, 0,
                                w.panels, e, out);
    }
  };
  // 1x1 stride-1 convs: the padded image is the input itself, one flat run of pixels.
  if (g.f_h == 1 && g.f_w == 1 && g.stride_h == 1 && g.stride_w == 1 && pi.w == g.in_w &&
      pi.h == g.in_h) {
    const int64_t pixels = g.Rows();
    // Chunks of 8 tiles handed out dynamically (see below).
    const int64_t chunk = 8 * kGemmMr, chunks = (pixels + chunk - 1) / chunk;
    std::atomic<int64_t> next{0};
    const int tasks = static_cast<int>(std::min<int64_t>(threads, chunks));
    ParallelFor(ctx.pool, tasks, [&](int) {
      for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
        const int64_t p0 = c * chunk, p1 = std::min(pixels, p0 + chunk);
        // The chunk's pixels are widened right before use (hot in L1, and shared by the
        // threads). An odd depth reads one value past a pixel against a 0 weight: any value.
        ConvertRow(input + p0 * g.in_d, static_cast<int>((p1 - p0) * g.in_d), offset,
                   image + p0 * g.in_d);
        run(image + p0 * g.in_d, output + p0 * w.n, p1 - p0);
      }
    });
    return;
  }
  // Image rows are built on demand by the threads that need them (on_demand_rows.h). An odd
  // filter-row length reads one value past the window (next pixel or row) against a 0 weight,
  // so it does not matter whether that row is built yet.
  OnDemandRows on_demand(image_rows);
  const int64_t rows = static_cast<int64_t>(g.batches) * g.out_h;
  // Output rows are handed out one at a time from a shared counter rather than in fixed ranges:
  // on a shared machine a descheduled thread then costs only its current row (the integers do
  // not depend on which thread computes a row).
  std::atomic<int64_t> next{0};
  const int tasks = static_cast<int>(std::min<int64_t>(threads, rows));
  ParallelFor(ctx.pool, tasks, [&](int) {
    for (int64_t row; (row = next.fetch_add(1, std::memory_order_relaxed)) < rows;) {
      const int64_t b = row / g.out_h, oy = row % g.out_h;
      const int64_t first = b * pi.h + oy * g.stride_h;
      on_demand.Ensure(first, first + g.f_h, [&](int64_t r) {
        ConvertImageRows(g, pi, input, offset, r, r + 1, image);
      });
      const int16_t* a = image + first * pi.w * g.in_d;
      run(a, output + row * g.out_w * w.n, g.out_w);
    }
  });
}

}  // namespace

size_t ImplicitImageBytes(const ConvGeometry& g) {
  const PaddedImage pi = PaddedImage::Of(g);
  const size_t bytes = static_cast<size_t>(g.batches) * pi.h * pi.w * g.in_d * sizeof(int16_t);
  return (bytes + 63) / 64 * 64 + kImageSlackBytes;
}

void ConvImplicitInt8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                          int32_t output_offset, int32_t act_min, int32_t act_max,
                          const int8_t* input, int8_t* output, const KernelContext& ctx) {
  ConvImplicit<int8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}
void ConvImplicitUint8Avx2(const ConvGeometry& g, const PackedGemmWeights& w,
                           int32_t input_offset, int32_t output_offset, int32_t act_min,
                           int32_t act_max, const uint8_t* input, uint8_t* output,
                           const KernelContext& ctx) {
  ConvImplicit<uint8_t>(g, w, input_offset, output_offset, act_min, act_max, input, output, ctx);
}

}  // namespace tfqat::runtime::optimized

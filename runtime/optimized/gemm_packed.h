// Packed weights and geometry for the optimized exact integer GEMM (docs/runtime_optimized.md).
//
// Arithmetic: acc[m][n] = bias[n] + sum_k (x[m][k] + input_offset) * (w[n][k] + weights_offset),
// then TFLite's MultiplyByQuantizedMultiplier, + output_offset, clamp. Both factors are widened to
// int16 (|x + input_offset| <= 255, |w + weights_offset| <= 255) and multiplied with vpmaddwd
// (int16 x int16 -> int32 pairs, exact: |pair| <= 2 * 255 * 255 = 130050), accumulated in int32
// with wrap-around exactly like the reference's int32 accumulator. This is exact for every int8 and
// uint8 input, including -128 weights and any zero points, unlike vpmaddubsw (int16 saturation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "runtime/kernel_params.h"

namespace tfqat::runtime::optimized {

// Allocator for the packed panels: 64-byte aligned, so the micro-kernel's 32-byte weight loads
// never straddle a cache line (with malloc's 16-byte alignment half of them did, and the conv
// ran ~25 % slower in processes that got such an address).
template <typename T>
struct CacheAlignedAllocator {
  using value_type = T;
  CacheAlignedAllocator() = default;
  template <typename U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  template <typename U>
  bool operator==(const CacheAlignedAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheAlignedAllocator<U>&) const { return false; }
};

// Images (padded copies of a conv input) up to this size are built by the calling thread alone.
inline constexpr size_t kSerialCopyBytes = size_t{1} << 20;

inline constexpr int kGemmNr = 16;        // output channels per packed panel (2 x 8 int32 lanes)
inline constexpr int kGemmMr = 6;         // output rows per micro-kernel call
inline constexpr int kGemmRowBlock = 48;  // rows gathered (im2col) per block, multiple of kGemmMr

// A convolution seen as a GEMM over output pixels. FULLY_CONNECTED is the 1x1 case with
// in_h = in_w = out_h = out_w = 1 and batches = rows of the input.
struct ConvGeometry {
  int batches = 1, in_h = 1, in_w = 1, in_d = 1;
  int out_h = 1, out_w = 1, out_d = 1;
  int f_h = 1, f_w = 1;
  int stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, pad_h = 0, pad_w = 0;
  int64_t Rows() const { return static_cast<int64_t>(batches) * out_h * out_w; }
  int K() const { return f_h * f_w * in_d; }
  // Implicit convolution: one filter row (f_w * in_d values) rounded up to an even length, so k
  // pairs never straddle filter rows; the extra weight is 0 (multiplies the next pixel's value).
  int SegLen2() const { return (f_w * in_d + 1) / 2 * 2; }
  int ImplicitK() const { return f_h * SegLen2(); }
};

// Layout of a PackedGemmWeights::one_shift_table block (int32 offsets; the 64-bit vectors hold the
// 4 even channels 0, 2, 4, 6 or the 4 odd ones 1, 3, 5, 7 of the group).
inline constexpr int kOneShiftBias = 0;        // int32 x 8: bias
inline constexpr int kOneShiftMult = 8;        // int32 x 8: multiplier (vpmuldq reads the even)
inline constexpr int kOneShiftMultOdd = 16;    // int32 x 8: odd multipliers in the even lanes
inline constexpr int kOneShiftFix = 24;        // int32 x 8: -2^(31 - s), what the added 2^62 leaves
inline constexpr int kOneShiftShiftEven = 32;  // int64 x 4: 31 + s
inline constexpr int kOneShiftShiftOdd = 40;   // int64 x 4: s - 1 (result into the high dword)
inline constexpr int kOneShiftAddEvenPos = 48; // int64 x 4: rounding constant + 2^62, p >= 0
inline constexpr int kOneShiftAddEvenNeg = 56; // int64 x 4: the same for p < 0
inline constexpr int kOneShiftAddOddPos = 64;
inline constexpr int kOneShiftAddOddNeg = 72;
inline constexpr int kOneShiftBlock = 80;

// Weights packed once at plan time: panel p holds output channels [16p, 16p + 16) as
// [k2 / 2][16 channels][2 consecutive k] int16 values (w + weights_offset), zero padded in k and n.
struct PackedGemmWeights {
  int n = 0;         // output channels
  int k = 0;         // reduction length
  int k2 = 0;        // k rounded up to even
  int panels = 0;    // ceil(n / 16)
  int threads = 1;   // scratch was sized for this many threads
  // Use the AVX-VNNI micro-kernel (vpdpwssd): set at plan time when the CPU has it and
  // TFQAT_DISABLE_AVXVNNI is unset. Same integers either way.
  bool use_avxvnni = false;
  // Conv only: run the implicit convolution (conv_implicit_avx2.cc) over an int16 padded copy of
  // the input of `image_bytes` instead of the im2col gather; k is then ImplicitK() (filter rows
  // padded to even length). Set at plan time for dilation-1 convs unless TFQAT_CONV_IM2COL is
  // set. Same integers either way.
  bool implicit_conv = false;
  size_t image_bytes = 0;
  // 3x3 stride-1 convs: exact integer Winograd F(2x2, 3x3) (conv_winograd_avx2.cc) instead of
  // the implicit conv. winograd_data holds the 16 transformed filters 4U = G' g G'^T
  // (G' = 2G, integers) as [16][panels][winograd_k / 2][16][2] int16; winograd_k = in_d rounded
  // up to even. Set at plan time when WinogradApplies() unless TFQAT_CONV_NO_WINOGRAD is set.
  bool winograd = false;
  int winograd_k = 0;
  size_t winograd_scratch = 0;  // image + per-thread transform buffers for `threads` threads
  std::vector<int16_t, CacheAlignedAllocator<int16_t>> winograd_data;
  std::vector<int16_t, CacheAlignedAllocator<int16_t>> data;
  // Per-channel epilogue, padded to panels * 16: bias, multiplier, left shift, right shift, and
  // what the vector epilogue derives from them (requantize_avx2.h), precomputed so that a tile
  // only loads them: the odd lanes' multipliers moved to the even lanes (vpmuldq reads those),
  // the rounding mask 2^right_shift - 1 and half of it.
  std::vector<int32_t> bias, multiplier, left_shift, right_shift;
  std::vector<int32_t> multiplier_odd, round_mask, round_half;
  bool any_left_shift = false;  // some channel's multiplier is > 1 (left_shift > 0)
  // The shorter epilogue (requantize_avx2.h, RequantizeOneShiftAvx2): TFLite's two roundings
  // folded into one 64-bit add and one shift. Usable when every channel shifts right by >= 1 (the
  // common case: multipliers < 0.5); per 8-channel group g, lane i of the *_even tables is channel
  // 8g + 2i and of the *_odd tables channel 8g + 2i + 1.
  bool one_shift = false;
  // Its constants, one 320-byte block per 8-channel group (one tile loads them from one base):
  // kOneShift* below give each vector's offset in int32 units.
  std::vector<int32_t, CacheAlignedAllocator<int32_t>> one_shift_table;

  // Scratch bytes one thread needs (one im2col block of int16 rows).
  size_t ScratchPerThread() const {
    return (static_cast<size_t>(kGemmRowBlock) * k2 * sizeof(int16_t) + 63) / 64 * 64;
  }
  // Scratch the conv/FC entry needs for this many threads.
  size_t RequiredScratch(int num_threads) const {
    if (winograd) return winograd_scratch;
    return implicit_conv ? image_bytes : ScratchPerThread() * static_cast<size_t>(num_threads);
  }
};

// Packs filter rows [n][k] (row-major, T = int8_t or uint8_t) with weights_offset, bias (may be
// null) and the per-channel requantization. Returns false when the multipliers are outside what the
// vector epilogue reproduces exactly (negative multiplier); the caller then keeps the reference.
template <typename T>
bool PackGemmWeights(const T* filter, int n, int k, int32_t weights_offset, const int32_t* bias,
                     const int32_t* multiplier, const int32_t* shift, int threads,
                     PackedGemmWeights* out);

// Quantized conv / FC through the packed GEMM (AVX2). Requires ctx.scratch of at least
// ScratchPerThread() * min(ctx.num_threads, packed.threads) bytes.
void ConvGemmInt8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                      int32_t output_offset, int32_t act_min, int32_t act_max, const int8_t* input,
                      int8_t* output, const KernelContext& ctx);
void ConvGemmUint8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                       int32_t output_offset, int32_t act_min, int32_t act_max,
                       const uint8_t* input, uint8_t* output, const KernelContext& ctx);

// Implicit convolution (dilation 1, w.implicit_conv): the input is copied once into
// ctx.scratch as a zero-padded int16 image with the input offset applied (ImplicitImageBytes),
// then every output pixel's f_h filter rows are read in place by the micro-kernel.
size_t ImplicitImageBytes(const ConvGeometry& g);
void ConvImplicitInt8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                          int32_t output_offset, int32_t act_min, int32_t act_max,
                          const int8_t* input, int8_t* output, const KernelContext& ctx);
void ConvImplicitUint8Avx2(const ConvGeometry& g, const PackedGemmWeights& w,
                           int32_t input_offset, int32_t output_offset, int32_t act_min,
                           int32_t act_max, const uint8_t* input, uint8_t* output,
                           const KernelContext& ctx);

// Exact integer Winograd F(2x2, 3x3) for 3x3 stride-1 dilation-1 convs. With G' = 2G the
// transformed filters, inputs (B^T d B) and outputs (A^T M A) are integers and the result is 4x
// the reference's sum of products S; int32 arithmetic wraps, so 4S is exact modulo 2^32 and S is
// recovered by an arithmetic shift when |S| < 2^29, i.e. 9 * in_d * 255^2 < 2^29 (in_d <= 900).
// Ranges: |4U| <= 9 * 255 and |B^T d B| <= 4 * 255 fit int16 (vpmaddwd stays exact).
bool WinogradApplies(const ConvGeometry& g);
// Scratch for the padded image and `threads` per-thread blocks (V and M of one tile block).
size_t WinogradScratchBytes(const ConvGeometry& g, int threads);
// Fills w->winograd_data / winograd_k from filter [n][3][3][in_d] (+ weights_offset); the rest of
// w (n, panels, epilogue) must already be packed by PackGemmWeights.
template <typename T>
void PackWinogradWeights(const T* filter, const ConvGeometry& g, int32_t weights_offset,
                         PackedGemmWeights* w);
void ConvWinogradInt8Avx2(const ConvGeometry& g, const PackedGemmWeights& w, int32_t input_offset,
                          int32_t output_offset, int32_t act_min, int32_t act_max,
                          const int8_t* input, int8_t* output, const KernelContext& ctx);
void ConvWinogradUint8Avx2(const ConvGeometry& g, const PackedGemmWeights& w,
                           int32_t input_offset, int32_t output_offset, int32_t act_min,
                           int32_t act_max, const uint8_t* input, uint8_t* output,
                           const KernelContext& ctx);

// MAX_POOL_2D over channels with AVX2 (vpmaxsb / vpmaxub), exact by construction.
void MaxPoolInt8Avx2(const PoolParams& p, const Shape& is, const int8_t* input, const Shape& os,
                     int8_t* output, const KernelContext& ctx);
void MaxPoolUint8Avx2(const PoolParams& p, const Shape& is, const uint8_t* input, const Shape& os,
                      uint8_t* output, const KernelContext& ctx);

}  // namespace tfqat::runtime::optimized

// The exact int16 GEMM micro-kernel of runtime/optimized/ (docs/runtime_optimized.md):
// qs16_gemm_6x16__avx2_vpmaddwd, in inline assembly so that all 12 accumulators stay in
// registers (GCC spills part of them when the same loop is written with intrinsics, which cost
// ~40 % of the throughput on the benchmark conv).
//
// For a tile of MR <= 6 rows and one packed 16-channel panel:
//   acc[r][n] = sum_{s < nseg} sum_{p < pairs} a_r,s[2p] * b[s][p][n][0] + a_r,s[2p+1] * b[s][p][n][1]
// where a_r,s = a + r * lda_bytes + s * seg_stride_bytes (int16 rows, offsets already applied) and
// b is the panel's [nseg * pairs][16][2] int16 data. Segments let an implicit convolution walk the
// f_h filter rows of a padded image without an im2col copy (one segment = f_w * in_d contiguous
// values); a plain GEMM is one segment.
//
// Registers: ymm0..11 accumulators (row r in ymm2r, ymm2r+1), ymm12/13 the two weight vectors of
// a k pair, ymm14 the broadcast activation pair, ymm15 the product. Per k pair: 2 loads, MR
// broadcasts, 2 MR vpmaddwd + 2 MR vpaddd (or 2 MR vpdpwssd with AVX-VNNI: the same integers).
// Only x86-64; include from *_avx2.cc files only.
#pragma once

#include <cstdint>

namespace tfqat::runtime::optimized {

#define TFQAT_MK_MUL0(C0, C1)                                                    \
  "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t vpaddd %%ymm15, %%" C0 ", %%" C0 "\n\t" \
  "vpmaddwd %%ymm13, %%ymm14, %%ymm15\n\t vpaddd %%ymm15, %%" C1 ", %%" C1 "\n\t"
#define TFQAT_MK_MUL1(C0, C1)                       \
  "%{vex%} vpdpwssd %%ymm12, %%ymm14, %%" C0 "\n\t" \
  "%{vex%} vpdpwssd %%ymm13, %%ymm14, %%" C1 "\n\t"
#define TFQAT_MK_ROW(V, ADDR, C0, C1) \
  "vpbroadcastd " ADDR ", %%ymm14\n\t" TFQAT_MK_MUL##V(C0, C1)
#define TFQAT_MK_R0(V, O) TFQAT_MK_ROW(V, O "(%[a0])", "ymm0", "ymm1")
#define TFQAT_MK_R1(V, O) TFQAT_MK_ROW(V, O "(%[a0],%[lda])", "ymm2", "ymm3")
#define TFQAT_MK_R2(V, O) TFQAT_MK_ROW(V, O "(%[a0],%[lda],2)", "ymm4", "ymm5")
#define TFQAT_MK_R3(V, O) TFQAT_MK_ROW(V, O "(%[a3])", "ymm6", "ymm7")
#define TFQAT_MK_R4(V, O) TFQAT_MK_ROW(V, O "(%[a3],%[lda])", "ymm8", "ymm9")
#define TFQAT_MK_R5(V, O) TFQAT_MK_ROW(V, O "(%[a3],%[lda],2)", "ymm10", "ymm11")
#define TFQAT_MK_ROWS1(V, O) TFQAT_MK_R0(V, O)
#define TFQAT_MK_ROWS2(V, O) TFQAT_MK_ROWS1(V, O) TFQAT_MK_R1(V, O)
#define TFQAT_MK_ROWS3(V, O) TFQAT_MK_ROWS2(V, O) TFQAT_MK_R2(V, O)
#define TFQAT_MK_ROWS4(V, O) TFQAT_MK_ROWS3(V, O) TFQAT_MK_R3(V, O)
#define TFQAT_MK_ROWS5(V, O) TFQAT_MK_ROWS4(V, O) TFQAT_MK_R4(V, O)
#define TFQAT_MK_ROWS6(V, O) TFQAT_MK_ROWS5(V, O) TFQAT_MK_R5(V, O)
// One k pair: weights at BOFF(%[b]), activations at AOFF(row pointer).
#define TFQAT_MK_STEP(MR, V, BOFF, AOFF)                                       \
  "vmovdqu " BOFF "(%[b]), %%ymm12\n\t vmovdqu " BOFF "+32(%[b]), %%ymm13\n\t" \
  TFQAT_MK_ROWS##MR(V, AOFF)
#define TFQAT_MK_ASM(MR, V)                                                                     \
  asm volatile(                                                                                 \
      "vpxor %%xmm0, %%xmm0, %%xmm0\n\t vpxor %%xmm1, %%xmm1, %%xmm1\n\t"                      \
      "vpxor %%xmm2, %%xmm2, %%xmm2\n\t vpxor %%xmm3, %%xmm3, %%xmm3\n\t"                      \
      "vpxor %%xmm4, %%xmm4, %%xmm4\n\t vpxor %%xmm5, %%xmm5, %%xmm5\n\t"                      \
      "vpxor %%xmm6, %%xmm6, %%xmm6\n\t vpxor %%xmm7, %%xmm7, %%xmm7\n\t"                      \
      "vpxor %%xmm8, %%xmm8, %%xmm8\n\t vpxor %%xmm9, %%xmm9, %%xmm9\n\t"                      \
      "vpxor %%xmm10, %%xmm10, %%xmm10\n\t vpxor %%xmm11, %%xmm11, %%xmm11\n\t"                \
      "1:\n\t"                                                                                  \
      "mov %[pairs2], %[n]\n\t"                                                                 \
      "test %[n], %[n]\n\t jz 3f\n\t"                                                           \
      "2:\n\t" TFQAT_MK_STEP(MR, V, "0", "0") TFQAT_MK_STEP(MR, V, "64", "4")                   \
      "add $8, %[a0]\n\t add $8, %[a3]\n\t add $128, %[b]\n\t dec %[n]\n\t jnz 2b\n\t"         \
      "3:\n\t"                                                                                  \
      "test %[odd], %[odd]\n\t jz 4f\n\t" TFQAT_MK_STEP(MR, V, "0", "0")                       \
      "add $4, %[a0]\n\t add $4, %[a3]\n\t add $64, %[b]\n\t"                                   \
      "4:\n\t"                                                                                  \
      "add %[adv], %[a0]\n\t add %[adv], %[a3]\n\t dec %[seg]\n\t jnz 1b\n\t"                  \
      "vmovdqu %%ymm0, 0(%[acc])\n\t vmovdqu %%ymm1, 32(%[acc])\n\t"                           \
      "vmovdqu %%ymm2, 64(%[acc])\n\t vmovdqu %%ymm3, 96(%[acc])\n\t"                          \
      "vmovdqu %%ymm4, 128(%[acc])\n\t vmovdqu %%ymm5, 160(%[acc])\n\t"                        \
      "vmovdqu %%ymm6, 192(%[acc])\n\t vmovdqu %%ymm7, 224(%[acc])\n\t"                        \
      "vmovdqu %%ymm8, 256(%[acc])\n\t vmovdqu %%ymm9, 288(%[acc])\n\t"                        \
      "vmovdqu %%ymm10, 320(%[acc])\n\t vmovdqu %%ymm11, 352(%[acc])\n\t"                      \
      : [a0] "+r"(a0), [a3] "+r"(a3), [b] "+r"(b), [n] "=&r"(n), [seg] "+r"(seg)               \
      : [lda] "r"(lda_bytes), [pairs2] "r"(pairs2), [odd] "r"(odd), [adv] "r"(adv),            \
        [acc] "r"(acc)                                                                          \
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",        \
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory")

// Computes the MR x 16 int32 tile into acc[6][16] (rows >= MR are zero). nseg >= 1, pairs >= 1.
// kVnni selects vpdpwssd (call only when the CPU reports AVX-VNNI).
template <int MR, bool kVnni>
inline void GemmTile6x16(const int16_t* a, int64_t lda_bytes, int64_t seg_stride_bytes, int nseg,
                         int pairs, const int16_t* b, int32_t* acc) {
  static_assert(MR >= 1 && MR <= 6, "tile rows");
  uintptr_t a0 = reinterpret_cast<uintptr_t>(a);
  uintptr_t a3 = a0 + static_cast<uintptr_t>(3 * lda_bytes);
  int64_t n = 0;
  int64_t seg = nseg;
  const int64_t pairs2 = pairs / 2, odd = pairs & 1;
  const int64_t adv = seg_stride_bytes - static_cast<int64_t>(pairs) * 4;
  if constexpr (!kVnni) {
    if constexpr (MR == 1) TFQAT_MK_ASM(1, 0);
    if constexpr (MR == 2) TFQAT_MK_ASM(2, 0);
    if constexpr (MR == 3) TFQAT_MK_ASM(3, 0);
    if constexpr (MR == 4) TFQAT_MK_ASM(4, 0);
    if constexpr (MR == 5) TFQAT_MK_ASM(5, 0);
    if constexpr (MR == 6) TFQAT_MK_ASM(6, 0);
  } else {
    if constexpr (MR == 1) TFQAT_MK_ASM(1, 1);
    if constexpr (MR == 2) TFQAT_MK_ASM(2, 1);
    if constexpr (MR == 3) TFQAT_MK_ASM(3, 1);
    if constexpr (MR == 4) TFQAT_MK_ASM(4, 1);
    if constexpr (MR == 5) TFQAT_MK_ASM(5, 1);
    if constexpr (MR == 6) TFQAT_MK_ASM(6, 1);
  }
}

#undef TFQAT_MK_ASM
#undef TFQAT_MK_STEP
#undef TFQAT_MK_ROWS6
#undef TFQAT_MK_ROWS5
#undef TFQAT_MK_ROWS4
#undef TFQAT_MK_ROWS3
#undef TFQAT_MK_ROWS2
#undef TFQAT_MK_ROWS1
#undef TFQAT_MK_R5
#undef TFQAT_MK_R4
#undef TFQAT_MK_R3
#undef TFQAT_MK_R2
#undef TFQAT_MK_R1
#undef TFQAT_MK_R0
#undef TFQAT_MK_ROW
#undef TFQAT_MK_MUL1
#undef TFQAT_MK_MUL0

// GemmTile6x16 with the tile's row count known only at run time (mr 1..6; larger counts as 6).
template <bool kVnni>
inline void GemmTileRows(int mr, const int16_t* a, int64_t lda_bytes, int64_t seg_stride_bytes,
                         int nseg, int pairs, const int16_t* b, int32_t* acc) {
  switch (mr) {
    case 1: GemmTile6x16<1, kVnni>(a, lda_bytes, seg_stride_bytes, nseg, pairs, b, acc); break;
    case 2: GemmTile6x16<2, kVnni>(a, lda_bytes, seg_stride_bytes, nseg, pairs, b, acc); break;
    case 3: GemmTile6x16<3, kVnni>(a, lda_bytes, seg_stride_bytes, nseg, pairs, b, acc); break;
    case 4: GemmTile6x16<4, kVnni>(a, lda_bytes, seg_stride_bytes, nseg, pairs, b, acc); break;
    case 5: GemmTile6x16<5, kVnni>(a, lda_bytes, seg_stride_bytes, nseg, pairs, b, acc); break;
    default: GemmTile6x16<6, kVnni>(a, lda_bytes, seg_stride_bytes, nseg, pairs, b, acc); break;
  }
}

}  // namespace tfqat::runtime::optimized

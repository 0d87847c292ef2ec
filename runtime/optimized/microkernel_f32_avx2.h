// Float conv micro-kernel of runtime/optimized/ (f32_gemm_6x16__avx2_mul_add), inline assembly
// like microkernel_avx2.h. It reproduces the reference ConvFloat bit for bit: every output lane
// accumulates `total = total + in * w` in the reference's k order (filter row, column, channel)
// with a separate vmulps and vaddps (no FMA: the reference is compiled without it, and a fused
// multiply-add rounds once instead of twice). On this core the two run on different pipe pairs
// (FP0/1 multiply, FP2/3 add), so the pair costs what one FMA stream does: 16 MAC per cycle.
//
// acc[r][n] = sum_{s < nseg} sum_{k < klen} a_r,s[k] * b[s][k][n], a_r,s = a + r * lda_bytes +
// s * seg_stride_bytes, b = the panel's [nseg * klen][16] floats. acc starts at +0.0.
// Include from *_avx2.cc files only (x86-64).
#pragma once

#include <cstdint>

namespace tfqat::runtime::optimized {

#define TFQAT_MKF_ROW(ADDR, C0, C1)                                              \
  "vbroadcastss " ADDR ", %%ymm14\n\t"                                           \
  "vmulps %%ymm12, %%ymm14, %%ymm15\n\t vaddps %%ymm15, %%" C0 ", %%" C0 "\n\t" \
  "vmulps %%ymm13, %%ymm14, %%ymm15\n\t vaddps %%ymm15, %%" C1 ", %%" C1 "\n\t"
#define TFQAT_MKF_R0(O) TFQAT_MKF_ROW(O "(%[a0])", "ymm0", "ymm1")
#define TFQAT_MKF_R1(O) TFQAT_MKF_ROW(O "(%[a0],%[lda])", "ymm2", "ymm3")
#define TFQAT_MKF_R2(O) TFQAT_MKF_ROW(O "(%[a0],%[lda],2)", "ymm4", "ymm5")
#define TFQAT_MKF_R3(O) TFQAT_MKF_ROW(O "(%[a3])", "ymm6", "ymm7")
#define TFQAT_MKF_R4(O) TFQAT_MKF_ROW(O "(%[a3],%[lda])", "ymm8", "ymm9")
#define TFQAT_MKF_R5(O) TFQAT_MKF_ROW(O "(%[a3],%[lda],2)", "ymm10", "ymm11")
#define TFQAT_MKF_ROWS1(O) TFQAT_MKF_R0(O)
#define TFQAT_MKF_ROWS2(O) TFQAT_MKF_ROWS1(O) TFQAT_MKF_R1(O)
#define TFQAT_MKF_ROWS3(O) TFQAT_MKF_ROWS2(O) TFQAT_MKF_R2(O)
#define TFQAT_MKF_ROWS4(O) TFQAT_MKF_ROWS3(O) TFQAT_MKF_R3(O)
#define TFQAT_MKF_ROWS5(O) TFQAT_MKF_ROWS4(O) TFQAT_MKF_R4(O)
#define TFQAT_MKF_ROWS6(O) TFQAT_MKF_ROWS5(O) TFQAT_MKF_R5(O)
#define TFQAT_MKF_STEP(MR, BOFF, AOFF)                                         \
  "vmovups " BOFF "(%[b]), %%ymm12\n\t vmovups " BOFF "+32(%[b]), %%ymm13\n\t" \
  TFQAT_MKF_ROWS##MR(AOFF)
#define TFQAT_MKF_ASM(MR)                                                                       \
  asm volatile(                                                                                 \
      "vxorps %%xmm0, %%xmm0, %%xmm0\n\t vxorps %%xmm1, %%xmm1, %%xmm1\n\t"                    \
      "vxorps %%xmm2, %%xmm2, %%xmm2\n\t vxorps %%xmm3, %%xmm3, %%xmm3\n\t"                    \
      "vxorps %%xmm4, %%xmm4, %%xmm4\n\t vxorps %%xmm5, %%xmm5, %%xmm5\n\t"                    \
      "vxorps %%xmm6, %%xmm6, %%xmm6\n\t vxorps %%xmm7, %%xmm7, %%xmm7\n\t"                    \
      "vxorps %%xmm8, %%xmm8, %%xmm8\n\t vxorps %%xmm9, %%xmm9, %%xmm9\n\t"                    \
      "vxorps %%xmm10, %%xmm10, %%xmm10\n\t vxorps %%xmm11, %%xmm11, %%xmm11\n\t"              \
      "1:\n\t"                                                                                  \
      "mov %[k2], %[n]\n\t"                                                                     \
      "test %[n], %[n]\n\t jz 3f\n\t"                                                           \
      "2:\n\t" TFQAT_MKF_STEP(MR, "0", "0") TFQAT_MKF_STEP(MR, "64", "4")                       \
      "add $8, %[a0]\n\t add $8, %[a3]\n\t add $128, %[b]\n\t dec %[n]\n\t jnz 2b\n\t"         \
      "3:\n\t"                                                                                  \
      "test %[odd], %[odd]\n\t jz 4f\n\t" TFQAT_MKF_STEP(MR, "0", "0")                         \
      "add $4, %[a0]\n\t add $4, %[a3]\n\t add $64, %[b]\n\t"                                   \
      "4:\n\t"                                                                                  \
      "add %[adv], %[a0]\n\t add %[adv], %[a3]\n\t dec %[seg]\n\t jnz 1b\n\t"                  \
      "vmovups %%ymm0, 0(%[acc])\n\t vmovups %%ymm1, 32(%[acc])\n\t"                           \
      "vmovups %%ymm2, 64(%[acc])\n\t vmovups %%ymm3, 96(%[acc])\n\t"                          \
      "vmovups %%ymm4, 128(%[acc])\n\t vmovups %%ymm5, 160(%[acc])\n\t"                        \
      "vmovups %%ymm6, 192(%[acc])\n\t vmovups %%ymm7, 224(%[acc])\n\t"                        \
      "vmovups %%ymm8, 256(%[acc])\n\t vmovups %%ymm9, 288(%[acc])\n\t"                        \
      "vmovups %%ymm10, 320(%[acc])\n\t vmovups %%ymm11, 352(%[acc])\n\t"                      \
      : [a0] "+r"(a0), [a3] "+r"(a3), [b] "+r"(b), [n] "=&r"(n), [seg] "+r"(seg)               \
      : [lda] "r"(lda_bytes), [k2] "r"(k2), [odd] "r"(odd), [adv] "r"(adv), [acc] "r"(acc)     \
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",        \
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory")

// Computes the MR x 16 float tile into acc[6][16] (rows >= MR are +0). nseg >= 1, klen >= 1.
template <int MR>
inline void GemmTileF32_6x16(const float* a, int64_t lda_bytes, int64_t seg_stride_bytes,
                             int nseg, int klen, const float* b, float* acc) {
  static_assert(MR >= 1 && MR <= 6, "tile rows");
  uintptr_t a0 = reinterpret_cast<uintptr_t>(a);
  uintptr_t a3 = a0 + static_cast<uintptr_t>(3 * lda_bytes);
  int64_t n = 0;
  int64_t seg = nseg;
  const int64_t k2 = klen / 2, odd = klen & 1;
  const int64_t adv = seg_stride_bytes - static_cast<int64_t>(klen) * 4;
  if constexpr (MR == 1) TFQAT_MKF_ASM(1);
  if constexpr (MR == 2) TFQAT_MKF_ASM(2);
  if constexpr (MR == 3) TFQAT_MKF_ASM(3);
  if constexpr (MR == 4) TFQAT_MKF_ASM(4);
  if constexpr (MR == 5) TFQAT_MKF_ASM(5);
  if constexpr (MR == 6) TFQAT_MKF_ASM(6);
}

#undef TFQAT_MKF_ASM
#undef TFQAT_MKF_STEP
#undef TFQAT_MKF_ROWS6
#undef TFQAT_MKF_ROWS5
#undef TFQAT_MKF_ROWS4
#undef TFQAT_MKF_ROWS3
#undef TFQAT_MKF_ROWS2
#undef TFQAT_MKF_ROWS1
#undef TFQAT_MKF_R5
#undef TFQAT_MKF_R4
#undef TFQAT_MKF_R3
#undef TFQAT_MKF_R2
#undef TFQAT_MKF_R1
#undef TFQAT_MKF_R0
#undef TFQAT_MKF_ROW

}  // namespace tfqat::runtime::optimized

// ADD / MUL reference kernels with NumPy broadcasting (shapes padded to the output's rank).
#include <algorithm>

#include "runtime/fixed_point.h"
#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime::reference {
namespace {

// Calls f(out_index, in1_index, in2_index) for every output element.
template <typename F>
void ForEachBroadcast(const Shape& s1, const Shape& s2, const Shape& so, F&& f) {
  const int rank = so.rank;
  int64_t st1[kMaxRank], st2[kMaxRank];
  int64_t a = 1, b = 1;
  for (int i = rank - 1; i >= 0; --i) {
    st1[i] = s1.dims[i] == 1 ? 0 : a;
    st2[i] = s2.dims[i] == 1 ? 0 : b;
    a *= s1.dims[i];
    b *= s2.dims[i];
  }
  const int64_t n = so.FlatSize();
  if (n == 0) return;
  int idx[kMaxRank] = {};
  int64_t i1 = 0, i2 = 0;
  for (int64_t o = 0; o < n; ++o) {
    f(o, i1, i2);
    for (int d = rank - 1; d >= 0; --d) {
      ++idx[d];
      i1 += st1[d];
      i2 += st2[d];
      if (idx[d] < so.dims[d]) break;
      i1 -= st1[d] * idx[d];
      i2 -= st2[d] * idx[d];
      idx[d] = 0;
    }
  }
}

template <typename T>
void AddQuantized(const ArithmeticParams& p, const Shape& s1, const T* x1, const Shape& s2,
                  const T* x2, const Shape& so, T* out) {
  ForEachBroadcast(s1, s2, so, [&](int64_t o, int64_t i1, int64_t i2) {
    const int32_t a = (static_cast<int32_t>(x1[i1]) + p.input1_offset) * (1 << p.left_shift);
    const int32_t b = (static_cast<int32_t>(x2[i2]) + p.input2_offset) * (1 << p.left_shift);
    const int32_t sa =
        MultiplyByQuantizedMultiplierSmallerThanOneExp(a, p.input1_multiplier, p.input1_shift);
    const int32_t sb =
        MultiplyByQuantizedMultiplierSmallerThanOneExp(b, p.input2_multiplier, p.input2_shift);
    int32_t r = MultiplyByQuantizedMultiplierSmallerThanOneExp(sa + sb, p.output_multiplier,
                                                               p.output_shift) +
                p.output_offset;
    r = std::min(std::max(r, p.act.act_min), p.act.act_max);
    out[o] = static_cast<T>(r);
  });
}

template <typename T>
void MulQuantized(const ArithmeticParams& p, const Shape& s1, const T* x1, const Shape& s2,
                  const T* x2, const Shape& so, T* out) {
  ForEachBroadcast(s1, s2, so, [&](int64_t o, int64_t i1, int64_t i2) {
    const int32_t a = static_cast<int32_t>(x1[i1]) + p.input1_offset;
    const int32_t b = static_cast<int32_t>(x2[i2]) + p.input2_offset;
    int32_t r = MultiplyByQuantizedMultiplier(a * b, p.output_multiplier, p.output_shift) +
                p.output_offset;
    r = std::min(std::max(r, p.act.act_min), p.act.act_max);
    out[o] = static_cast<T>(r);
  });
}

}  // namespace

void AddInt8(const ArithmeticParams& p, const Shape& s1, const int8_t* x1, const Shape& s2,
             const int8_t* x2, const Shape& so, int8_t* out, const KernelContext&) {
  AddQuantized(p, s1, x1, s2, x2, so, out);
}
void AddUint8(const ArithmeticParams& p, const Shape& s1, const uint8_t* x1, const Shape& s2,
              const uint8_t* x2, const Shape& so, uint8_t* out, const KernelContext&) {
  AddQuantized(p, s1, x1, s2, x2, so, out);
}
void AddFloat(const ArithmeticParams& p, const Shape& s1, const float* x1, const Shape& s2,
              const float* x2, const Shape& so, float* out, const KernelContext&) {
  ForEachBroadcast(s1, s2, so, [&](int64_t o, int64_t i1, int64_t i2) {
    out[o] = std::min(std::max(x1[i1] + x2[i2], p.act.float_act_min), p.act.float_act_max);
  });
}
void MulInt8(const ArithmeticParams& p, const Shape& s1, const int8_t* x1, const Shape& s2,
             const int8_t* x2, const Shape& so, int8_t* out, const KernelContext&) {
  MulQuantized(p, s1, x1, s2, x2, so, out);
}
void MulUint8(const ArithmeticParams& p, const Shape& s1, const uint8_t* x1, const Shape& s2,
              const uint8_t* x2, const Shape& so, uint8_t* out, const KernelContext&) {
  MulQuantized(p, s1, x1, s2, x2, so, out);
}
void MulFloat(const ArithmeticParams& p, const Shape& s1, const float* x1, const Shape& s2,
              const float* x2, const Shape& so, float* out, const KernelContext&) {
  ForEachBroadcast(s1, s2, so, [&](int64_t o, int64_t i1, int64_t i2) {
    out[o] = std::min(std::max(x1[i1] * x2[i2], p.act.float_act_min), p.act.float_act_max);
  });
}

}  // namespace tfqat::runtime::reference

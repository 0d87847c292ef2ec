// FULLY_CONNECTED reference kernels.
#include <algorithm>

#include "runtime/fixed_point.h"
#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime::reference {
namespace {

template <typename T>
void FcQuantized(const FullyConnectedParams& p, const Shape& is, const T* input, const Shape& fs,
                 const T* filter, const int32_t* bias, const Shape& os, T* output) {
  const int out_d = fs.Dim(0);
  const int accum = fs.Dim(fs.rank - 1);
  const int64_t batches = is.FlatSize() / accum;
  (void)os;
  for (int64_t b = 0; b < batches; ++b) {
    const T* in_row = input + b * accum;
    for (int o = 0; o < out_d; ++o) {
      const T* f_row = filter + static_cast<int64_t>(o) * accum;
      int32_t acc = 0;
      for (int d = 0; d < accum; ++d) {
        acc += (static_cast<int32_t>(f_row[d]) + p.weights_offset) *
               (static_cast<int32_t>(in_row[d]) + p.input_offset);
      }
      if (bias) acc += bias[o];
      acc = MultiplyByQuantizedMultiplier(acc, p.output_multiplier[o], p.output_shift[o]);
      acc += p.output_offset;
      acc = std::min(std::max(acc, p.act.act_min), p.act.act_max);
      output[b * out_d + o] = static_cast<T>(acc);
    }
  }
}

}  // namespace

void FullyConnectedInt8(const FullyConnectedParams& p, const Shape& is, const int8_t* in,
                        const Shape& fs, const int8_t* f, const Shape&, const int32_t* bias,
                        const Shape& os, int8_t* out, const KernelContext&) {
  FcQuantized(p, is, in, fs, f, bias, os, out);
}
void FullyConnectedUint8(const FullyConnectedParams& p, const Shape& is, const uint8_t* in,
                         const Shape& fs, const uint8_t* f, const Shape&, const int32_t* bias,
                         const Shape& os, uint8_t* out, const KernelContext&) {
  FcQuantized(p, is, in, fs, f, bias, os, out);
}
void FullyConnectedFloat(const FullyConnectedParams& p, const Shape& is, const float* input,
                         const Shape& fs, const float* filter, const Shape&, const float* bias,
                         const Shape&, float* output, const KernelContext&) {
  const int out_d = fs.Dim(0);
  const int accum = fs.Dim(fs.rank - 1);
  const int64_t batches = is.FlatSize() / accum;
  for (int64_t b = 0; b < batches; ++b)
    for (int o = 0; o < out_d; ++o) {
      float total = 0.f;
      for (int d = 0; d < accum; ++d)
        total += input[b * accum + d] * filter[static_cast<int64_t>(o) * accum + d];
      if (bias) total += bias[o];
      output[b * out_d + o] =
          std::min(std::max(total, p.act.float_act_min), p.act.float_act_max);
    }
}

}  // namespace tfqat::runtime::reference

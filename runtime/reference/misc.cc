// Reference kernels outside the KernelSet: concatenation, pad, mean, softmax, logistic, tanh,
// leaky relu, clamp, quantize, dequantize, requantize.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "runtime/fixed_point.h"
#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime::reference {

template <typename T>
void Concatenation(const ConcatParams& p, const Shape* const* input_shapes, const T* const* inputs,
                   const Shape& output_shape, T* output) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < p.axis; ++i) outer *= output_shape.dims[i];
  for (int i = p.axis + 1; i < output_shape.rank; ++i) inner *= output_shape.dims[i];
  T* out = output;
  for (int64_t k = 0; k < outer; ++k) {
    for (int i = 0; i < p.num_inputs; ++i) {
      const int64_t copy = static_cast<int64_t>(input_shapes[i]->dims[p.axis]) * inner;
      const T* src = inputs[i] + k * copy;
      bool rescale = false;
      if constexpr (!std::is_same_v<T, float>) {
        rescale = p.input_scale != nullptr &&
                  (p.input_zero_point[i] != p.output_zero_point || p.input_scale[i] != p.output_scale);
      }
      if (!rescale) {
        std::memcpy(out, src, static_cast<size_t>(copy) * sizeof(T));
      } else if constexpr (!std::is_same_v<T, float>) {
        const float inv_out = 1.f / p.output_scale;
        const float scale = p.input_scale[i] * inv_out;
        const float bias = -p.input_zero_point[i] * scale;
        for (int64_t j = 0; j < copy; ++j) {
          const int32_t v = static_cast<int32_t>(std::round(src[j] * scale + bias)) + p.output_zero_point;
          out[j] = static_cast<T>(std::max<int32_t>(std::min<int32_t>(std::numeric_limits<T>::max(), v),
                                                    std::numeric_limits<T>::min()));
        }
      }
      out += copy;
    }
  }
}
template void Concatenation<float>(const ConcatParams&, const Shape* const*, const float* const*, const Shape&, float*);
template void Concatenation<uint8_t>(const ConcatParams&, const Shape* const*, const uint8_t* const*, const Shape&, uint8_t*);
template void Concatenation<int8_t>(const ConcatParams&, const Shape* const*, const int8_t* const*, const Shape&, int8_t*);
template void Concatenation<int32_t>(const ConcatParams&, const Shape* const*, const int32_t* const*, const Shape&, int32_t*);

template <typename T>
void Pad(const PadParams& p, const Shape& is, const T* input, const Shape& os, T* output) {
  const int rank = os.rank;
  T value;
  if constexpr (std::is_same_v<T, float>) {
    value = p.float_pad_value;
  } else {
    value = static_cast<T>(p.pad_value);
  }
  const int64_t n = os.FlatSize();
  for (int64_t i = 0; i < n; ++i) output[i] = value;
  const int64_t in_n = is.FlatSize();
  if (in_n == 0) return;
  // Copy rows of the innermost dimension.
  const int64_t row = is.dims[rank - 1];
  int idx[kMaxRank] = {};
  for (int64_t start = 0; start < in_n; start += row) {
    int64_t off = 0;
    for (int d = 0; d < rank; ++d) off = off * os.dims[d] + (idx[d] + p.before[d]);
    std::memcpy(output + off, input + start, static_cast<size_t>(row) * sizeof(T));
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < is.dims[d]) break;
      idx[d] = 0;
    }
  }
}
template void Pad<float>(const PadParams&, const Shape&, const float*, const Shape&, float*);
template void Pad<uint8_t>(const PadParams&, const Shape&, const uint8_t*, const Shape&, uint8_t*);
template void Pad<int8_t>(const PadParams&, const Shape&, const int8_t*, const Shape&, int8_t*);
template void Pad<int32_t>(const PadParams&, const Shape&, const int32_t*, const Shape&, int32_t*);

namespace {

// Iterates the input in order, calling f(input_index, output_index).
template <typename F>
void ForEachReduce(const ReduceParams& p, const Shape& is, F&& f) {
  bool reduced[kMaxRank] = {};
  for (int i = 0; i < p.num_axes; ++i) reduced[p.axes[i]] = true;
  int64_t out_stride[kMaxRank];
  int64_t s = 1;
  for (int d = is.rank - 1; d >= 0; --d) {
    out_stride[d] = reduced[d] ? 0 : s;
    if (!reduced[d]) s *= is.dims[d];
  }
  const int64_t n = is.FlatSize();
  int idx[kMaxRank] = {};
  int64_t o = 0;
  for (int64_t i = 0; i < n; ++i) {
    f(i, o);
    for (int d = is.rank - 1; d >= 0; --d) {
      o += out_stride[d];
      if (++idx[d] < is.dims[d]) break;
      o -= out_stride[d] * idx[d];
      idx[d] = 0;
    }
  }
}

int64_t ReducedCount(const ReduceParams& p, const Shape& is) {
  int64_t c = 1;
  for (int i = 0; i < p.num_axes; ++i) c *= is.dims[p.axes[i]];
  return c;
}

bool IsSpatialMean(const ReduceParams& p, const Shape& is) {
  return p.keep_dims && is.rank == 4 && p.num_axes == 2 && p.axes[0] == 1 && p.axes[1] == 2;
}

}  // namespace

void MeanFloat(const ReduceParams& p, const Shape& is, const float* input, const Shape& os,
               float* output) {
  const int64_t on = os.FlatSize();
  for (int64_t i = 0; i < on; ++i) output[i] = 0.f;
  ForEachReduce(p, is, [&](int64_t i, int64_t o) { output[o] += input[i]; });
  const float count = static_cast<float>(ReducedCount(p, is));
  for (int64_t i = 0; i < on; ++i) output[i] = output[i] / count;
}

// TFLite's integer MEAN (reduce.cc EvalMeanReferenceOps): three cases.
//  1. 4-D, axes {1, 2}, keep_dims: int8 -> reference_integer_ops::Mean (sum of (x - zp_in),
//     MBQM by in_scale/out_scale, rounded division by the count, + zp_out); uint8 ->
//     reference_ops::Mean (sum of x, MBQM by in_scale/(count*out_scale), + float-rounded bias).
//  2. same scale and zero point: sum of x / count, truncated.
//  3. otherwise: not supported (the planner rejects it).
template <typename T>
void MeanQuantized(const ReduceParams& p, const Shape& is, const T* input, const Shape& os,
                   T* output) {
  const int64_t on = os.FlatSize();
  const int64_t count = ReducedCount(p, is);
  const int32_t qmin = std::numeric_limits<T>::min(), qmax = std::numeric_limits<T>::max();
  if (IsSpatialMean(p, is)) {
    const int b = is.dims[0], h = is.dims[1], w = is.dims[2], d = is.dims[3];
    const int n = h * w;
    for (int ob = 0; ob < b; ++ob)
      for (int od = 0; od < d; ++od) {
        int32_t acc = 0;
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            const int32_t v = input[((static_cast<int64_t>(ob) * h + y) * w + x) * d + od];
            acc += std::is_same_v<T, int8_t> ? v - p.input_zero_point : v;
          }
        if constexpr (std::is_same_v<T, int8_t>) {
          acc = MultiplyByQuantizedMultiplier(acc, p.multiplier, p.shift);
          acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
          acc += p.output_zero_point;
        } else {
          float temp = p.input_zero_point * p.input_scale / p.output_scale;
          temp = temp > 0 ? temp + 0.5f : temp - 0.5f;
          const int32_t bias = p.output_zero_point - static_cast<int32_t>(temp);
          acc = MultiplyByQuantizedMultiplier(acc, p.multiplier, p.shift) + bias;
        }
        output[static_cast<int64_t>(ob) * d + od] = static_cast<T>(std::min(std::max(acc, qmin), qmax));
      }
    return;
  }
  // Same quantization on both sides: integer mean of the raw values, truncated.
  // int32 accumulators like TFLite's temp_sum, on the stack in chunks of outputs.
  constexpr int64_t kChunk = 1024;
  int32_t acc[kChunk];
  for (int64_t base = 0; base < on; base += kChunk) {
    const int64_t len = std::min(kChunk, on - base);
    std::fill(acc, acc + len, 0);
    ForEachReduce(p, is, [&](int64_t i, int64_t o) {
      if (o >= base && o < base + len) acc[o - base] += input[i];
    });
    for (int64_t k = 0; k < len; ++k) output[base + k] = static_cast<T>(acc[k] / static_cast<int32_t>(count));
  }
}
template void MeanQuantized<uint8_t>(const ReduceParams&, const Shape&, const uint8_t*, const Shape&, uint8_t*);
template void MeanQuantized<int8_t>(const ReduceParams&, const Shape&, const int8_t*, const Shape&, int8_t*);

void SoftmaxFloat(const SoftmaxParams& p, const Shape& shape, const float* input, float* output) {
  const int depth = shape.dims[shape.rank - 1];
  const int64_t outer = depth > 0 ? shape.FlatSize() / depth : 0;
  for (int64_t i = 0; i < outer; ++i) {
    const float* in = input + i * depth;
    float* out = output + i * depth;
    float mx = std::numeric_limits<float>::lowest();
    for (int c = 0; c < depth; ++c) mx = std::max(mx, in[c]);
    float sum = 0.f;
    for (int c = 0; c < depth; ++c) {
      out[c] = std::exp((in[c] - mx) * p.beta);
      sum += out[c];
    }
    for (int c = 0; c < depth; ++c) out[c] /= sum;
  }
}

// ---- gemmlowp-style fixed point (Q0.31 with n integer bits), as TFLite's reference uses.
namespace {

inline int32_t SatLeftShift(int32_t x, int exponent) {
  const int32_t threshold = static_cast<int32_t>((int64_t{1} << (31 - exponent)) - 1);
  if (x > threshold) return std::numeric_limits<int32_t>::max();
  if (x < -threshold) return std::numeric_limits<int32_t>::min();
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

// Rescales a raw value with `from` integer bits to `to` integer bits.
inline int32_t Rescale(int32_t x, int from, int to) {
  const int e = from - to;
  if (e > 0) return SatLeftShift(x, e);
  if (e < 0) return RoundingDivideByPOT(x, -e);
  return x;
}

inline int32_t Mul(int32_t a, int32_t b) { return SaturatingRoundingDoublingHighMul(a, b); }

// exp(a) for a in [-1/4, 0), Q0.31 in and out.
int32_t ExpOnIntervalNegQuarterTo0(int32_t a) {
  const int32_t constant_term = 1895147668;     // exp(-1/8)
  const int32_t constant_1_over_3 = 715827883;  // 1/3
  const int32_t x = a + (1 << 28);              // a + 1/8
  const int32_t x2 = Mul(x, x);
  const int32_t x3 = Mul(x2, x);
  const int32_t x4 = Mul(x2, x2);
  const int32_t x4_over_4 = RoundingDivideByPOT(x4, 2);
  const int32_t poly = RoundingDivideByPOT(Mul(x4_over_4 + x3, constant_1_over_3) + x2, 1);
  return constant_term + Mul(constant_term, x + poly);
}

// exp(a) for a <= 0 given with `int_bits` integer bits; result Q0.31.
int32_t ExpOnNegativeValues(int32_t a, int int_bits) {
  const int frac_bits = 31 - int_bits;
  const int32_t one_quarter = int32_t{1} << (frac_bits - 2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
  int32_t result = ExpOnIntervalNegQuarterTo0(Rescale(a_mod_quarter_minus_one_quarter, int_bits, 0));
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
  static const struct { int exponent; int32_t multiplier; } kBarrel[] = {
      {-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
      {2, 39332535},    {3, 720401},      {4, 242}};
  for (const auto& b : kBarrel) {
    if (int_bits > b.exponent) {
      const int shift = frac_bits + b.exponent;
      if (remainder & (int32_t{1} << shift)) result = Mul(result, b.multiplier);
    }
  }
  if (int_bits > 5) {
    const int32_t clamp = -(int32_t{1} << (36 - int_bits));
    if (a < clamp) result = 0;
  }
  if (a == 0) result = std::numeric_limits<int32_t>::max();
  return result;
}

// 1 / (1 + x) for x in [0, 1), Q0.31 in and out.
int32_t OneOverOnePlusX(int32_t a) {
  const int64_t sum = static_cast<int64_t>(a) + std::numeric_limits<int32_t>::max();
  const int32_t half_denominator = static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t constant_48_over_17 = 1515870810;    // Q2.29
  const int32_t constant_neg_32_over_17 = -1010580540;  // Q2.29
  int32_t x = constant_48_over_17 + Mul(half_denominator, constant_neg_32_over_17);
  const int32_t one_q2 = int32_t{1} << 29;
  for (int i = 0; i < 3; ++i) {
    const int32_t hdx = Mul(half_denominator, x);  // Q2
    const int32_t one_minus = one_q2 - hdx;        // Q2
    x = x + Rescale(Mul(x, one_minus), 4, 2);
  }
  return Rescale(x, 1, 0);  // ExactMulByPot<-1> then Rescale<0>
}

// (1 - x) / (1 + x) for x in [0, 1), Q0.31 in and out (gemmlowp).
int32_t OneMinusXOverOnePlusX(int32_t a) {
  const int64_t sum = static_cast<int64_t>(a) + std::numeric_limits<int32_t>::max();
  const int32_t half_denominator = static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = 1515870810 + Mul(half_denominator, -1010580540);
  const int32_t one_q2 = int32_t{1} << 29;
  for (int i = 0; i < 3; ++i) {
    const int32_t one_minus = one_q2 - Mul(half_denominator, x);
    x = x + Rescale(Mul(x, one_minus), 4, 2);
  }
  return Rescale(x - one_q2, 2, 0);
}

// logistic(a) for a with `int_bits` integer bits; Q0.31 result.
int32_t FixedLogistic(int32_t a, int int_bits) {
  if (a == 0) return int32_t{1} << 30;
  const int32_t abs_a = a > 0 ? a : -a;
  const int32_t r = OneOverOnePlusX(ExpOnNegativeValues(-abs_a, int_bits));
  return a > 0 ? r : std::numeric_limits<int32_t>::max() - r;
}

// tanh(a) for a with `int_bits` integer bits; Q0.31 result.
int32_t FixedTanh(int32_t a, int int_bits) {
  if (a == 0) return 0;
  const int32_t n = a < 0 ? a : -a;
  const int32_t t = ExpOnNegativeValues(n + n, int_bits);
  const int32_t y = OneMinusXOverOnePlusX(t);
  return a < 0 ? -y : y;
}

int CountLeadingZeros32(uint32_t x) { return x == 0 ? 32 : __builtin_clz(x); }

}  // namespace

template <typename TIn, typename TOut>
void SoftmaxQuantized(const SoftmaxParams& p, const Shape& shape, const TIn* input, TOut* output) {
  constexpr int kScaledDiffIntegerBits = 5;
  constexpr int kAccumulationIntegerBits = 12;
  const int depth = shape.dims[shape.rank - 1];
  const int64_t outer = depth > 0 ? shape.FlatSize() / depth : 0;
  for (int64_t i = 0; i < outer; ++i) {
    const TIn* in = input + i * depth;
    TOut* out = output + i * depth;
    int32_t mx = std::numeric_limits<TIn>::min();
    for (int c = 0; c < depth; ++c) mx = std::max<int32_t>(mx, in[c]);
    int32_t sum_of_exps = 0;  // Q12.19
    for (int c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(in[c]) - mx;
      if (diff >= p.diff_min) {
        const int32_t rescaled =
            MultiplyByQuantizedMultiplierGreaterThanOne(diff, p.input_multiplier, p.input_left_shift);
        sum_of_exps += Rescale(ExpOnNegativeValues(rescaled, kScaledDiffIntegerBits), 0,
                               kAccumulationIntegerBits);
      }
    }
    const int headroom_plus_one = CountLeadingZeros32(static_cast<uint32_t>(sum_of_exps));
    const int num_bits_over_unit = kAccumulationIntegerBits - headroom_plus_one;
    const int32_t shifted_sum_minus_one = static_cast<int32_t>(
        (static_cast<uint32_t>(sum_of_exps) << headroom_plus_one) - (static_cast<uint32_t>(1) << 31));
    const int32_t shifted_scale = OneOverOnePlusX(shifted_sum_minus_one);
    for (int c = 0; c < depth; ++c) {
      const int32_t diff = static_cast<int32_t>(in[c]) - mx;
      if (diff >= p.diff_min) {
        const int32_t rescaled =
            MultiplyByQuantizedMultiplierGreaterThanOne(diff, p.input_multiplier, p.input_left_shift);
        const int32_t exp_in_0 = ExpOnNegativeValues(rescaled, kScaledDiffIntegerBits);
        const int32_t unsat = RoundingDivideByPOT(Mul(shifted_scale, exp_in_0),
                                                  num_bits_over_unit + 31 - 8 * static_cast<int>(sizeof(TOut)));
        const int32_t shifted = unsat + static_cast<int32_t>(std::numeric_limits<TOut>::min());
        out[c] = static_cast<TOut>(std::max<int32_t>(std::min<int32_t>(shifted, std::numeric_limits<TOut>::max()),
                                                     std::numeric_limits<TOut>::min()));
      } else {
        out[c] = std::numeric_limits<TOut>::min();
      }
    }
  }
}
template void SoftmaxQuantized<uint8_t, uint8_t>(const SoftmaxParams&, const Shape&, const uint8_t*, uint8_t*);
template void SoftmaxQuantized<int8_t, int8_t>(const SoftmaxParams&, const Shape&, const int8_t*, int8_t*);

// LOGISTIC / TANH (TFLite reference integer kernels): inputs centred on the zero point,
// saturated beyond input_range_radius, else rescaled to Q4.27 and evaluated in fixed point.
// Logistic output: RDBPOT(raw, 23) (256 -> 255) + type minimum; tanh: RDBPOT(raw, 24) + zp.
template <typename T>
void LogisticQuantized(const ActivationFnParams& p, const Shape& shape, const T* input, T* output) {
  const int64_t n = shape.FlatSize();
  const int32_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t c = static_cast<int32_t>(input[i]) - p.input_zero_point;
    int32_t out;
    if (c <= -p.input_range_radius) {
      out = lo;
    } else if (c >= p.input_range_radius) {
      out = hi;
    } else {
      const int32_t r = MultiplyByQuantizedMultiplierGreaterThanOne(c, p.input_multiplier, p.input_left_shift);
      int32_t v = RoundingDivideByPOT(FixedLogistic(r, 4), 23);
      if (v == 256) v = 255;
      out = std::min(hi, std::max(lo, v + lo));
    }
    output[i] = static_cast<T>(out);
  }
}
template void LogisticQuantized<uint8_t>(const ActivationFnParams&, const Shape&, const uint8_t*, uint8_t*);
template void LogisticQuantized<int8_t>(const ActivationFnParams&, const Shape&, const int8_t*, int8_t*);

template <typename T>
void TanhQuantized(const ActivationFnParams& p, const Shape& shape, const T* input, T* output) {
  const int64_t n = shape.FlatSize();
  const int32_t lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t c = static_cast<int32_t>(input[i]) - p.input_zero_point;
    int32_t out;
    if (c <= -p.input_range_radius) {
      out = lo;
    } else if (c >= p.input_range_radius) {
      out = hi;
    } else {
      const int32_t r = MultiplyByQuantizedMultiplierGreaterThanOne(c, p.input_multiplier, p.input_left_shift);
      int32_t v = RoundingDivideByPOT(FixedTanh(r, 4), 24) + p.output_zero_point;
      out = std::min(hi, std::max(lo, v));
    }
    output[i] = static_cast<T>(out);
  }
}
template void TanhQuantized<uint8_t>(const ActivationFnParams&, const Shape&, const uint8_t*, uint8_t*);
template void TanhQuantized<int8_t>(const ActivationFnParams&, const Shape&, const int8_t*, int8_t*);

void LogisticFloat(const Shape& shape, const float* input, float* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) output[i] = 1.f / (1.f + std::exp(-input[i]));
}
void TanhFloat(const Shape& shape, const float* input, float* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) output[i] = std::tanh(input[i]);
}

void LeakyReluFloat(const LeakyReluParams& p, const Shape& shape, const float* input, float* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) output[i] = input[i] > 0.f ? input[i] : input[i] * p.alpha;
}

template <typename T>
void LeakyReluQuantized(const LeakyReluParams& p, const Shape& shape, const T* input, T* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = static_cast<int32_t>(input[i]) - p.input_offset;
    int32_t r = v >= 0 ? MultiplyByQuantizedMultiplier(v, p.output_multiplier_identity, p.output_shift_identity)
                       : MultiplyByQuantizedMultiplier(v, p.output_multiplier_alpha, p.output_shift_alpha);
    r += p.output_offset;
    output[i] = static_cast<T>(std::min<int32_t>(std::max<int32_t>(r, std::numeric_limits<T>::min()),
                                                 std::numeric_limits<T>::max()));
  }
}
template void LeakyReluQuantized<uint8_t>(const LeakyReluParams&, const Shape&, const uint8_t*, uint8_t*);
template void LeakyReluQuantized<int8_t>(const LeakyReluParams&, const Shape&, const int8_t*, int8_t*);

void ClampFloat(const ActivationRange& act, const Shape& shape, const float* input, float* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) output[i] = std::min(std::max(input[i], act.float_act_min), act.float_act_max);
}

template <typename T>
void QuantizeFloat(const QuantizeParams& p, const Shape& shape, const float* input, T* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = static_cast<int32_t>(std::round(input[i] / p.scale)) + p.zero_point;
    output[i] = static_cast<T>(std::min<int32_t>(std::max<int32_t>(v, std::numeric_limits<T>::min()),
                                                 std::numeric_limits<T>::max()));
  }
}
template void QuantizeFloat<uint8_t>(const QuantizeParams&, const Shape&, const float*, uint8_t*);
template void QuantizeFloat<int8_t>(const QuantizeParams&, const Shape&, const float*, int8_t*);

template <typename TIn, typename TOut>
void Requantize(const QuantizeParams& p, const Shape& shape, const TIn* input, TOut* output) {
  const int64_t n = shape.FlatSize();
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = MultiplyByQuantizedMultiplier(static_cast<int32_t>(input[i]) - p.input_zero_point,
                                                    p.multiplier, p.shift) + p.zero_point;
    output[i] = static_cast<TOut>(std::min<int32_t>(std::max<int32_t>(v, std::numeric_limits<TOut>::min()),
                                                    std::numeric_limits<TOut>::max()));
  }
}
template void Requantize<uint8_t, uint8_t>(const QuantizeParams&, const Shape&, const uint8_t*, uint8_t*);
template void Requantize<uint8_t, int8_t>(const QuantizeParams&, const Shape&, const uint8_t*, int8_t*);
template void Requantize<int8_t, uint8_t>(const QuantizeParams&, const Shape&, const int8_t*, uint8_t*);
template void Requantize<int8_t, int8_t>(const QuantizeParams&, const Shape&, const int8_t*, int8_t*);

template <typename T>
void Dequantize(const QuantizeParams& p, const Shape& shape, const T* input, float* output) {
  const int64_t n = shape.FlatSize();
  const double scale = p.scale;
  for (int64_t i = 0; i < n; ++i) {
    const float v = static_cast<float>(input[i]);
    output[i] = static_cast<float>(scale * (v - static_cast<float>(p.zero_point)));
  }
}
template void Dequantize<uint8_t>(const QuantizeParams&, const Shape&, const uint8_t*, float*);
template void Dequantize<int8_t>(const QuantizeParams&, const Shape&, const int8_t*, float*);

}  // namespace tfqat::runtime::reference

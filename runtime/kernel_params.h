// Parameter structs and kernel signatures shared by the reference kernels (runtime/reference/)
// and the optimized kernels (runtime/optimized/).
//
// Signature rule (docs/runtime.md): every kernel is a free function
//   void Name(const XxxParams& params,
//             const Shape& in0_shape, const T0* in0, [const Shape& in1_shape, const T1* in1, ...],
//             const Shape& out_shape, TOut* out, const KernelContext& ctx);
// with the same argument list in the reference and the optimized version, so that a KernelSet
// (runtime/kernel_set.h) can hold either. Kernels never allocate: scratch memory comes from
// ctx.scratch (size requested at plan time), threads from ctx.pool. The planner fills every field
// of the params structs; kernels only read them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tfqat::runtime {

class ThreadPool;

inline constexpr int kMaxRank = 6;

// A dense row-major tensor shape (TFLite's RuntimeShape). NHWC for 4-D image tensors.
struct Shape {
  int rank = 0;
  int32_t dims[kMaxRank] = {};

  int32_t Dim(int i) const { return dims[i]; }
  int64_t FlatSize() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  // Product of all dimensions except `axis`.
  int64_t FlatSizeSkipDim(int axis) const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i)
      if (i != axis) n *= dims[i];
    return n;
  }
};

// Per-invocation context. The planner provides scratch (at least the bytes the KernelSet's
// scratch query asked for, 64-byte aligned) and the thread pool (null or 1 thread = run inline).
struct KernelContext {
  ThreadPool* pool = nullptr;
  int num_threads = 1;
  uint8_t* scratch = nullptr;
  size_t scratch_bytes = 0;
  // State built once at plan time by the KernelSet's prepare hook (e.g. packed weights), or null.
  const void* prepared = nullptr;
};

enum class PaddingKind { kSame, kValid };

// Fused activation, in both forms; the planner fills both.
// Quantized: act_min/act_max are the quantized bounds intersected with the type's range.
// Float: float_act_min/max (-inf/+inf when NONE).
struct ActivationRange {
  int32_t act_min = 0;
  int32_t act_max = 0;
  float float_act_min = 0.f;
  float float_act_max = 0.f;
};

// CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV.
// Quantized arithmetic (TFLite reference): for each output (b, y, x, oc)
//   acc = bias[oc] + sum (in + input_offset) * (filter + weights_offset)
//   out = clamp(MultiplyByQuantizedMultiplier(acc, output_multiplier[oc], output_shift[oc])
//               + output_offset, act_min, act_max)
// int8: weights_offset = 0 (symmetric weights), per-channel arrays.
// uint8: per-tensor; the planner still fills the per-channel arrays with the same value.
// Shapes: input NHWC; CONV filter [oc, kh, kw, ic]; DEPTHWISE filter [1, kh, kw, oc] with
// oc = ic * depth_multiplier + m; TRANSPOSE_CONV filter [oc, kh, kw, ic]; bias [oc] (may be null).
struct ConvParams {
  PaddingKind padding = PaddingKind::kValid;
  int pad_height = 0;  // top padding (TFLite PaddingValues.height)
  int pad_width = 0;   // left padding
  int pad_height_offset = 0;  // extra bottom padding when the total is odd
  int pad_width_offset = 0;   // extra right padding
  int stride_height = 1;
  int stride_width = 1;
  int dilation_height = 1;
  int dilation_width = 1;
  int depth_multiplier = 1;  // DEPTHWISE only
  int32_t input_offset = 0;    // = -input zero point
  int32_t weights_offset = 0;  // = -filter zero point (uint8); 0 for int8
  int32_t output_offset = 0;   // = output zero point
  // One entry per output channel (size = output depth). Never null for quantized kernels.
  const int32_t* output_multiplier = nullptr;
  const int32_t* output_shift = nullptr;  // TFLite convention: > 0 left shift, < 0 right shift
  ActivationRange act;
};

// FULLY_CONNECTED: input flattened to [batch, accum_depth]; filter [out_depth, accum_depth];
// bias [out_depth] (may be null); output [batch, out_depth] (any shape with that flat size).
// Same arithmetic as ConvParams (per-channel arrays of size out_depth, filled even per-tensor).
struct FullyConnectedParams {
  int32_t input_offset = 0;
  int32_t weights_offset = 0;
  int32_t output_offset = 0;
  const int32_t* output_multiplier = nullptr;
  const int32_t* output_shift = nullptr;
  ActivationRange act;
};

// ADD, SUB, MUL (TFLite ArithmeticParams). Shapes broadcast NumPy-style; the planner pads both
// input shapes to the output's rank. ADD/SUB (uint8/int8):
//   a = (x1 + input1_offset) << left_shift, b = (x2 + input2_offset) << left_shift
//   a' = MBQM(a, input1_multiplier, input1_shift), b' = MBQM(b, input2_multiplier, input2_shift)
//   out = clamp(MBQM(a' +/- b', output_multiplier, output_shift) + output_offset)
// MUL: out = clamp(MBQM((x1 + input1_offset) * (x2 + input2_offset), output_multiplier,
//                       output_shift) + output_offset)
struct ArithmeticParams {
  int32_t input1_offset = 0;
  int32_t input2_offset = 0;
  int32_t output_offset = 0;
  int left_shift = 0;
  int32_t input1_multiplier = 0;
  int input1_shift = 0;
  int32_t input2_multiplier = 0;
  int input2_shift = 0;
  int32_t output_multiplier = 0;
  int output_shift = 0;
  ActivationRange act;
};

// AVERAGE_POOL_2D, MAX_POOL_2D (NHWC, same quantization on input and output).
struct PoolParams {
  int pad_height = 0;
  int pad_width = 0;
  int stride_height = 1;
  int stride_width = 1;
  int filter_height = 1;
  int filter_width = 1;
  ActivationRange act;
};

// CONCATENATION: `num_inputs` inputs joined along `axis`. When an input's scale/zero point
// differ from the output's, TFLite requantizes it: out = round(x * input_scale[i] / output_scale
// + (output_zp - input_zp[i] * input_scale[i] / output_scale)) in float (ConcatenationWithScaling).
struct ConcatParams {
  int axis = 0;
  int num_inputs = 0;
  const int32_t* input_zero_point = nullptr;  // size num_inputs (quantized only)
  const float* input_scale = nullptr;         // size num_inputs (quantized only)
  int32_t output_zero_point = 0;
  float output_scale = 0.f;
};

// PAD: `before[i]`/`after[i]` per dimension of the (rank-padded) input; value = output zero point
// for quantized tensors, 0 for float.
struct PadParams {
  int rank = 0;
  int32_t before[kMaxRank] = {};
  int32_t after[kMaxRank] = {};
  int32_t pad_value = 0;
  float float_pad_value = 0.f;
};

// MEAN over `axes` (deduplicated, sorted). Quantized: see docs/runtime.md for the exact formula.
struct ReduceParams {
  int num_axes = 0;
  int axes[kMaxRank] = {};
  bool keep_dims = false;
  int32_t input_zero_point = 0;
  int32_t output_zero_point = 0;
  float input_scale = 0.f;
  float output_scale = 0.f;
  int32_t multiplier = 0;  // requantization multiplier (input_scale / output_scale)
  int shift = 0;
};

// SOFTMAX (quantized: TFLite reference fixed point, gemmlowp exp_on_negative_values), along the
// last dimension.
struct SoftmaxParams {
  float beta = 1.f;
  int32_t input_multiplier = 0;  // beta * input_scale * 2^(31-5), as a >1 multiplier
  int input_left_shift = 0;
  int32_t diff_min = 0;
};

// LOGISTIC, TANH (quantized: TFLite reference fixed point on FixedPoint<int32, 4>).
struct ActivationFnParams {
  int32_t input_zero_point = 0;
  int32_t input_range_radius = 0;
  int32_t input_multiplier = 0;
  int input_left_shift = 0;
  int32_t output_zero_point = 0;
};

// QUANTIZE (float -> q, or q -> q requantize) and DEQUANTIZE (q -> float).
//   float -> q: q = clamp(round_half_away(x / scale) + zero_point)   (TFLite AffineQuantize)
//   q -> q:     q' = clamp(MBQM(q - in_zp, multiplier, shift) + out_zp)   (Requantize)
//   q -> float: x = scale * (q - zero_point)
struct QuantizeParams {
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t input_zero_point = 0;  // requantize only
  int32_t multiplier = 0;        // requantize only
  int shift = 0;
};

// LEAKY_RELU (quantized): x >= 0: MBQM(x - in_zp, mult_identity, shift_identity) + out_zp;
// x < 0: MBQM(x - in_zp, mult_alpha, shift_alpha) + out_zp; clamped to the type.
struct LeakyReluParams {
  float alpha = 0.f;
  int32_t input_offset = 0;
  int32_t output_offset = 0;
  int32_t output_multiplier_alpha = 0;
  int output_shift_alpha = 0;
  int32_t output_multiplier_identity = 0;
  int output_shift_identity = 0;
};

}  // namespace tfqat::runtime

// Reference kernels: plain loops reproducing TFLite's reference integer arithmetic bit for bit
// (tensorflow/lite/kernels/internal/reference/). Signatures follow runtime/kernel_params.h.
#pragma once

#include <cstdint>

#include "runtime/kernel_params.h"

namespace tfqat::runtime::reference {

#define TFQAT_CONV_DECL(Name, T, B)                                                          \
  void Name(const ConvParams& params, const Shape& input_shape, const T* input,              \
            const Shape& filter_shape, const T* filter, const Shape& bias_shape, const B* bias, \
            const Shape& output_shape, T* output, const KernelContext& ctx);
TFQAT_CONV_DECL(ConvInt8, int8_t, int32_t)
TFQAT_CONV_DECL(ConvUint8, uint8_t, int32_t)
TFQAT_CONV_DECL(ConvFloat, float, float)
TFQAT_CONV_DECL(DepthwiseConvInt8, int8_t, int32_t)
TFQAT_CONV_DECL(DepthwiseConvUint8, uint8_t, int32_t)
TFQAT_CONV_DECL(DepthwiseConvFloat, float, float)
TFQAT_CONV_DECL(TransposeConvInt8, int8_t, int32_t)
TFQAT_CONV_DECL(TransposeConvUint8, uint8_t, int32_t)
TFQAT_CONV_DECL(TransposeConvFloat, float, float)
#undef TFQAT_CONV_DECL

#define TFQAT_FC_DECL(Name, T, B)                                                               \
  void Name(const FullyConnectedParams& params, const Shape& input_shape, const T* input,        \
            const Shape& filter_shape, const T* filter, const Shape& bias_shape, const B* bias, \
            const Shape& output_shape, T* output, const KernelContext& ctx);
TFQAT_FC_DECL(FullyConnectedInt8, int8_t, int32_t)
TFQAT_FC_DECL(FullyConnectedUint8, uint8_t, int32_t)
TFQAT_FC_DECL(FullyConnectedFloat, float, float)
#undef TFQAT_FC_DECL

#define TFQAT_BINARY_DECL(Name, T)                                                           \
  void Name(const ArithmeticParams& params, const Shape& input1_shape, const T* input1,      \
            const Shape& input2_shape, const T* input2, const Shape& output_shape, T* output, \
            const KernelContext& ctx);
TFQAT_BINARY_DECL(AddInt8, int8_t)
TFQAT_BINARY_DECL(AddUint8, uint8_t)
TFQAT_BINARY_DECL(AddFloat, float)
TFQAT_BINARY_DECL(MulInt8, int8_t)
TFQAT_BINARY_DECL(MulUint8, uint8_t)
TFQAT_BINARY_DECL(MulFloat, float)
#undef TFQAT_BINARY_DECL

#define TFQAT_POOL_DECL(Name, T)                                                               \
  void Name(const PoolParams& params, const Shape& input_shape, const T* input,                \
            const Shape& output_shape, T* output, const KernelContext& ctx);
TFQAT_POOL_DECL(AveragePoolInt8, int8_t)
TFQAT_POOL_DECL(AveragePoolUint8, uint8_t)
TFQAT_POOL_DECL(AveragePoolFloat, float)
TFQAT_POOL_DECL(MaxPoolInt8, int8_t)
TFQAT_POOL_DECL(MaxPoolUint8, uint8_t)
TFQAT_POOL_DECL(MaxPoolFloat, float)
#undef TFQAT_POOL_DECL

// Reference-only kernels (not in the KernelSet).
// CONCATENATION: inputs[i] has shape input_shapes[i]; T is the element type.
template <typename T>
void Concatenation(const ConcatParams& params, const Shape* const* input_shapes,
                   const T* const* inputs, const Shape& output_shape, T* output);
// PAD (input shape and params.rank equal to the output's rank).
template <typename T>
void Pad(const PadParams& params, const Shape& input_shape, const T* input,
         const Shape& output_shape, T* output);
// MEAN. scratch: int64 accumulators, output_shape.FlatSize() entries.
void MeanFloat(const ReduceParams& params, const Shape& input_shape, const float* input,
               const Shape& output_shape, float* output);
template <typename T>
void MeanQuantized(const ReduceParams& params, const Shape& input_shape, const T* input,
                   const Shape& output_shape, T* output);
// SOFTMAX along the last dimension.
void SoftmaxFloat(const SoftmaxParams& params, const Shape& shape, const float* input,
                  float* output);
template <typename TIn, typename TOut>
void SoftmaxQuantized(const SoftmaxParams& params, const Shape& shape, const TIn* input,
                      TOut* output);
// LOGISTIC / TANH.
void LogisticFloat(const Shape& shape, const float* input, float* output);
void TanhFloat(const Shape& shape, const float* input, float* output);
template <typename T>
void LogisticQuantized(const ActivationFnParams& params, const Shape& shape, const T* input,
                       T* output);
template <typename T>
void TanhQuantized(const ActivationFnParams& params, const Shape& shape, const T* input,
                   T* output);
// LEAKY_RELU.
void LeakyReluFloat(const LeakyReluParams& params, const Shape& shape, const float* input,
                    float* output);
template <typename T>
void LeakyReluQuantized(const LeakyReluParams& params, const Shape& shape, const T* input,
                        T* output);
// Standalone RELU / RELU6 / RELU_N1_TO_1 (act range from the planner).
template <typename T>
void Clamp(const ActivationRange& act, const Shape& shape, const T* input, T* output);
void ClampFloat(const ActivationRange& act, const Shape& shape, const float* input, float* output);
// QUANTIZE / DEQUANTIZE / requantize.
template <typename T>
void QuantizeFloat(const QuantizeParams& params, const Shape& shape, const float* input, T* output);
template <typename TIn, typename TOut>
void Requantize(const QuantizeParams& params, const Shape& shape, const TIn* input, TOut* output);
template <typename T>
void Dequantize(const QuantizeParams& params, const Shape& shape, const T* input, float* output);

}  // namespace tfqat::runtime::reference

// KernelSet: the table of function pointers the interpreter dispatches through, chosen once at
// plan time. The reference set (runtime/reference/) is complete; the optimized set
// (runtime/optimized/) fills the entries it implements and leaves the rest null, in which case
// the reference kernel runs. Every entry has exactly the reference kernel's signature and must be
// bit-exact with it.
//
// The optimized engineer provides, in runtime/optimized/optimized_kernel_set.cc:
//   const KernelSet* GetOptimizedKernelSet();   // null when the CPU lacks the features
// (runtime/CMakeLists.txt compiles the call only when that file exists).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "runtime/kernel_params.h"

namespace tfqat::runtime {

enum class KernelOp { kConv, kDepthwiseConv, kFullyConnected, kTransposeConv };
enum class KernelType { kFloat32, kUint8, kInt8 };

// Arguments of the optional prepare hook, called once per weighted op at plan time.
struct KernelPrepareArgs {
  KernelOp op = KernelOp::kConv;
  KernelType type = KernelType::kInt8;
  // Points to a ConvParams (kConv, kDepthwiseConv, kTransposeConv) or FullyConnectedParams.
  const void* params = nullptr;
  Shape input_shape, filter_shape, bias_shape, output_shape;
  const void* filter_data = nullptr;  // constant weights (lives as long as the model)
  const void* bias_data = nullptr;    // may be null
  int num_threads = 1;
};

struct KernelPrepareResult {
  std::shared_ptr<const void> state;  // handed to the kernel as KernelContext::prepared
  size_t scratch_bytes = 0;           // KernelContext::scratch will have at least this many bytes
};

template <typename T, typename B>
using ConvFn = void (*)(const ConvParams&, const Shape& input_shape, const T* input,
                        const Shape& filter_shape, const T* filter, const Shape& bias_shape,
                        const B* bias, const Shape& output_shape, T* output,
                        const KernelContext& ctx);
template <typename T, typename B>
using FullyConnectedFn = void (*)(const FullyConnectedParams&, const Shape& input_shape,
                                  const T* input, const Shape& filter_shape, const T* filter,
                                  const Shape& bias_shape, const B* bias,
                                  const Shape& output_shape, T* output, const KernelContext& ctx);
template <typename T>
using BinaryFn = void (*)(const ArithmeticParams&, const Shape& input1_shape, const T* input1,
                          const Shape& input2_shape, const T* input2, const Shape& output_shape,
                          T* output, const KernelContext& ctx);
template <typename T>
using PoolFn = void (*)(const PoolParams&, const Shape& input_shape, const T* input,
                        const Shape& output_shape, T* output, const KernelContext& ctx);

template <typename T, typename B>
struct TypedKernels {
  ConvFn<T, B> conv = nullptr;
  ConvFn<T, B> depthwise_conv = nullptr;
  ConvFn<T, B> transpose_conv = nullptr;
  FullyConnectedFn<T, B> fully_connected = nullptr;
  BinaryFn<T> add = nullptr;
  BinaryFn<T> mul = nullptr;
  PoolFn<T> average_pool = nullptr;
  PoolFn<T> max_pool = nullptr;
};

struct KernelSet {
  const char* name = "";
  TypedKernels<int8_t, int32_t> int8;
  TypedKernels<uint8_t, int32_t> uint8;
  TypedKernels<float, float> float32;
  KernelPrepareResult (*prepare)(const KernelPrepareArgs&) = nullptr;  // optional
};

// The complete reference set.
const KernelSet& ReferenceKernelSet();

enum class KernelChoice { kAuto, kReference, kOptimized };

// kAuto/kOptimized: the optimized set merged over the reference one when available (CPU features
// checked at run time); kReference: the reference set. The returned set has no null entries.
const KernelSet& SelectKernelSet(KernelChoice choice);

}  // namespace tfqat::runtime

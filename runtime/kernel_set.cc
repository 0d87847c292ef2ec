#include "runtime/kernel_set.h"

#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime {

#ifdef TFQAT_HAVE_OPTIMIZED_KERNELS
const KernelSet* GetOptimizedKernelSet();
#endif

namespace {

KernelSet MakeReference() {
  namespace r = reference;
  KernelSet k;
  k.name = "reference";
  k.int8 = {r::ConvInt8,  r::DepthwiseConvInt8, r::TransposeConvInt8, r::FullyConnectedInt8,
            r::AddInt8,   r::MulInt8,           r::AveragePoolInt8,   r::MaxPoolInt8};
  k.uint8 = {r::ConvUint8, r::DepthwiseConvUint8, r::TransposeConvUint8, r::FullyConnectedUint8,
             r::AddUint8,  r::MulUint8,           r::AveragePoolUint8,   r::MaxPoolUint8};
  k.float32 = {r::ConvFloat, r::DepthwiseConvFloat, r::TransposeConvFloat, r::FullyConnectedFloat,
               r::AddFloat,  r::MulFloat,           r::AveragePoolFloat,   r::MaxPoolFloat};
  return k;
}

template <typename T, typename B>
void Merge(TypedKernels<T, B>* dst, const TypedKernels<T, B>& src) {
  if (src.conv) dst->conv = src.conv;
  if (src.depthwise_conv) dst->depthwise_conv = src.depthwise_conv;
  if (src.transpose_conv) dst->transpose_conv = src.transpose_conv;
  if (src.fully_connected) dst->fully_connected = src.fully_connected;
  if (src.add) dst->add = src.add;
  if (src.mul) dst->mul = src.mul;
  if (src.average_pool) dst->average_pool = src.average_pool;
  if (src.max_pool) dst->max_pool = src.max_pool;
}

KernelSet MakeMerged() {
  KernelSet k = MakeReference();
#ifdef TFQAT_HAVE_OPTIMIZED_KERNELS
  if (const KernelSet* opt = GetOptimizedKernelSet()) {
    k.name = opt->name;
    Merge(&k.int8, opt->int8);
    Merge(&k.uint8, opt->uint8);
    Merge(&k.float32, opt->float32);
    k.prepare = opt->prepare;
  }
#endif
  return k;
}

}  // namespace

const KernelSet& ReferenceKernelSet() {
  static const KernelSet k = MakeReference();
  return k;
}

const KernelSet& SelectKernelSet(KernelChoice choice) {
  if (choice == KernelChoice::kReference) return ReferenceKernelSet();
  static const KernelSet k = MakeMerged();
  return k;
}

}  // namespace tfqat::runtime

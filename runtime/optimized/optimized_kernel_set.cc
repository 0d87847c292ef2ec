// The optimized KernelSet (runtime/kernel_set.h): AVX2 kernels chosen at run time when the CPU and
// OS support AVX2; null otherwise, so the reference kernels (the portable fallback) run.
// Conv/FC need the packed weights built by the prepare hook; without them (or with too little
// scratch, grouped convs, non-constant weights) each entry calls the reference kernel itself.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <vector>
#include <memory>

#include "runtime/kernel_set.h"
#include "runtime/optimized/conv_float_packed.h"
#include "runtime/optimized/depthwise_packed.h"
#include "runtime/optimized/gemm_packed.h"
#include "runtime/reference/reference_kernels.h"

namespace tfqat::runtime {
namespace optimized {
namespace {

bool CpuHasAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool CpuHasAvxVnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avxvnni");
#else
  return false;
#endif
}

bool ConvGeometryFrom(const ConvParams& p, const Shape& is, const Shape& fs, const Shape& os,
                      ConvGeometry* g) {
  if (is.rank != 4 || fs.rank != 4 || os.rank != 4) return false;
  if (fs.Dim(3) != is.Dim(3) || fs.Dim(0) != os.Dim(3) || is.Dim(0) != os.Dim(0)) return false;
  g->batches = is.Dim(0);
  g->in_h = is.Dim(1);
  g->in_w = is.Dim(2);
  g->in_d = is.Dim(3);
  g->out_h = os.Dim(1);
  g->out_w = os.Dim(2);
  g->out_d = os.Dim(3);
  g->f_h = fs.Dim(1);
  g->f_w = fs.Dim(2);
  g->stride_h = p.stride_height;
  g->stride_w = p.stride_width;
  g->dil_h = p.dilation_height;
  g->dil_w = p.dilation_width;
  g->pad_h = p.pad_height;
  g->pad_w = p.pad_width;
  return p.input_offset >= -255 && p.input_offset <= 255;
}

bool FcGeometryFrom(const FullyConnectedParams& p, const Shape& is, const Shape& fs,
                    ConvGeometry* g) {
  if (fs.rank != 2 || fs.Dim(1) <= 0) return false;
  const int64_t accum = fs.Dim(1);
  if (is.FlatSize() % accum != 0) return false;
  g->batches = static_cast<int>(is.FlatSize() / accum);
  g->in_d = static_cast<int>(accum);
  g->out_d = fs.Dim(0);
  return p.input_offset >= -255 && p.input_offset <= 255;
}

const PackedGemmWeights* Usable(const KernelContext& ctx, const ConvGeometry& g) {
  const auto* w = static_cast<const PackedGemmWeights*>(ctx.prepared);
  if (w == nullptr || w->n != g.out_d || w->k != (w->implicit_conv ? g.ImplicitK() : g.K())) {
    return nullptr;
  }
  if (ctx.scratch == nullptr) return nullptr;
  if (w->winograd) {
    return ctx.scratch_bytes >= WinogradScratchBytes(g, 1) && w->winograd_k == (g.in_d + 1) / 2 * 2
               ? w
               : nullptr;
  }
  if (w->implicit_conv ? ctx.scratch_bytes < ImplicitImageBytes(g)
                       : ctx.scratch_bytes < w->ScratchPerThread()) {
    return nullptr;
  }
  return w;
}

// The implicit convolution needs dilation 1 (filter rows contiguous in the image) and, when a
// filter row has an odd length, a filter value whose offset weight is 0 for the padding slot.
template <typename T>
bool ImplicitConvApplies(const ConvGeometry& g, int32_t weights_offset) {
  if (g.dil_h != 1 || g.dil_w != 1 || ImplicitImageBytes(g) > (64u << 20)) return false;
  return g.SegLen2() == g.f_w * g.in_d ||
         (-weights_offset >= std::numeric_limits<T>::lowest() &&
          -weights_offset <= std::numeric_limits<T>::max());
}

// Filter [n][f_h][f_w * in_d] -> [n][f_h][SegLen2()], the padding slot = -weights_offset so that
// the packed (w + weights_offset) is 0.
template <typename T>
std::vector<T> PadFilterRows(const T* filter, const ConvGeometry& g, int32_t weights_offset) {
  const int seg = g.f_w * g.in_d, seg2 = g.SegLen2();
  std::vector<T> out(static_cast<size_t>(g.out_d) * g.f_h * seg2, static_cast<T>(-weights_offset));
  for (int n = 0; n < g.out_d; ++n)
    for (int fy = 0; fy < g.f_h; ++fy)
      std::copy_n(filter + (static_cast<size_t>(n) * g.f_h + fy) * seg, seg,
                  out.begin() + (static_cast<size_t>(n) * g.f_h + fy) * seg2);
  return out;
}

template <typename T>
void ConvImpl(const ConvParams& p, const Shape& is, const T* input, const Shape& fs,
              const T* filter, const Shape& bs, const int32_t* bias, const Shape& os, T* output,
              const KernelContext& ctx) {
  ConvGeometry g;
  const PackedGemmWeights* w = ConvGeometryFrom(p, is, fs, os, &g) ? Usable(ctx, g) : nullptr;
  if (w == nullptr) {
    if constexpr (std::is_same_v<T, int8_t>) {
      reference::ConvInt8(p, is, input, fs, filter, bs, bias, os, output, ctx);
    } else {
      reference::ConvUint8(p, is, input, fs, filter, bs, bias, os, output, ctx);
    }
    return;
  }
  if (w->winograd) {
    if constexpr (std::is_same_v<T, int8_t>) {
      ConvWinogradInt8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max,
                           input, output, ctx);
    } else {
      ConvWinogradUint8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min,
                            p.act.act_max, input, output, ctx);
    }
    return;
  }
  if (w->implicit_conv) {
    if constexpr (std::is_same_v<T, int8_t>) {
      ConvImplicitInt8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max,
                           input, output, ctx);
    } else {
      ConvImplicitUint8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max,
                            input, output, ctx);
    }
    return;
  }
  if constexpr (std::is_same_v<T, int8_t>) {
    ConvGemmInt8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max, input,
                     output, ctx);
  } else {
    ConvGemmUint8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max, input,
                      output, ctx);
  }
}

template <typename T>
void FcImpl(const FullyConnectedParams& p, const Shape& is, const T* input, const Shape& fs,
            const T* filter, const Shape& bs, const int32_t* bias, const Shape& os, T* output,
            const KernelContext& ctx) {
  ConvGeometry g;
  const PackedGemmWeights* w = FcGeometryFrom(p, is, fs, &g) ? Usable(ctx, g) : nullptr;
  if (w == nullptr) {
    if constexpr (std::is_same_v<T, int8_t>) {
      reference::FullyConnectedInt8(p, is, input, fs, filter, bs, bias, os, output, ctx);
    } else {
      reference::FullyConnectedUint8(p, is, input, fs, filter, bs, bias, os, output, ctx);
    }
    return;
  }
  if constexpr (std::is_same_v<T, int8_t>) {
    ConvGemmInt8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max, input,
                     output, ctx);
  } else {
    ConvGemmUint8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max, input,
                      output, ctx);
  }
}

bool DepthwiseGeometryFrom(const ConvParams& p, const Shape& is, const Shape& fs, const Shape& os,
                           DepthwiseGeometry* g) {
  if (is.rank != 4 || fs.rank != 4 || os.rank != 4 || p.depth_multiplier != 1) return false;
  if (fs.Dim(0) != 1 || fs.Dim(3) != is.Dim(3) || os.Dim(3) != is.Dim(3) || is.Dim(0) != os.Dim(0))
    return false;
  g->batches = is.Dim(0);
  g->in_h = is.Dim(1);
  g->in_w = is.Dim(2);
  g->channels = is.Dim(3);
  g->out_h = os.Dim(1);
  g->out_w = os.Dim(2);
  g->f_h = fs.Dim(1);
  g->f_w = fs.Dim(2);
  g->stride_h = p.stride_height;
  g->stride_w = p.stride_width;
  g->dil_h = p.dilation_height;
  g->dil_w = p.dilation_width;
  g->pad_h = p.pad_height;
  g->pad_w = p.pad_width;
  return p.input_offset >= -255 && p.input_offset <= 255 && g->ImageBytes() <= (64u << 20);
}

template <typename T>
void DepthwiseImpl(const ConvParams& p, const Shape& is, const T* input, const Shape& fs,
                   const T* filter, const Shape& bs, const int32_t* bias, const Shape& os,
                   T* output, const KernelContext& ctx) {
  DepthwiseGeometry g;
  const auto* w = static_cast<const PackedDepthwise*>(ctx.prepared);
  if (w == nullptr || !DepthwiseGeometryFrom(p, is, fs, os, &g) || w->channels != g.channels ||
      w->f_h != g.f_h || w->f_w != g.f_w || ctx.scratch == nullptr ||
      ctx.scratch_bytes < g.ImageBytes()) {
    if constexpr (std::is_same_v<T, int8_t>) {
      reference::DepthwiseConvInt8(p, is, input, fs, filter, bs, bias, os, output, ctx);
    } else {
      reference::DepthwiseConvUint8(p, is, input, fs, filter, bs, bias, os, output, ctx);
    }
    return;
  }
  if constexpr (std::is_same_v<T, int8_t>) {
    DepthwiseInt8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max, input,
                      output, ctx);
  } else {
    DepthwiseUint8Avx2(g, *w, p.input_offset, p.output_offset, p.act.act_min, p.act.act_max, input,
                       output, ctx);
  }
}

template <typename T>
KernelPrepareResult PrepareDepthwise(const KernelPrepareArgs& a) {
  KernelPrepareResult r;
  const auto& p = *static_cast<const ConvParams*>(a.params);
  DepthwiseGeometry g;
  if (a.filter_data == nullptr || p.output_multiplier == nullptr || p.output_shift == nullptr ||
      !DepthwiseGeometryFrom(p, a.input_shape, a.filter_shape, a.output_shape, &g)) {
    return r;
  }
  auto w = std::make_shared<PackedDepthwise>();
  if (!PackDepthwise(static_cast<const T*>(a.filter_data), g.channels, g.f_h, g.f_w,
                     p.weights_offset, static_cast<const int32_t*>(a.bias_data), p.output_multiplier,
                     p.output_shift, w.get())) {
    return r;
  }
  w->image_bytes = g.ImageBytes();
  r.scratch_bytes = w->image_bytes;
  r.state = std::move(w);
  return r;
}

void ConvFloatImpl(const ConvParams& p, const Shape& is, const float* input, const Shape& fs,
                   const float* filter, const Shape& bs, const float* bias, const Shape& os,
                   float* output, const KernelContext& ctx) {
  ConvGeometry g;
  const auto* w = static_cast<const PackedFloatConv*>(ctx.prepared);
  if (w == nullptr || !ConvGeometryFrom(p, is, fs, os, &g) || g.dil_h != 1 || g.dil_w != 1 ||
      w->n != g.out_d || w->k != g.K() || w->has_bias != (bias != nullptr) ||
      ctx.scratch == nullptr || ctx.scratch_bytes < FloatImageBytes(g)) {
    reference::ConvFloat(p, is, input, fs, filter, bs, bias, os, output, ctx);
    return;
  }
  ConvFloatAvx2(g, *w, p.act, input, output, ctx);
}

KernelPrepareResult PrepareConvFloat(const KernelPrepareArgs& a) {
  KernelPrepareResult r;
  const auto& p = *static_cast<const ConvParams*>(a.params);
  ConvGeometry g;
  if (a.filter_data == nullptr ||
      !ConvGeometryFrom(p, a.input_shape, a.filter_shape, a.output_shape, &g) || g.dil_h != 1 ||
      g.dil_w != 1 || FloatImageBytes(g) > (64u << 20) ||
      std::getenv("TFQAT_DISABLE_FLOAT_CONV") != nullptr) {
    return r;
  }
  auto w = std::make_shared<PackedFloatConv>();
  if (!PackFloatConv(static_cast<const float*>(a.filter_data), g.out_d, g.K(),
                     static_cast<const float*>(a.bias_data), w.get())) {
    return r;
  }
  w->image_bytes = FloatImageBytes(g);
  r.scratch_bytes = w->image_bytes;
  r.state = std::move(w);
  return r;
}

void DepthwiseFloatImpl(const ConvParams& p, const Shape& is, const float* input, const Shape& fs,
                        const float* filter, const Shape& bs, const float* bias, const Shape& os,
                        float* output, const KernelContext& ctx) {
  DepthwiseGeometry g;
  const auto* w = static_cast<const PackedDepthwiseFloat*>(ctx.prepared);
  if (w == nullptr || !DepthwiseGeometryFrom(p, is, fs, os, &g) || w->channels != g.channels ||
      w->f_h != g.f_h || w->f_w != g.f_w || w->has_bias != (bias != nullptr) ||
      ctx.scratch == nullptr || ctx.scratch_bytes < DepthwiseFloatImageBytes(g)) {
    reference::DepthwiseConvFloat(p, is, input, fs, filter, bs, bias, os, output, ctx);
    return;
  }
  DepthwiseFloatAvx2(g, *w, p.act, input, output, ctx);
}

KernelPrepareResult PrepareDepthwiseFloat(const KernelPrepareArgs& a) {
  KernelPrepareResult r;
  const auto& p = *static_cast<const ConvParams*>(a.params);
  DepthwiseGeometry g;
  if (a.filter_data == nullptr || std::getenv("TFQAT_DISABLE_FLOAT_CONV") != nullptr ||
      !DepthwiseGeometryFrom(p, a.input_shape, a.filter_shape, a.output_shape, &g)) {
    return r;
  }
  auto w = std::make_shared<PackedDepthwiseFloat>();
  if (!PackDepthwiseFloat(static_cast<const float*>(a.filter_data), g.channels, g.f_h, g.f_w,
                          static_cast<const float*>(a.bias_data), w.get())) {
    return r;
  }
  r.scratch_bytes = DepthwiseFloatImageBytes(g);
  r.state = std::move(w);
  return r;
}

template <typename T>
KernelPrepareResult PrepareTyped(const KernelPrepareArgs& a) {
  KernelPrepareResult r;
  if (a.filter_data == nullptr) return r;
  ConvGeometry g;
  const int32_t* mult = nullptr;
  const int32_t* shift = nullptr;
  int32_t weights_offset = 0;
  if (a.op == KernelOp::kConv) {
    const auto& p = *static_cast<const ConvParams*>(a.params);
    if (!ConvGeometryFrom(p, a.input_shape, a.filter_shape, a.output_shape, &g)) return r;
    mult = p.output_multiplier;
    shift = p.output_shift;
    weights_offset = p.weights_offset;
  } else {
    const auto& p = *static_cast<const FullyConnectedParams*>(a.params);
    if (!FcGeometryFrom(p, a.input_shape, a.filter_shape, &g)) return r;
    mult = p.output_multiplier;
    shift = p.output_shift;
    weights_offset = p.weights_offset;
  }
  if (mult == nullptr || shift == nullptr) return r;
  auto w = std::make_shared<PackedGemmWeights>();
  const bool implicit = a.op == KernelOp::kConv && ImplicitConvApplies<T>(g, weights_offset) &&
                        std::getenv("TFQAT_CONV_IM2COL") == nullptr;
  const T* const original_filter = static_cast<const T*>(a.filter_data);
  const T* filter = original_filter;
  std::vector<T> padded;
  if (implicit && g.SegLen2() != g.f_w * g.in_d) {
    padded = PadFilterRows(filter, g, weights_offset);
    filter = padded.data();
  }
  if (!PackGemmWeights(filter, g.out_d, implicit ? g.ImplicitK() : g.K(), weights_offset,
                       static_cast<const int32_t*>(a.bias_data), mult, shift, a.num_threads,
                       w.get())) {
    return r;
  }
  w->use_avxvnni = CpuHasAvxVnni() && std::getenv("TFQAT_DISABLE_AVXVNNI") == nullptr;
  if (implicit) {
    w->implicit_conv = true;
    w->image_bytes = ImplicitImageBytes(g);
    if (WinogradApplies(g) && std::getenv("TFQAT_CONV_NO_WINOGRAD") == nullptr) {
      PackWinogradWeights(original_filter, g, weights_offset, w.get());
      w->winograd = true;
      w->winograd_scratch = WinogradScratchBytes(g, w->threads);
      w->data = {};  // the implicit conv's panels are not used
    }
  }
  r.scratch_bytes = w->RequiredScratch(w->threads);
  r.state = std::move(w);
  return r;
}

KernelPrepareResult Prepare(const KernelPrepareArgs& a) {
  if (a.type == KernelType::kFloat32) {
    if (a.op == KernelOp::kConv) return PrepareConvFloat(a);
    if (a.op == KernelOp::kDepthwiseConv) return PrepareDepthwiseFloat(a);
    return {};
  }
  if (a.op == KernelOp::kDepthwiseConv) {
    if (a.type == KernelType::kInt8) return PrepareDepthwise<int8_t>(a);
    if (a.type == KernelType::kUint8) return PrepareDepthwise<uint8_t>(a);
    return {};
  }
  if (a.op != KernelOp::kConv && a.op != KernelOp::kFullyConnected) return {};
  if (a.type == KernelType::kInt8) return PrepareTyped<int8_t>(a);
  if (a.type == KernelType::kUint8) return PrepareTyped<uint8_t>(a);
  return {};
}

KernelSet MakeAvx2Set() {
  KernelSet k;
  k.name = "optimized-avx2";
  k.int8.conv = ConvImpl<int8_t>;
  k.int8.depthwise_conv = DepthwiseImpl<int8_t>;
  k.float32.conv = ConvFloatImpl;
  k.float32.depthwise_conv = DepthwiseFloatImpl;
  k.uint8.depthwise_conv = DepthwiseImpl<uint8_t>;
  k.int8.fully_connected = FcImpl<int8_t>;
  k.int8.max_pool = MaxPoolInt8Avx2;
  k.uint8.conv = ConvImpl<uint8_t>;
  k.uint8.fully_connected = FcImpl<uint8_t>;
  k.uint8.max_pool = MaxPoolUint8Avx2;
  k.prepare = Prepare;
  return k;
}

}  // namespace
}  // namespace optimized

const KernelSet* GetOptimizedKernelSet() {
  static const bool has_avx2 = optimized::CpuHasAvx2();
  if (!has_avx2) return nullptr;
  static const KernelSet k = optimized::MakeAvx2Set();
  return &k;
}

}  // namespace tfqat::runtime

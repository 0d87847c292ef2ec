// Per-operator validation and preparation: shapes, quantization parameters (multipliers, shifts,
// activation ranges), kernel selection. Each op becomes a closure that Invoke() calls.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"
#include "proto/tflite_schema_generated.h"
#include "runtime/fixed_point.h"
#include "runtime/interpreter_internal.h"
#include "runtime/reference/reference_kernels.h"
#include "runtime/thread_pool.h"

namespace tfqat::runtime {

namespace tfl = ::tflite;

namespace {

int32_t TypeMin(ElementType t) { return t == ElementType::kUint8 ? 0 : -128; }
int32_t TypeMax(ElementType t) { return t == ElementType::kUint8 ? 255 : 127; }
bool IsQuant(ElementType t) { return t == ElementType::kUint8 || t == ElementType::kInt8; }

std::string ShapeStr(const Shape& s) {
  std::vector<int32_t> d(s.dims, s.dims + s.rank);
  return absl::StrCat("[", absl::StrJoin(d, ", "), "]");
}

bool SameShape(const Shape& a, const Shape& b) {
  if (a.rank != b.rank) return false;
  for (int i = 0; i < a.rank; ++i)
    if (a.dims[i] != b.dims[i]) return false;
  return true;
}

Shape MakeShape(std::initializer_list<int32_t> d) {
  Shape s;
  for (int32_t v : d) s.dims[s.rank++] = v;
  return s;
}

// Right-aligns `s` to `rank` dimensions (leading 1s).
Shape Extend(const Shape& s, int rank) {
  Shape r;
  r.rank = rank;
  const int pad = rank - s.rank;
  for (int i = 0; i < rank; ++i) r.dims[i] = i < pad ? 1 : s.dims[i - pad];
  return r;
}

int32_t Round(float f) { return static_cast<int32_t>(std::round(f)); }

// TFLite's CalculateActivationRangeQuantized / float activation bounds.
bool ActivationRangeFor(tfl::ActivationFunctionType act, const TensorInfo& out,
                        ActivationRange* r) {
  const float inf = std::numeric_limits<float>::infinity();
  r->float_act_min = -inf;
  r->float_act_max = inf;
  switch (act) {
    case tfl::ActivationFunctionType::NONE: break;
    case tfl::ActivationFunctionType::RELU: r->float_act_min = 0.f; break;
    case tfl::ActivationFunctionType::RELU6: r->float_act_min = 0.f; r->float_act_max = 6.f; break;
    case tfl::ActivationFunctionType::RELU_N1_TO_1: r->float_act_min = -1.f; r->float_act_max = 1.f; break;
    default: return false;
  }
  if (IsQuant(out.type)) {
    const int32_t qmin = TypeMin(out.type), qmax = TypeMax(out.type);
    auto q = [&](float f) { return out.zero_point + Round(f / out.scale); };
    r->act_min = qmin;
    r->act_max = qmax;
    if (act == tfl::ActivationFunctionType::RELU) {
      r->act_min = std::max(qmin, q(0.f));
    } else if (act == tfl::ActivationFunctionType::RELU6) {
      r->act_min = std::max(qmin, q(0.f));
      r->act_max = std::min(qmax, q(6.f));
    } else if (act == tfl::ActivationFunctionType::RELU_N1_TO_1) {
      r->act_min = std::max(qmin, q(-1.f));
      r->act_max = std::min(qmax, q(1.f));
    }
  }
  return true;
}

// TFLite's ComputePaddingHeightWidth for one dimension.
void ComputePadding(tfl::Padding padding, int in, int filter, int stride, int dilation, int* out,
                    int* pad, int* offset) {
  const int eff = (filter - 1) * dilation + 1;
  *out = padding == tfl::Padding::SAME ? (in + stride - 1) / stride : (in - eff + stride) / stride;
  const int total = std::max((*out - 1) * stride + eff - in, 0);
  *pad = total / 2;
  *offset = total % 2;
}

}  // namespace

#define OPERR(...) \
  absl::InvalidArgumentError(absl::StrCat("operator ", op_index, " (", op_name, "): ", __VA_ARGS__))

absl::Status Interpreter::PrepareOp(int op_index, const std::string& op_name,
                                    tfl::BuiltinOperator bop, const tfl::Operator* fop,
                                    PreparedOp* op) {
  const int n_in = static_cast<int>(op->inputs.size());
  auto T = [&](int k) -> TensorInfo& { return tensors_[op->inputs[k]]; };
  auto O = [&](int k) -> TensorInfo& { return tensors_[op->outputs[k]]; };
  auto need_inputs = [&](int lo, int hi) -> absl::Status {
    if (n_in < lo || n_in > hi) return OPERR("expected ", lo, "..", hi, " inputs, got ", n_in);
    for (int k = 0; k < std::min(n_in, lo); ++k)
      if (op->inputs[k] < 0) return OPERR("input ", k, " is missing");
    return absl::OkStatus();
  };
  auto type_err = [&](const TensorInfo& t) {
    return OPERR("unsupported type ", tfl::EnumNameTensorType(static_cast<tfl::TensorType>(t.tflite_type)),
                 " (tensor '", t.name, "')");
  };
  auto need_quant = [&](const TensorInfo& t) -> absl::Status {
    if (IsQuant(t.type) && (t.scales.size() != 1 || !(t.scale > 0.f)))
      return OPERR("tensor '", t.name, "' needs per-tensor quantization with a positive scale");
    return absl::OkStatus();
  };
  auto need_same_quant = [&](const TensorInfo& a, const TensorInfo& b) -> absl::Status {
    if (a.type != b.type) return OPERR("tensors '", a.name, "' and '", b.name, "' have different types");
    if (IsQuant(a.type) && (a.scale != b.scale || a.zero_point != b.zero_point))
      return OPERR("tensors '", a.name, "' and '", b.name, "' need the same scale and zero point");
    return absl::OkStatus();
  };
  auto act_of = [&](tfl::ActivationFunctionType act, const TensorInfo& out,
                    ActivationRange* r) -> absl::Status {
    if (!ActivationRangeFor(act, out, r))
      return OPERR("unsupported fused activation ", tfl::EnumNameActivationFunctionType(act));
    return absl::OkStatus();
  };
  const std::vector<int> ins = op->inputs;
  const std::vector<int> outs = op->outputs;

  switch (bop) {
    // ------------------------------------------------------------------ convolutions
    case tfl::BuiltinOperator::CONV_2D:
    case tfl::BuiltinOperator::DEPTHWISE_CONV_2D:
    case tfl::BuiltinOperator::TRANSPOSE_CONV: {
      const bool is_t = bop == tfl::BuiltinOperator::TRANSPOSE_CONV;
      const bool is_dw = bop == tfl::BuiltinOperator::DEPTHWISE_CONV_2D;
      TFQAT_RETURN_IF_ERROR(need_inputs(is_t ? 3 : 2, is_t ? 4 : 3));
      const int in_idx = is_t ? ins[2] : ins[0];
      const int f_idx = ins[1];
      const int b_idx = is_t ? (n_in > 3 ? ins[3] : -1) : (n_in > 2 ? ins[2] : -1);
      const TensorInfo& in = tensors_[in_idx];
      const TensorInfo& f = tensors_[f_idx];
      const TensorInfo& out = O(0);
      if (in.shape.rank != 4 || f.shape.rank != 4 || out.shape.rank != 4)
        return OPERR("input, filter and output must be 4-D, got ", ShapeStr(in.shape), ", ",
                     ShapeStr(f.shape), ", ", ShapeStr(out.shape));
      if (!f.const_data) return OPERR("filter '", f.name, "' must be constant");
      const ElementType et = in.type;
      if (et != ElementType::kFloat32 && !IsQuant(et)) return type_err(in);
      if (f.type != et || out.type != et) return type_err(f.type != et ? f : out);
      ConvParams p;
      tfl::ActivationFunctionType act = tfl::ActivationFunctionType::NONE;
      tfl::Padding padding = tfl::Padding::VALID;
      int kh = f.shape.dims[1], kw = f.shape.dims[2];
      if (bop == tfl::BuiltinOperator::CONV_2D) {
        const auto* o = fop->builtin_options_as_Conv2DOptions();
        if (!o) return OPERR("missing Conv2DOptions");
        padding = o->padding();
        p.stride_height = o->stride_h(); p.stride_width = o->stride_w();
        p.dilation_height = o->dilation_h_factor(); p.dilation_width = o->dilation_w_factor();
        act = o->fused_activation_function();
        if (f.shape.dims[3] <= 0 || in.shape.dims[3] % f.shape.dims[3] != 0 ||
            f.shape.dims[0] % (in.shape.dims[3] / f.shape.dims[3]) != 0)
          return OPERR("filter ", ShapeStr(f.shape), " does not match input ", ShapeStr(in.shape));
        if (f.shape.dims[0] != out.shape.dims[3]) return OPERR("filter/output channel mismatch");
      } else if (is_dw) {
        const auto* o = fop->builtin_options_as_DepthwiseConv2DOptions();
        if (!o) return OPERR("missing DepthwiseConv2DOptions");
        padding = o->padding();
        p.stride_height = o->stride_h(); p.stride_width = o->stride_w();
        p.dilation_height = o->dilation_h_factor(); p.dilation_width = o->dilation_w_factor();
        act = o->fused_activation_function();
        const int ic = in.shape.dims[3], oc = f.shape.dims[3];
        if (f.shape.dims[0] != 1 || ic <= 0 || oc % ic != 0 || oc != out.shape.dims[3])
          return OPERR("filter ", ShapeStr(f.shape), " does not match input ", ShapeStr(in.shape),
                       " and output ", ShapeStr(out.shape));
        p.depth_multiplier = oc / ic;
      } else {
        const auto* o = fop->builtin_options_as_TransposeConvOptions();
        if (!o) return OPERR("missing TransposeConvOptions");
        padding = o->padding();
        p.stride_height = o->stride_h(); p.stride_width = o->stride_w();
        act = o->fused_activation_function();
        const TensorInfo& os = T(0);
        if (!os.const_data || os.type != ElementType::kInt32 || os.shape.FlatSize() != 4)
          return OPERR("output_shape must be a constant int32 vector of 4");
        const int32_t* osd = reinterpret_cast<const int32_t*>(os.const_data);
        for (int k = 0; k < 4; ++k)
          if (osd[k] != out.shape.dims[k]) return OPERR("output_shape does not match the output tensor");
        if (f.shape.dims[0] != out.shape.dims[3] || f.shape.dims[3] != in.shape.dims[3])
          return OPERR("filter ", ShapeStr(f.shape), " does not match input/output channels");
      }
      if (p.stride_height <= 0 || p.stride_width <= 0 || p.dilation_height <= 0 || p.dilation_width <= 0 ||
          p.stride_height > 1024 || p.stride_width > 1024 || p.dilation_height > 1024 || p.dilation_width > 1024)
        return OPERR("invalid stride or dilation");
      p.padding = padding == tfl::Padding::SAME ? PaddingKind::kSame : PaddingKind::kValid;
      int oh, ow;
      if (!is_t) {
        ComputePadding(padding, in.shape.dims[1], kh, p.stride_height, p.dilation_height, &oh, &p.pad_height, &p.pad_height_offset);
        ComputePadding(padding, in.shape.dims[2], kw, p.stride_width, p.dilation_width, &ow, &p.pad_width, &p.pad_width_offset);
        if (oh != out.shape.dims[1] || ow != out.shape.dims[2] || in.shape.dims[0] != out.shape.dims[0])
          return OPERR("output shape ", ShapeStr(out.shape), " does not match the computed [",
                       in.shape.dims[0], ", ", oh, ", ", ow, ", ", out.shape.dims[3], "]");
      } else {
        int uh, uw;
        ComputePadding(padding, out.shape.dims[1], kh, p.stride_height, 1, &uh, &p.pad_height, &p.pad_height_offset);
        ComputePadding(padding, out.shape.dims[2], kw, p.stride_width, 1, &uw, &p.pad_width, &p.pad_width_offset);
        if (in.shape.dims[0] != out.shape.dims[0]) return OPERR("batch mismatch");
      }
      const int out_c = out.shape.dims[3];
      if (b_idx >= 0) {
        const TensorInfo& b = tensors_[b_idx];
        const ElementType bt = et == ElementType::kFloat32 ? ElementType::kFloat32 : ElementType::kInt32;
        if (b.type != bt) return type_err(b);
        if (!b.const_data) return OPERR("bias must be constant");
        if (b.shape.FlatSize() != out_c) return OPERR("bias has ", b.shape.FlatSize(), " elements, expected ", out_c);
      }
      TFQAT_RETURN_IF_ERROR(act_of(act, out, &p.act));
      if (IsQuant(et)) {
        TFQAT_RETURN_IF_ERROR(need_quant(in));
        TFQAT_RETURN_IF_ERROR(need_quant(out));
        const int qdim = is_dw ? 3 : 0;
        const int ns = static_cast<int>(f.scales.size());
        if (ns != 1 && !(ns == out_c && f.quantized_dimension == qdim))
          return OPERR("filter '", f.name, "' needs 1 or ", out_c, " scales along dimension ", qdim);
        if (et == ElementType::kInt8) {
          for (int64_t z : f.zero_points)
            if (z != 0) return OPERR("int8 filter '", f.name, "' must have zero point 0");
        } else if (ns != 1) {
          return OPERR("uint8 filter '", f.name, "' must be quantized per tensor");
        }
        p.input_offset = -in.zero_point;
        p.weights_offset = -f.zero_point;
        p.output_offset = out.zero_point;
        op->multipliers.resize(out_c);
        op->shifts.resize(out_c);
        for (int c = 0; c < out_c; ++c) {
          const double fs = static_cast<double>(f.scales[ns == 1 ? 0 : c]);
          const double m = static_cast<double>(in.scale) * fs / static_cast<double>(out.scale);
          int sh;
          QuantizeMultiplier(m, &op->multipliers[c], &sh);
          op->shifts[c] = sh;
        }
        p.output_multiplier = op->multipliers.data();
        p.output_shift = op->shifts.data();
      }
      const Shape is = in.shape, fsh = f.shape, os = out.shape;
      const Shape bs = b_idx >= 0 ? tensors_[b_idx].shape : Shape{};
      if (is_t) op->scratch = static_cast<size_t>(os.FlatSize()) * 4;
      op->flops = is_t ? 2.0 * is.FlatSize() * kh * kw * out_c
                       : 2.0 * os.FlatSize() * kh * kw * (is_dw ? 1 : fsh.dims[3]);
      const KernelOp kop = is_t ? KernelOp::kTransposeConv : is_dw ? KernelOp::kDepthwiseConv : KernelOp::kConv;
      // Keep the params alive at a stable address for the prepare hook.
      auto make = [&](auto tk, auto bk, const auto& table) -> absl::Status {
        using TT = decltype(tk);
        using BB = decltype(bk);
        ConvFn<TT, BB> fn = is_t ? table.transpose_conv : is_dw ? table.depthwise_conv : table.conv;
        if (kernels_->prepare) {
          KernelPrepareArgs a;
          a.op = kop;
          a.type = et == ElementType::kFloat32 ? KernelType::kFloat32 : et == ElementType::kUint8 ? KernelType::kUint8 : KernelType::kInt8;
          a.params = &p;
          a.input_shape = is; a.filter_shape = fsh; a.bias_shape = bs; a.output_shape = os;
          a.filter_data = f.const_data;
          a.bias_data = b_idx >= 0 ? tensors_[b_idx].const_data : nullptr;
          a.num_threads = pool_ ? pool_->num_threads() : 1;
          op->prepared = kernels_->prepare(a);
        }
        op->run = [this, fn, p, is, fsh, bs, os, in_idx, f_idx, b_idx, o = outs[0]](const KernelContext& ctx) {
          fn(p, is, static_cast<const TT*>(TensorData(in_idx)), fsh,
             static_cast<const TT*>(TensorData(f_idx)), bs,
             b_idx >= 0 ? static_cast<const BB*>(TensorData(b_idx)) : nullptr, os,
             static_cast<TT*>(TensorData(o)), ctx);
        };
        return absl::OkStatus();
      };
      if (et == ElementType::kInt8) return make(int8_t{}, int32_t{}, kernels_->int8);
      if (et == ElementType::kUint8) return make(uint8_t{}, int32_t{}, kernels_->uint8);
      return make(float{}, float{}, kernels_->float32);
    }

    // ------------------------------------------------------------------ fully connected
    case tfl::BuiltinOperator::FULLY_CONNECTED: {
      TFQAT_RETURN_IF_ERROR(need_inputs(2, 3));
      const TensorInfo& in = T(0);
      const TensorInfo& f = T(1);
      const TensorInfo& out = O(0);
      const int b_idx = n_in > 2 ? ins[2] : -1;
      const auto* o = fop->builtin_options_as_FullyConnectedOptions();
      if (!o) return OPERR("missing FullyConnectedOptions");
      if (o->weights_format() != tfl::FullyConnectedOptionsWeightsFormat::DEFAULT)
        return OPERR("shuffled weights are not supported");
      const ElementType et = in.type;
      if (et != ElementType::kFloat32 && !IsQuant(et)) return type_err(in);
      if (f.type != et || out.type != et) return type_err(f.type != et ? f : out);
      if (!f.const_data) return OPERR("weights must be constant");
      if (f.shape.rank != 2) return OPERR("weights must be 2-D, got ", ShapeStr(f.shape));
      const int out_d = f.shape.dims[0], accum = f.shape.dims[1];
      if (accum <= 0 || in.shape.FlatSize() % accum != 0)
        return OPERR("input ", ShapeStr(in.shape), " does not match weights ", ShapeStr(f.shape));
      const int64_t batches = in.shape.FlatSize() / accum;
      if (out.shape.FlatSize() != batches * out_d || out.shape.rank < 1 || out.shape.dims[out.shape.rank - 1] != out_d)
        return OPERR("output shape ", ShapeStr(out.shape), " does not match [", batches, ", ", out_d, "]");
      if (b_idx >= 0) {
        const TensorInfo& b = tensors_[b_idx];
        const ElementType bt = et == ElementType::kFloat32 ? ElementType::kFloat32 : ElementType::kInt32;
        if (b.type != bt) return type_err(b);
        if (!b.const_data) return OPERR("bias must be constant");
        if (b.shape.FlatSize() != out_d) return OPERR("bias size mismatch");
      }
      FullyConnectedParams p;
      TFQAT_RETURN_IF_ERROR(act_of(o->fused_activation_function(), out, &p.act));
      if (IsQuant(et)) {
        TFQAT_RETURN_IF_ERROR(need_quant(in));
        TFQAT_RETURN_IF_ERROR(need_quant(out));
        const int ns = static_cast<int>(f.scales.size());
        if (ns != 1 && !(ns == out_d && f.quantized_dimension == 0))
          return OPERR("weights need 1 or ", out_d, " scales");
        if (et == ElementType::kInt8)
          for (int64_t z : f.zero_points)
            if (z != 0) return OPERR("int8 weights must have zero point 0");
        p.input_offset = -in.zero_point;
        p.weights_offset = -f.zero_point;
        p.output_offset = out.zero_point;
        op->multipliers.resize(out_d);
        op->shifts.resize(out_d);
        for (int c = 0; c < out_d; ++c) {
          const double m = static_cast<double>(in.scale) * static_cast<double>(f.scales[ns == 1 ? 0 : c]) /
                           static_cast<double>(out.scale);
          int sh;
          QuantizeMultiplier(m, &op->multipliers[c], &sh);
          op->shifts[c] = sh;
        }
        p.output_multiplier = op->multipliers.data();
        p.output_shift = op->shifts.data();
      }
      const Shape is = in.shape, fsh = f.shape, os = out.shape;
      const Shape bs = b_idx >= 0 ? tensors_[b_idx].shape : Shape{};
      op->flops = 2.0 * batches * out_d * accum;
      const int in_idx = ins[0], f_idx = ins[1];
      auto make = [&](auto tk, auto bk, const auto& table) -> absl::Status {
        using TT = decltype(tk);
        using BB = decltype(bk);
        FullyConnectedFn<TT, BB> fn = table.fully_connected;
        if (kernels_->prepare) {
          KernelPrepareArgs a;
          a.op = KernelOp::kFullyConnected;
          a.type = et == ElementType::kFloat32 ? KernelType::kFloat32 : et == ElementType::kUint8 ? KernelType::kUint8 : KernelType::kInt8;
          a.params = &p;
          a.input_shape = is; a.filter_shape = fsh; a.bias_shape = bs; a.output_shape = os;
          a.filter_data = f.const_data;
          a.bias_data = b_idx >= 0 ? tensors_[b_idx].const_data : nullptr;
          a.num_threads = pool_ ? pool_->num_threads() : 1;
          op->prepared = kernels_->prepare(a);
        }
        op->run = [this, fn, p, is, fsh, bs, os, in_idx, f_idx, b_idx, o = outs[0]](const KernelContext& ctx) {
          fn(p, is, static_cast<const TT*>(TensorData(in_idx)), fsh,
             static_cast<const TT*>(TensorData(f_idx)), bs,
             b_idx >= 0 ? static_cast<const BB*>(TensorData(b_idx)) : nullptr, os,
             static_cast<TT*>(TensorData(o)), ctx);
        };
        return absl::OkStatus();
      };
      if (et == ElementType::kInt8) return make(int8_t{}, int32_t{}, kernels_->int8);
      if (et == ElementType::kUint8) return make(uint8_t{}, int32_t{}, kernels_->uint8);
      return make(float{}, float{}, kernels_->float32);
    }

    // ------------------------------------------------------------------ add / mul
    case tfl::BuiltinOperator::ADD:
    case tfl::BuiltinOperator::MUL: {
      TFQAT_RETURN_IF_ERROR(need_inputs(2, 2));
      const TensorInfo& a = T(0);
      const TensorInfo& b = T(1);
      const TensorInfo& out = O(0);
      const ElementType et = a.type;
      if (et != ElementType::kFloat32 && !IsQuant(et)) return type_err(a);
      if (b.type != et || out.type != et) return type_err(b.type != et ? b : out);
      const int rank = out.shape.rank;
      if (a.shape.rank > rank || b.shape.rank > rank) return OPERR("input rank exceeds output rank");
      const Shape sa = Extend(a.shape, rank), sb = Extend(b.shape, rank), so = out.shape;
      for (int d = 0; d < rank; ++d) {
        const int32_t x = sa.dims[d], y = sb.dims[d], z = so.dims[d];
        const int32_t want = x == 1 ? y : (y == 1 || y == x) ? x : -1;
        if (want < 0 || want != z)
          return OPERR("shapes ", ShapeStr(a.shape), " and ", ShapeStr(b.shape),
                       " do not broadcast to the output ", ShapeStr(out.shape));
      }
      ArithmeticParams p;
      tfl::ActivationFunctionType act = tfl::ActivationFunctionType::NONE;
      if (bop == tfl::BuiltinOperator::ADD) {
        if (const auto* o = fop->builtin_options_as_AddOptions()) act = o->fused_activation_function();
      } else {
        if (const auto* o = fop->builtin_options_as_MulOptions()) act = o->fused_activation_function();
      }
      TFQAT_RETURN_IF_ERROR(act_of(act, out, &p.act));
      if (IsQuant(et)) {
        TFQAT_RETURN_IF_ERROR(need_quant(a));
        TFQAT_RETURN_IF_ERROR(need_quant(b));
        TFQAT_RETURN_IF_ERROR(need_quant(out));
        p.input1_offset = -a.zero_point;
        p.input2_offset = -b.zero_point;
        p.output_offset = out.zero_point;
        if (bop == tfl::BuiltinOperator::ADD) {
          p.left_shift = 20;
          const double twice_max = 2.0 * static_cast<double>(std::max(a.scale, b.scale));
          QuantizeMultiplier(static_cast<double>(a.scale) / twice_max, &p.input1_multiplier, &p.input1_shift);
          QuantizeMultiplier(static_cast<double>(b.scale) / twice_max, &p.input2_multiplier, &p.input2_shift);
          QuantizeMultiplier(twice_max / ((1 << p.left_shift) * static_cast<double>(out.scale)),
                             &p.output_multiplier, &p.output_shift);
        } else {
          QuantizeMultiplier(static_cast<double>(a.scale) * static_cast<double>(b.scale) /
                                 static_cast<double>(out.scale),
                             &p.output_multiplier, &p.output_shift);
        }
      }
      const bool is_add = bop == tfl::BuiltinOperator::ADD;
      const int ia = ins[0], ib = ins[1], io = outs[0];
      auto make = [&](auto tk, const auto& table) -> absl::Status {
        using TT = decltype(tk);
        BinaryFn<TT> fn = is_add ? table.add : table.mul;
        op->run = [this, fn, p, sa, sb, so, ia, ib, io](const KernelContext& ctx) {
          fn(p, sa, static_cast<const TT*>(TensorData(ia)), sb, static_cast<const TT*>(TensorData(ib)),
             so, static_cast<TT*>(TensorData(io)), ctx);
        };
        return absl::OkStatus();
      };
      if (et == ElementType::kInt8) return make(int8_t{}, kernels_->int8);
      if (et == ElementType::kUint8) return make(uint8_t{}, kernels_->uint8);
      return make(float{}, kernels_->float32);
    }

    // ------------------------------------------------------------------ pooling
    case tfl::BuiltinOperator::AVERAGE_POOL_2D:
    case tfl::BuiltinOperator::MAX_POOL_2D: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 1));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      const auto* o = fop->builtin_options_as_Pool2DOptions();
      if (!o) return OPERR("missing Pool2DOptions");
      const ElementType et = in.type;
      if (et != ElementType::kFloat32 && !IsQuant(et)) return type_err(in);
      TFQAT_RETURN_IF_ERROR(need_same_quant(in, out));
      if (IsQuant(et)) TFQAT_RETURN_IF_ERROR(need_quant(in));
      if (in.shape.rank != 4 || out.shape.rank != 4) return OPERR("input and output must be 4-D");
      PoolParams p;
      p.stride_height = o->stride_h(); p.stride_width = o->stride_w();
      p.filter_height = o->filter_height(); p.filter_width = o->filter_width();
      if (p.stride_height <= 0 || p.stride_width <= 0 || p.filter_height <= 0 || p.filter_width <= 0 ||
          p.filter_height > 4096 || p.filter_width > 4096 || p.stride_height > 4096 || p.stride_width > 4096)
        return OPERR("invalid filter size or stride");
      int oh, ow, off;
      ComputePadding(o->padding(), in.shape.dims[1], p.filter_height, p.stride_height, 1, &oh, &p.pad_height, &off);
      ComputePadding(o->padding(), in.shape.dims[2], p.filter_width, p.stride_width, 1, &ow, &p.pad_width, &off);
      if (!SameShape(out.shape, MakeShape({in.shape.dims[0], oh, ow, in.shape.dims[3]})))
        return OPERR("output shape ", ShapeStr(out.shape), " does not match the computed [", in.shape.dims[0],
                     ", ", oh, ", ", ow, ", ", in.shape.dims[3], "]");
      TFQAT_RETURN_IF_ERROR(act_of(o->fused_activation_function(), out, &p.act));
      const bool is_avg = bop == tfl::BuiltinOperator::AVERAGE_POOL_2D;
      const Shape is = in.shape, os = out.shape;
      const int ii = ins[0], io = outs[0];
      auto make = [&](auto tk, const auto& table) -> absl::Status {
        using TT = decltype(tk);
        PoolFn<TT> fn = is_avg ? table.average_pool : table.max_pool;
        op->run = [this, fn, p, is, os, ii, io](const KernelContext& ctx) {
          fn(p, is, static_cast<const TT*>(TensorData(ii)), os, static_cast<TT*>(TensorData(io)), ctx);
        };
        return absl::OkStatus();
      };
      if (et == ElementType::kInt8) return make(int8_t{}, kernels_->int8);
      if (et == ElementType::kUint8) return make(uint8_t{}, kernels_->uint8);
      return make(float{}, kernels_->float32);
    }

    default:
      break;
  }
  return PrepareOtherOp(op_index, op_name, bop, fop, op);
}

}  // namespace tfqat::runtime

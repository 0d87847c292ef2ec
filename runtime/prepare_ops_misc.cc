// Preparation of the data-movement, reduction and activation operators.
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

namespace tfqat::runtime {

namespace tfl = ::tflite;

namespace {

bool IsQuant(ElementType t) { return t == ElementType::kUint8 || t == ElementType::kInt8; }
int32_t TypeMin(ElementType t) { return t == ElementType::kUint8 ? 0 : -128; }
int32_t TypeMax(ElementType t) { return t == ElementType::kUint8 ? 255 : 127; }

std::string ShapeStr(const Shape& s) {
  std::vector<int32_t> d(s.dims, s.dims + s.rank);
  return absl::StrCat("[", absl::StrJoin(d, ", "), "]");
}

// Reads a constant integer tensor (int32 or int64) into `out`.
bool ReadInts(const TensorInfo& t, std::vector<int64_t>* out) {
  if (!t.const_data) return false;
  const int64_t n = t.shape.FlatSize();
  out->clear();
  if (t.type == ElementType::kInt32) {
    for (int64_t i = 0; i < n; ++i) out->push_back(reinterpret_cast<const int32_t*>(t.const_data)[i]);
    return true;
  }
  if (t.type == ElementType::kInt64) {
    for (int64_t i = 0; i < n; ++i) out->push_back(reinterpret_cast<const int64_t*>(t.const_data)[i]);
    return true;
  }
  return false;
}

}  // namespace

#define OPERR(...) \
  absl::InvalidArgumentError(absl::StrCat("operator ", op_index, " (", op_name, "): ", __VA_ARGS__))

absl::Status Interpreter::PrepareOtherOp(int op_index, const std::string& op_name,
                                         tfl::BuiltinOperator bop, const tfl::Operator* fop,
                                         PreparedOp* op) {
  namespace ref = reference;
  const int n_in = static_cast<int>(op->inputs.size());
  const std::vector<int> ins = op->inputs;
  const std::vector<int> outs = op->outputs;
  auto T = [&](int k) -> TensorInfo& { return tensors_[op->inputs[k]]; };
  auto O = [&](int k) -> TensorInfo& { return tensors_[op->outputs[k]]; };
  auto need_inputs = [&](int lo, int hi) -> absl::Status {
    if (n_in < lo || n_in > hi) return OPERR("expected ", lo, "..", hi, " inputs, got ", n_in);
    for (int k = 0; k < n_in; ++k)
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
  auto float_or_quant = [&](const TensorInfo& t) -> absl::Status {
    if (t.type != ElementType::kFloat32 && !IsQuant(t.type)) return type_err(t);
    return need_quant(t);
  };

  switch (bop) {
    case tfl::BuiltinOperator::RESHAPE:
    case tfl::BuiltinOperator::SQUEEZE: {
      if (n_in < 1 || n_in > 2 || ins[0] < 0) return OPERR("expected 1 or 2 inputs");
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      if (in.type != out.type) return OPERR("input and output types differ");
      if (ElementSize(in.type) == 0) return type_err(in);
      TFQAT_RETURN_IF_ERROR(need_same_quant(in, out));
      if (in.shape.FlatSize() != out.shape.FlatSize())
        return OPERR("input ", ShapeStr(in.shape), " and output ", ShapeStr(out.shape), " differ in size");
      if (bop == tfl::BuiltinOperator::SQUEEZE) {
        // Output must be the input without (the listed) size-1 dimensions.
        std::vector<int32_t> keep;
        const auto* o = fop->builtin_options_as_SqueezeOptions();
        std::vector<bool> drop(in.shape.rank, false);
        if (o && o->squeeze_dims() && o->squeeze_dims()->size() > 0) {
          for (int32_t d : *o->squeeze_dims()) {
            const int dd = d < 0 ? d + in.shape.rank : d;
            if (dd < 0 || dd >= in.shape.rank || in.shape.dims[dd] != 1)
              return OPERR("squeeze dimension ", d, " is invalid for ", ShapeStr(in.shape));
            drop[dd] = true;
          }
        } else {
          for (int d = 0; d < in.shape.rank; ++d) drop[d] = in.shape.dims[d] == 1;
        }
        for (int d = 0; d < in.shape.rank; ++d)
          if (!drop[d]) keep.push_back(in.shape.dims[d]);
        if (static_cast<int>(keep.size()) != out.shape.rank ||
            !std::equal(keep.begin(), keep.end(), out.shape.dims))
          return OPERR("output shape ", ShapeStr(out.shape), " is not the squeezed input ", ShapeStr(in.shape));
      }
      const int ii = ins[0], io = outs[0];
      const size_t bytes = in.bytes;
      op->run = [this, ii, io, bytes](const KernelContext&) {
        if (TensorData(ii) != TensorData(io)) std::memmove(TensorData(io), TensorData(ii), bytes);
      };
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::TRANSPOSE: {
      TFQAT_RETURN_IF_ERROR(need_inputs(2, 2));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      if (ElementSize(in.type) == 0) return type_err(in);
      TFQAT_RETURN_IF_ERROR(need_same_quant(in, out));
      std::vector<int64_t> perm;
      if (!ReadInts(T(1), &perm)) return OPERR("perm must be a constant int32 tensor");
      const int rank = in.shape.rank;
      if (static_cast<int>(perm.size()) != rank || out.shape.rank != rank) return OPERR("perm does not match the input rank");
      bool used[kMaxRank] = {};
      int pm[kMaxRank] = {};
      for (int d = 0; d < rank; ++d) {
        const int64_t p = perm[d] < 0 ? perm[d] + rank : perm[d];
        if (p < 0 || p >= rank || used[p]) return OPERR("perm is not a permutation");
        used[p] = true;
        pm[d] = static_cast<int>(p);
        if (out.shape.dims[d] != in.shape.dims[p]) return OPERR("output shape ", ShapeStr(out.shape), " does not match the permuted input");
      }
      // Input strides in output-dimension order.
      int64_t in_stride[kMaxRank];
      int64_t st = 1;
      for (int d = rank - 1; d >= 0; --d) {
        in_stride[d] = st;
        st *= in.shape.dims[d];
      }
      std::vector<int64_t> ps(rank);
      for (int d = 0; d < rank; ++d) ps[d] = in_stride[pm[d]];
      const Shape os = out.shape;
      const int ii = ins[0], io = outs[0];
      const size_t esize = ElementSize(in.type);
      op->run = [this, ps, os, ii, io, esize](const KernelContext&) {
        const uint8_t* x = static_cast<const uint8_t*>(TensorData(ii));
        uint8_t* y = static_cast<uint8_t*>(TensorData(io));
        const int rank = os.rank;
        const int64_t n = os.FlatSize();
        int idx[kMaxRank] = {};
        int64_t src = 0;
        for (int64_t o = 0; o < n; ++o) {
          std::memcpy(y + o * esize, x + src * esize, esize);
          for (int d = rank - 1; d >= 0; --d) {
            src += ps[d];
            if (++idx[d] < os.dims[d]) break;
            src -= ps[d] * idx[d];
            idx[d] = 0;
          }
        }
      };
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::PAD: {
      TFQAT_RETURN_IF_ERROR(need_inputs(2, 2));
      const TensorInfo& in = T(0);
      const TensorInfo& pads = T(1);
      const TensorInfo& out = O(0);
      TFQAT_RETURN_IF_ERROR(float_or_quant(in));
      TFQAT_RETURN_IF_ERROR(need_same_quant(in, out));
      std::vector<int64_t> pv;
      if (!ReadInts(pads, &pv)) return OPERR("paddings must be a constant int32/int64 tensor");
      const int rank = in.shape.rank;
      if (rank < 1 || static_cast<int>(pv.size()) != 2 * rank || out.shape.rank != rank)
        return OPERR("paddings ", ShapeStr(pads.shape), " do not match input rank ", rank);
      PadParams p;
      p.rank = rank;
      for (int d = 0; d < rank; ++d) {
        if (pv[2 * d] < 0 || pv[2 * d + 1] < 0 || pv[2 * d] > (1 << 20) || pv[2 * d + 1] > (1 << 20))
          return OPERR("invalid padding");
        p.before[d] = static_cast<int32_t>(pv[2 * d]);
        p.after[d] = static_cast<int32_t>(pv[2 * d + 1]);
        if (in.shape.dims[d] + p.before[d] + p.after[d] != out.shape.dims[d])
          return OPERR("output shape ", ShapeStr(out.shape), " does not match the padded input");
      }
      p.pad_value = IsQuant(out.type) ? out.zero_point : 0;
      const Shape is = in.shape, os = out.shape;
      const int ii = ins[0], io = outs[0];
      if (in.type == ElementType::kFloat32)
        op->run = [this, p, is, os, ii, io](const KernelContext&) {
          ref::Pad(p, is, static_cast<const float*>(TensorData(ii)), os, static_cast<float*>(TensorData(io)));
        };
      else if (in.type == ElementType::kUint8)
        op->run = [this, p, is, os, ii, io](const KernelContext&) {
          ref::Pad(p, is, static_cast<const uint8_t*>(TensorData(ii)), os, static_cast<uint8_t*>(TensorData(io)));
        };
      else
        op->run = [this, p, is, os, ii, io](const KernelContext&) {
          ref::Pad(p, is, static_cast<const int8_t*>(TensorData(ii)), os, static_cast<int8_t*>(TensorData(io)));
        };
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::CONCATENATION: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 64));
      const TensorInfo& out = O(0);
      const auto* o = fop->builtin_options_as_ConcatenationOptions();
      if (!o) return OPERR("missing ConcatenationOptions");
      if (o->fused_activation_function() != tfl::ActivationFunctionType::NONE)
        return OPERR("fused activation on CONCATENATION is not supported");
      TFQAT_RETURN_IF_ERROR(float_or_quant(out));
      const int rank = out.shape.rank;
      int axis = o->axis();
      if (axis < 0) axis += rank;
      if (axis < 0 || axis >= rank) return OPERR("axis ", o->axis(), " out of range for rank ", rank);
      int64_t total = 0;
      ConcatParams p;
      p.axis = axis;
      p.num_inputs = n_in;
      for (int k = 0; k < n_in; ++k) {
        const TensorInfo& t = T(k);
        if (t.type != out.type) return type_err(t);
        TFQAT_RETURN_IF_ERROR(need_quant(t));
        if (t.shape.rank != rank) return OPERR("input ", k, " has rank ", t.shape.rank, ", expected ", rank);
        for (int d = 0; d < rank; ++d)
          if (d != axis && t.shape.dims[d] != out.shape.dims[d])
            return OPERR("input ", k, " shape ", ShapeStr(t.shape), " does not match output ", ShapeStr(out.shape));
        total += t.shape.dims[axis];
        op->shapes.push_back(t.shape);
        if (IsQuant(out.type)) {
          if (out.type == ElementType::kInt8 && (t.scale != out.scale || t.zero_point != out.zero_point))
            return OPERR("int8 inputs must share the output's scale and zero point");
          op->zps.push_back(t.zero_point);
          op->scales.push_back(t.scale);
        }
      }
      if (total != out.shape.dims[axis]) return OPERR("output dimension ", axis, " is not the sum of the inputs'");
      for (const Shape& s : op->shapes) op->shape_ptrs.push_back(&s);
      op->input_ptrs.resize(n_in);
      if (IsQuant(out.type)) {
        p.input_zero_point = op->zps.data();
        p.input_scale = op->scales.data();
        p.output_zero_point = out.zero_point;
        p.output_scale = out.scale;
      }
      const Shape os = out.shape;
      const int io = outs[0];
      PreparedOp* self_op = op;
      auto make = [&](auto tk) {
        using TT = decltype(tk);
        op->run = [this, p, os, io, ins, self_op](const KernelContext&) {
          for (size_t k = 0; k < ins.size(); ++k) self_op->input_ptrs[k] = TensorData(ins[k]);
          ref::Concatenation<TT>(p, self_op->shape_ptrs.data(),
                                 reinterpret_cast<const TT* const*>(self_op->input_ptrs.data()), os,
                                 static_cast<TT*>(TensorData(io)));
        };
      };
      if (out.type == ElementType::kFloat32) make(float{});
      else if (out.type == ElementType::kUint8) make(uint8_t{});
      else make(int8_t{});
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::MEAN: {
      TFQAT_RETURN_IF_ERROR(need_inputs(2, 2));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      TFQAT_RETURN_IF_ERROR(float_or_quant(in));
      if (out.type != in.type) return type_err(out);
      TFQAT_RETURN_IF_ERROR(need_quant(out));
      std::vector<int64_t> axes;
      if (!ReadInts(T(1), &axes)) return OPERR("axis must be a constant int32 tensor");
      const auto* o = fop->builtin_options_as_ReducerOptions();
      ReduceParams p;
      p.keep_dims = o && o->keep_dims();
      const int rank = in.shape.rank;
      bool seen[kMaxRank] = {};
      for (int64_t a : axes) {
        const int64_t aa = a < 0 ? a + rank : a;
        if (aa < 0 || aa >= rank) return OPERR("axis ", a, " out of range for rank ", rank);
        if (!seen[aa]) {
          seen[aa] = true;
        }
      }
      // TFLite keeps the axes in the given order for the 4-D check; both orders of {1,2} qualify.
      for (int d = 0; d < rank; ++d)
        if (seen[d]) p.axes[p.num_axes++] = d;
      // Output shape check.
      std::vector<int32_t> expect;
      for (int d = 0; d < rank; ++d) {
        if (seen[d]) {
          if (p.keep_dims) expect.push_back(1);
        } else {
          expect.push_back(in.shape.dims[d]);
        }
      }
      if (static_cast<int>(expect.size()) != out.shape.rank || !std::equal(expect.begin(), expect.end(), out.shape.dims))
        return OPERR("output shape ", ShapeStr(out.shape), " does not match the reduction of ", ShapeStr(in.shape));
      const bool spatial = p.keep_dims && rank == 4 && p.num_axes == 2 && p.axes[0] == 1 && p.axes[1] == 2 &&
                           static_cast<int>(axes.size()) == 2;
      if (IsQuant(in.type)) {
        p.input_zero_point = in.zero_point;
        p.output_zero_point = out.zero_point;
        p.input_scale = in.scale;
        p.output_scale = out.scale;
        if (spatial) {
          if (in.type == ElementType::kInt8) {
            QuantizeMultiplier(static_cast<double>(in.scale) / static_cast<double>(out.scale), &p.multiplier, &p.shift);
          } else {
            const float count = static_cast<float>(in.shape.dims[1] * in.shape.dims[2]);
            QuantizeMultiplier(static_cast<double>(in.scale / (count * out.scale)), &p.multiplier, &p.shift);
          }
        } else if (in.scale != out.scale || in.zero_point != out.zero_point) {
          return OPERR("quantized MEAN with different input/output parameters is supported only over axes {1, 2} of a 4-D tensor with keep_dims");
        }
      }
      const Shape is = in.shape, os = out.shape;
      const int ii = ins[0], io = outs[0];
      if (in.type == ElementType::kFloat32)
        op->run = [this, p, is, os, ii, io](const KernelContext&) {
          ref::MeanFloat(p, is, static_cast<const float*>(TensorData(ii)), os, static_cast<float*>(TensorData(io)));
        };
      else if (in.type == ElementType::kUint8)
        op->run = [this, p, is, os, ii, io](const KernelContext&) {
          ref::MeanQuantized(p, is, static_cast<const uint8_t*>(TensorData(ii)), os, static_cast<uint8_t*>(TensorData(io)));
        };
      else
        op->run = [this, p, is, os, ii, io](const KernelContext&) {
          ref::MeanQuantized(p, is, static_cast<const int8_t*>(TensorData(ii)), os, static_cast<int8_t*>(TensorData(io)));
        };
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::SOFTMAX: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 1));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      TFQAT_RETURN_IF_ERROR(float_or_quant(in));
      if (out.type != in.type) return type_err(out);
      TFQAT_RETURN_IF_ERROR(need_quant(out));
      if (in.shape.rank < 1 || in.shape.FlatSize() != out.shape.FlatSize()) return OPERR("shape mismatch");
      const auto* o = fop->builtin_options_as_SoftmaxOptions();
      SoftmaxParams p;
      p.beta = o ? o->beta() : 1.f;
      if (IsQuant(in.type)) {
        const float want_scale = 1.f / 256;
        const int32_t want_zp = in.type == ElementType::kInt8 ? -128 : 0;
        if (out.scale != want_scale || out.zero_point != want_zp)
          return OPERR("quantized SOFTMAX output must have scale 1/256 and zero point ", want_zp);
        const double real = std::min<double>(static_cast<double>(p.beta) * in.scale * (1 << (31 - 5)),
                                             static_cast<double>((int64_t{1} << 31) - 1));
        QuantizeMultiplier(real, &p.input_multiplier, &p.input_left_shift);
        if (p.input_left_shift < 0) return OPERR("input scale too small");
        const double max_input_rescaled = 1.0 * ((1 << 5) - 1) * static_cast<double>(int64_t{1} << (31 - 5)) /
                                          static_cast<double>(int64_t{1} << p.input_left_shift);
        p.diff_min = -static_cast<int32_t>(std::floor(max_input_rescaled));
      }
      const Shape s = in.shape;
      const int ii = ins[0], io = outs[0];
      if (in.type == ElementType::kFloat32)
        op->run = [this, p, s, ii, io](const KernelContext&) {
          ref::SoftmaxFloat(p, s, static_cast<const float*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
        };
      else if (in.type == ElementType::kUint8)
        op->run = [this, p, s, ii, io](const KernelContext&) {
          ref::SoftmaxQuantized(p, s, static_cast<const uint8_t*>(TensorData(ii)), static_cast<uint8_t*>(TensorData(io)));
        };
      else
        op->run = [this, p, s, ii, io](const KernelContext&) {
          ref::SoftmaxQuantized(p, s, static_cast<const int8_t*>(TensorData(ii)), static_cast<int8_t*>(TensorData(io)));
        };
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::LOGISTIC:
    case tfl::BuiltinOperator::TANH: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 1));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      TFQAT_RETURN_IF_ERROR(float_or_quant(in));
      if (out.type != in.type) return type_err(out);
      TFQAT_RETURN_IF_ERROR(need_quant(out));
      if (in.shape.FlatSize() != out.shape.FlatSize()) return OPERR("shape mismatch");
      const Shape s = in.shape;
      const int ii = ins[0], io = outs[0];
      const bool logistic = bop == tfl::BuiltinOperator::LOGISTIC;
      if (in.type == ElementType::kFloat32) {
        op->run = [this, s, ii, io, logistic](const KernelContext&) {
          if (logistic)
            ref::LogisticFloat(s, static_cast<const float*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
          else
            ref::TanhFloat(s, static_cast<const float*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
        };
        return absl::OkStatus();
      }
      // Fixed output parameters (TFLite): logistic (1/256, type min), tanh (1/128, 0 or 128).
      const float want_scale = logistic ? 1.f / 256 : 1.f / 128;
      const int32_t want_zp = logistic ? TypeMin(out.type) : (out.type == ElementType::kUint8 ? 128 : 0);
      if (out.scale != want_scale || out.zero_point != want_zp)
        return OPERR("output must have scale ", want_scale, " and zero point ", want_zp);
      ActivationFnParams p;
      p.input_zero_point = in.zero_point;
      p.output_zero_point = out.zero_point;
      constexpr int kInputIntegerBits = 4;
      const double real = static_cast<double>(in.scale) * static_cast<double>(1 << (31 - kInputIntegerBits));
      QuantizeMultiplier(real, &p.input_multiplier, &p.input_left_shift);
      if (p.input_left_shift < 0) return OPERR("input scale too small");
      const double radius = 1.0 * ((1 << kInputIntegerBits) - 1) *
                            static_cast<double>(int64_t{1} << (31 - kInputIntegerBits)) /
                            static_cast<double>(int64_t{1} << p.input_left_shift);
      p.input_range_radius = static_cast<int32_t>(std::floor(radius));
      auto make = [&](auto tk) {
        using TT = decltype(tk);
        op->run = [this, p, s, ii, io, logistic](const KernelContext&) {
          if (logistic)
            ref::LogisticQuantized(p, s, static_cast<const TT*>(TensorData(ii)), static_cast<TT*>(TensorData(io)));
          else
            ref::TanhQuantized(p, s, static_cast<const TT*>(TensorData(ii)), static_cast<TT*>(TensorData(io)));
        };
      };
      if (in.type == ElementType::kUint8) make(uint8_t{});
      else make(int8_t{});
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::RELU:
    case tfl::BuiltinOperator::RELU6:
    case tfl::BuiltinOperator::RELU_N1_TO_1: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 1));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      TFQAT_RETURN_IF_ERROR(float_or_quant(in));
      if (out.type != in.type) return type_err(out);
      TFQAT_RETURN_IF_ERROR(need_quant(out));
      if (in.shape.FlatSize() != out.shape.FlatSize()) return OPERR("shape mismatch");
      const float lo = bop == tfl::BuiltinOperator::RELU_N1_TO_1 ? -1.f : 0.f;
      const float hi = bop == tfl::BuiltinOperator::RELU ? std::numeric_limits<float>::infinity()
                       : bop == tfl::BuiltinOperator::RELU6 ? 6.f : 1.f;
      ActivationRange act;
      act.float_act_min = lo;
      act.float_act_max = hi;
      const Shape s = in.shape;
      const int ii = ins[0], io = outs[0];
      if (in.type == ElementType::kFloat32) {
        op->run = [this, act, s, ii, io](const KernelContext&) {
          ref::ClampFloat(act, s, static_cast<const float*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
        };
        return absl::OkStatus();
      }
      // TFLite's QuantizedReluX: requantize (x - zp_in) by in_scale/out_scale, add zp_out, clamp
      // to the quantized activation bounds.
      QuantizeParams q;
      q.input_zero_point = in.zero_point;
      q.zero_point = out.zero_point;
      QuantizeMultiplier(static_cast<double>(in.scale) / static_cast<double>(out.scale), &q.multiplier, &q.shift);
      auto qv = [&](float f) { return out.zero_point + static_cast<int32_t>(std::round(f / out.scale)); };
      act.act_min = std::max(TypeMin(out.type), qv(lo));
      act.act_max = bop == tfl::BuiltinOperator::RELU ? TypeMax(out.type) : std::min(TypeMax(out.type), qv(hi));
      auto make = [&](auto tk) {
        using TT = decltype(tk);
        op->run = [this, q, act, s, ii, io](const KernelContext&) {
          const TT* x = static_cast<const TT*>(TensorData(ii));
          TT* y = static_cast<TT*>(TensorData(io));
          const int64_t n = s.FlatSize();
          for (int64_t i = 0; i < n; ++i) {
            int32_t v = q.zero_point + MultiplyByQuantizedMultiplier(static_cast<int32_t>(x[i]) - q.input_zero_point,
                                                                     q.multiplier, q.shift);
            y[i] = static_cast<TT>(std::min(std::max(v, act.act_min), act.act_max));
          }
        };
      };
      if (in.type == ElementType::kUint8) make(uint8_t{});
      else make(int8_t{});
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::LEAKY_RELU: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 1));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      TFQAT_RETURN_IF_ERROR(float_or_quant(in));
      if (out.type != in.type) return type_err(out);
      TFQAT_RETURN_IF_ERROR(need_quant(out));
      if (in.shape.FlatSize() != out.shape.FlatSize()) return OPERR("shape mismatch");
      const auto* o = fop->builtin_options_as_LeakyReluOptions();
      LeakyReluParams p;
      p.alpha = o ? o->alpha() : 0.2f;
      if (IsQuant(in.type)) {
        p.input_offset = in.zero_point;
        p.output_offset = out.zero_point;
        const float alpha_m = in.scale * p.alpha / out.scale;
        QuantizeMultiplier(static_cast<double>(alpha_m), &p.output_multiplier_alpha, &p.output_shift_alpha);
        QuantizeMultiplier(static_cast<double>(in.scale) / static_cast<double>(out.scale),
                           &p.output_multiplier_identity, &p.output_shift_identity);
      }
      const Shape s = in.shape;
      const int ii = ins[0], io = outs[0];
      if (in.type == ElementType::kFloat32)
        op->run = [this, p, s, ii, io](const KernelContext&) {
          ref::LeakyReluFloat(p, s, static_cast<const float*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
        };
      else if (in.type == ElementType::kUint8)
        op->run = [this, p, s, ii, io](const KernelContext&) {
          ref::LeakyReluQuantized(p, s, static_cast<const uint8_t*>(TensorData(ii)), static_cast<uint8_t*>(TensorData(io)));
        };
      else
        op->run = [this, p, s, ii, io](const KernelContext&) {
          ref::LeakyReluQuantized(p, s, static_cast<const int8_t*>(TensorData(ii)), static_cast<int8_t*>(TensorData(io)));
        };
      return absl::OkStatus();
    }

    case tfl::BuiltinOperator::QUANTIZE:
    case tfl::BuiltinOperator::DEQUANTIZE: {
      TFQAT_RETURN_IF_ERROR(need_inputs(1, 1));
      const TensorInfo& in = T(0);
      const TensorInfo& out = O(0);
      if (in.shape.FlatSize() != out.shape.FlatSize()) return OPERR("shape mismatch");
      const Shape s = in.shape;
      const int ii = ins[0], io = outs[0];
      QuantizeParams q;
      if (bop == tfl::BuiltinOperator::DEQUANTIZE) {
        if (!IsQuant(in.type)) return type_err(in);
        if (out.type != ElementType::kFloat32) return type_err(out);
        TFQAT_RETURN_IF_ERROR(need_quant(in));
        q.scale = in.scale;
        q.zero_point = in.zero_point;
        if (in.type == ElementType::kUint8)
          op->run = [this, q, s, ii, io](const KernelContext&) {
            ref::Dequantize(q, s, static_cast<const uint8_t*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
          };
        else
          op->run = [this, q, s, ii, io](const KernelContext&) {
            ref::Dequantize(q, s, static_cast<const int8_t*>(TensorData(ii)), static_cast<float*>(TensorData(io)));
          };
        return absl::OkStatus();
      }
      if (!IsQuant(out.type)) return type_err(out);
      TFQAT_RETURN_IF_ERROR(need_quant(out));
      q.scale = out.scale;
      q.zero_point = out.zero_point;
      if (in.type == ElementType::kFloat32) {
        if (out.type == ElementType::kUint8)
          op->run = [this, q, s, ii, io](const KernelContext&) {
            ref::QuantizeFloat(q, s, static_cast<const float*>(TensorData(ii)), static_cast<uint8_t*>(TensorData(io)));
          };
        else
          op->run = [this, q, s, ii, io](const KernelContext&) {
            ref::QuantizeFloat(q, s, static_cast<const float*>(TensorData(ii)), static_cast<int8_t*>(TensorData(io)));
          };
        return absl::OkStatus();
      }
      if (!IsQuant(in.type)) return type_err(in);
      TFQAT_RETURN_IF_ERROR(need_quant(in));
      q.input_zero_point = in.zero_point;
      QuantizeMultiplier(static_cast<double>(in.scale) / static_cast<double>(out.scale), &q.multiplier, &q.shift);
      auto make = [&](auto ti, auto to) {
        using TI = decltype(ti);
        using TO = decltype(to);
        op->run = [this, q, s, ii, io](const KernelContext&) {
          ref::Requantize(q, s, static_cast<const TI*>(TensorData(ii)), static_cast<TO*>(TensorData(io)));
        };
      };
      if (in.type == ElementType::kUint8) {
        if (out.type == ElementType::kUint8) make(uint8_t{}, uint8_t{}); else make(uint8_t{}, int8_t{});
      } else {
        if (out.type == ElementType::kUint8) make(int8_t{}, uint8_t{}); else make(int8_t{}, int8_t{});
      }
      return absl::OkStatus();
    }

    default:
      break;
  }
  std::string types;
  for (int k = 0; k < n_in; ++k)
    if (ins[k] >= 0)
      absl::StrAppend(&types, types.empty() ? "" : ", ",
                      tfl::EnumNameTensorType(static_cast<tfl::TensorType>(T(k).tflite_type)));
  return OPERR("unsupported operator (input types: ", types, ")");
}

}  // namespace tfqat::runtime

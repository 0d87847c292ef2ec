#include "converter/quantize.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "converter/fake_quant_nudge.h"

namespace tfqat::converter {
namespace {

template <typename T>
void AppendBytes(std::vector<uint8_t>* out, const std::vector<T>& v) {
  const size_t n = v.size() * sizeof(T);
  out->resize(n);
  if (n) std::memcpy(out->data(), v.data(), n);
}

QuantParams Single(float scale, int64_t zp) {
  QuantParams p;
  p.scale = {scale};
  p.zero_point = {zp};
  return p;
}

int64_t TypeMin(ElemType t) { return t == ElemType::kInt8 ? -128 : 0; }
int64_t TypeMax(ElemType t) { return t == ElemType::kInt8 ? 127 : 255; }

// The same real grid on a tensor of another 8-bit type.
QuantParams Retype(const QuantParams& p, ElemType from, ElemType to) {
  QuantParams q = p;
  const int64_t shift = TypeMin(to) - TypeMin(from);
  for (auto& z : q.zero_point) z += shift;
  return q;
}

bool IsWeighted(OpCode c) {
  return c == OpCode::kConv2D || c == OpCode::kDepthwiseConv2D || c == OpCode::kFullyConnected ||
         c == OpCode::kTransposeConv;
}

bool KeepsInputParams(OpCode c) {
  return c == OpCode::kReshape || c == OpCode::kSqueeze || c == OpCode::kPad ||
         c == OpCode::kMaxPool2D || c == OpCode::kAveragePool2D;
}

class Quantizer {
 public:
  Quantizer(Model* m, const QuantizeOptions& o, Diagnostics* d) : m_(*m), opt_(o), diag_(d) {}

  QuantizeReport Run() {
    act_ = opt_.inference_type;
    if (act_ == ElemType::kFloat32) {
      RunFloat();
      return report_;
    }
    Inputs();
    PropagateBackward();
    Forward();
    ElideRequantize();
    Outputs();
    EncodeConstants();
    return report_;
  }

 private:
  std::string Describe(int t) const {
    const Tensor& x = m_.tensors[t];
    return x.tf_node.empty() || x.tf_node == x.name ? absl::StrCat("tensor '", x.name, "'")
                                                    : absl::StrCat("tensor '", x.name, "' (node '", x.tf_node, "')");
  }
  QuantParams MadeUp(int t) {
    m_.tensors[t].range_made_up = true;
    report_.made_up_ranges.push_back(m_.tensors[t].name);
    FakeQuantRange r{opt_.default_range->first, opt_.default_range->second, 8, false, ""};
    return ParamsFromRange(r, act_);
  }
  // Params of an activation that must have a range of its own (or a made-up one).
  void NeedParams(int t, absl::string_view why) {
    Tensor& x = m_.tensors[t];
    if (x.quant) return;
    if (x.range) {
      x.quant = ParamsFromRange(*x.range, act_);
    } else if (opt_.default_range) {
      x.quant = MadeUp(t);
    } else {
      const bool is_input = std::find(m_.inputs.begin(), m_.inputs.end(), t) != m_.inputs.end();
      diag_->errors.push_back(absl::StrCat(
          Describe(t), " has no min/max (", why, "); fix: ",
          is_input ? "put a FakeQuant on the input (tfqat rewrite does) or describe it with --mean-values/--std-dev-values"
                   : "insert a FakeQuant after it (tfqat rewrite does)",
          ", or pass --default-ranges-min/--default-ranges-max for a performance-only model"));
      x.quant = Single(1.f, 0);  // keeps going so every problem is reported once
    }
    x.type = act_;
  }

  void RunFloat() {
    if ((opt_.input_type && *opt_.input_type != ElemType::kFloat32) ||
        (opt_.output_type && *opt_.output_type != ElemType::kFloat32))
      diag_->errors.push_back("--inference-type float needs float inputs and outputs; fix: drop --inference-input-type/--inference-output-type");
    if (!opt_.mean_values.empty() || !opt_.std_values.empty())
      diag_->errors.push_back("--mean-values/--std-dev-values describe quantized inputs; fix: drop them with --inference-type float");
    for (auto& t : m_.tensors) {
      if (t.role == TensorRole::kIndex) {
        t.type = ElemType::kInt32;
        AppendBytes(&t.data, t.int_data);
      } else {
        t.type = ElemType::kFloat32;
        if (t.is_constant()) AppendBytes(&t.data, t.float_data);
      }
    }
  }

  void Inputs() {
    const ElemType ext = opt_.input_type.value_or(act_);
    const size_t n = m_.inputs.size();
    if (!opt_.mean_values.empty() || !opt_.std_values.empty()) {
      if (opt_.mean_values.size() != opt_.std_values.size() ||
          (opt_.mean_values.size() != 1 && opt_.mean_values.size() != n))
        diag_->errors.push_back(absl::StrCat("--mean-values and --std-dev-values need one value per input (", n,
                                             ") or one for all; fix: pass matching lists"));
      if (ext == ElemType::kFloat32)
        diag_->errors.push_back("--mean-values/--std-dev-values describe quantized inputs, but the input type is float; fix: drop them or pass --inference-input-type uint8/int8");
    }
    std::vector<Op> prefix;
    for (size_t k = 0; k < n; ++k) {
      const int t = m_.inputs[k];
      std::optional<QuantParams> ext_params;  // in the external type
      if (ext != ElemType::kFloat32 && !opt_.mean_values.empty() &&
          opt_.mean_values.size() == opt_.std_values.size()) {
        const size_t j = opt_.mean_values.size() == 1 ? 0 : k;
        if (j < opt_.mean_values.size()) {
          const float mean = opt_.mean_values[j], stdv = opt_.std_values[j];
          if (!(stdv > 0) || mean != std::round(mean) || mean < TypeMin(ext) || mean > TypeMax(ext)) {
            diag_->errors.push_back(absl::StrCat("input '", m_.tensors[t].name, "': mean ", mean, " / std ", stdv,
                                                 " do not describe ", ElemTypeName(ext),
                                                 " data; fix: mean must be an integer in the type's range, std > 0"));
          } else {
            ext_params = Single(1.f / stdv, static_cast<int64_t>(mean));
          }
        }
      }
      Tensor& x = m_.tensors[t];
      if (x.range) {
        x.quant = ParamsFromRange(*x.range, act_);
      } else if (ext_params) {
        x.quant = Retype(*ext_params, ext, act_);
      } else {
        NeedParams(t, "a model input without a FakeQuant");
      }
      x.type = act_;
      if (ext != ElemType::kFloat32 && !ext_params) ext_params = Retype(*x.quant, act_, ext);
      if (ext == act_ && ext_params == x.quant) continue;  // the input is used directly
      Tensor e;
      e.name = x.name;
      e.shape = x.shape;
      e.tf_node = x.tf_node;
      e.type = ext;
      if (ext != ElemType::kFloat32) e.quant = ext_params;
      x.name = absl::StrCat(x.name, "/quantized");
      const int ei = m_.AddTensor(std::move(e));
      Op q;
      q.code = OpCode::kQuantize;
      q.inputs = {ei};
      q.outputs = {t};
      q.tf_node = m_.tensors[t].tf_node;
      prefix.push_back(std::move(q));
      m_.inputs[k] = ei;
    }
    m_.ops.insert(m_.ops.begin(), prefix.begin(), prefix.end());
    num_prefix_ = prefix.size();
  }

  void PropagateBackward() {
    for (int k = static_cast<int>(m_.ops.size()) - 1; k >= static_cast<int>(num_prefix_); --k) {
      const Op& op = m_.ops[k];
      if (op.code == OpCode::kAdd && op.inputs.size() == 2 && m_.tensors[op.outputs[0]].range) {
        // A residual Add whose one operand was not quantized in training (tf.contrib.quantize
        // and `tfqat rewrite` quantize after the Add only): y = a + b on [ymin, ymax] gives
        // a in [ymin - bmax, ymax - bmin]; values beyond it saturate y (or its ReLU) anyway.
        for (int j = 0; j < 2; ++j) {
          Tensor& a = m_.tensors[op.inputs[j]];
          const Tensor& b = m_.tensors[op.inputs[1 - j]];
          if (a.range || a.quant || !b.range) continue;
          const FakeQuantRange& y = *m_.tensors[op.outputs[0]].range;
          FakeQuantRange r{std::min(0.f, y.min - b.range->max), std::max(0.f, y.max - b.range->min), 8, false, ""};
          a.range = r;
          diag_->warnings.push_back(absl::StrCat(Describe(op.inputs[j]), " (an operand of the Add '", op.tf_node,
                                                 "') had no FakeQuant; derived its range [", r.min, ", ", r.max,
                                                 "] from the Add's output and other operand (training kept it float)"));
        }
      }
      const bool passes = op.requantize || KeepsInputParams(op.code) || op.code == OpCode::kRelu ||
                          op.code == OpCode::kRelu6;
      if (!passes) continue;
      Tensor& in = m_.tensors[op.inputs[0]];
      const Tensor& out = m_.tensors[op.outputs[0]];
      if (!in.range && !in.quant && out.range) in.range = out.range;
    }
  }

  void Forward() {
    std::vector<Op> ops(m_.ops.begin(), m_.ops.begin() + num_prefix_);
    for (size_t k = num_prefix_; k < m_.ops.size(); ++k) {
      Op op = m_.ops[k];
      for (size_t j = 0; j < op.inputs.size(); ++j) {
        const int t = op.inputs[j];
        if (t < 0 || m_.tensors[t].is_constant()) continue;
        NeedParams(t, absl::StrCat("input of node '", op.tf_node, "' (", op.tf_op, ")"));
      }
      const int x0 = op.inputs.empty() ? -1 : op.inputs[IsWeighted(op.code) && op.code == OpCode::kTransposeConv ? 2 : 0];
      const int y = op.outputs[0];
      Tensor& out = m_.tensors[y];
      out.type = act_;
      if (op.requantize) {
        NeedParams(y, "requantize");
      } else if (KeepsInputParams(op.code)) {
        out.quant = m_.tensors[x0].quant;
      } else if (op.code == OpCode::kRelu || op.code == OpCode::kRelu6 || op.code == OpCode::kMean) {
        out.quant = out.range ? ParamsFromRange(*out.range, act_) : *m_.tensors[x0].quant;
      } else if (op.code == OpCode::kSoftmax || op.code == OpCode::kLogistic) {
        out.quant = Single(1.f / 256.f, act_ == ElemType::kInt8 ? -128 : 0);
      } else if (op.code == OpCode::kTanh) {
        out.quant = Single(1.f / 128.f, act_ == ElemType::kInt8 ? 0 : 128);
      } else if (op.code == OpCode::kConcatenation) {
        Concat(&op, &ops);
      } else {
        NeedParams(y, absl::StrCat("output of node '", op.tf_node, "' (", op.tf_op, ")"));
      }
      ops.push_back(std::move(op));
    }
    m_.ops = std::move(ops);
  }

  // Concatenation: TFLite's int8 kernel needs one scale and zero point on every input and the
  // output; inputs on another grid get a requantizing QUANTIZE (and a warning).
  void Concat(Op* op, std::vector<Op>* ops) {
    Tensor& out = m_.tensors[op->outputs[0]];
    if (out.range) {
      out.quant = ParamsFromRange(*out.range, act_);
    } else {
      bool same = true;
      for (int t : op->inputs) same = same && m_.tensors[t].quant == m_.tensors[op->inputs[0]].quant;
      if (same) {
        out.quant = m_.tensors[op->inputs[0]].quant;
      } else {
        float lo = 0.f, hi = 0.f;
        for (int t : op->inputs) {
          const QuantParams& p = *m_.tensors[t].quant;
          lo = std::min(lo, (TypeMin(act_) - p.zero_point[0]) * p.scale[0]);
          hi = std::max(hi, (TypeMax(act_) - p.zero_point[0]) * p.scale[0]);
        }
        out.quant = ParamsFromRange(FakeQuantRange{lo, hi, 8, false, ""}, act_);
        diag_->warnings.push_back(absl::StrCat("concatenation '", op->tf_node,
                                               "': inputs have different ranges and no FakeQuant follows; "
                                               "using their union [", lo, ", ", hi, "]"));
      }
    }
    for (int& t : op->inputs) {
      if (m_.tensors[t].quant == out.quant) continue;
      Tensor r;
      r.name = absl::StrCat(m_.tensors[t].name, "/requantized");
      r.shape = m_.tensors[t].shape;
      r.tf_node = m_.tensors[t].tf_node;
      r.type = act_;
      r.quant = out.quant;
      const std::string from = m_.tensors[t].name;
      const int ri = m_.AddTensor(std::move(r));
      Op q;
      q.code = OpCode::kQuantize;
      q.inputs = {t};
      q.outputs = {ri};
      q.tf_node = op->tf_node;
      q.tf_op = "requantize";
      ops->push_back(std::move(q));
      t = ri;
      report_.requantized.push_back(from);
      diag_->warnings.push_back(absl::StrCat("concatenation '", op->tf_node, "': input '", from,
                                             "' is on another scale/zero point than the output; requantized "
                                             "(training concatenated before quantizing: up to 1 LSB differs)"));
    }
  }

  void ElideRequantize() {
    absl::flat_hash_map<int, int> replace;
    std::vector<Op> kept;
    for (auto& op : m_.ops) {
      if (op.requantize && m_.tensors[op.inputs[0]].quant == m_.tensors[op.outputs[0]].quant) {
        replace[op.outputs[0]] = op.inputs[0];
        continue;
      }
      if (op.requantize) report_.requantized.push_back(m_.tensors[op.inputs[0]].name);
      kept.push_back(op);
    }
    auto resolve = [&](int t) {
      while (replace.contains(t)) t = replace[t];
      return t;
    };
    for (auto& op : kept)
      for (int& t : op.inputs)
        if (t >= 0) t = resolve(t);
    for (int& t : m_.outputs) {
      const int r = resolve(t);
      if (r != t && std::find(m_.inputs.begin(), m_.inputs.end(), r) == m_.inputs.end())
        m_.tensors[r].name = m_.tensors[t].name;
      t = r;
    }
    m_.ops = std::move(kept);
  }

  void Outputs() {
    const ElemType ext = opt_.output_type.value_or(act_);
    for (int& t : m_.outputs) {
      if (ext == act_) continue;
      Tensor e;
      e.name = m_.tensors[t].name;
      e.shape = m_.tensors[t].shape;
      e.tf_node = m_.tensors[t].tf_node;
      e.type = ext;
      if (ext != ElemType::kFloat32) e.quant = Retype(*m_.tensors[t].quant, act_, ext);
      m_.tensors[t].name = absl::StrCat(m_.tensors[t].name, "/quantized");
      const int ei = m_.AddTensor(std::move(e));
      Op q;
      q.code = ext == ElemType::kFloat32 ? OpCode::kDequantize : OpCode::kQuantize;
      q.inputs = {t};
      q.outputs = {ei};
      q.tf_node = m_.tensors[t].tf_node;
      m_.ops.push_back(std::move(q));
      t = ei;
    }
  }

  void EncodeWeights(const Op& op, int w_index, int x_index, int b_index) {
    Tensor& w = m_.tensors[w_index];
    const float s_in = m_.tensors[x_index].quant ? m_.tensors[x_index].quant->scale[0] : 1.f;
    const int axis = op.code == OpCode::kDepthwiseConv2D ? 3 : 0;
    const int channels = w.shape[axis];
    int64_t inner = 1;  // elements after the channel axis
    for (size_t d = axis + 1; d < w.shape.size(); ++d) inner *= w.shape[d];
    std::vector<FakeQuantRange> ranges;
    if (w.weight_ranges) {
      ranges = w.weight_ranges->ranges;
    } else if (opt_.default_range) {
      float lo = 0.f, hi = 0.f;
      for (float v : w.float_data) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      if (hi <= lo) hi = lo + 1.f;
      ranges.push_back(FakeQuantRange{lo, hi, 8, true, ""});
      w.range_made_up = true;
      report_.made_up_ranges.push_back(w.name);
    } else {
      diag_->errors.push_back(absl::StrCat("weights '", w.name, "' of node '", op.tf_node, "' (", op.tf_op,
                                           ") have no FakeQuant (array lacks min/max); fix: quantize the graph with "
                                           "`tfqat rewrite` before training, or pass --default-ranges-min/max for a "
                                           "performance-only model"));
      return;
    }
    const bool per_channel_ranges = ranges.size() > 1;
    const bool int8 = act_ == ElemType::kInt8;
    if (!int8 && per_channel_ranges) {
      diag_->errors.push_back(absl::StrCat("weights '", w.name, "' of node '", op.tf_node,
                                           "' are quantized per channel, but legacy uint8 TFLite is per tensor; "
                                           "fix: convert with --inference-type int8"));
      return;
    }
    // Per-channel parameters for int8 conv/depthwise/transpose conv; per tensor otherwise.
    const bool per_channel_out = int8 && op.code != OpCode::kFullyConnected;
    const int nparams = per_channel_out ? channels : 1;
    QuantParams wp;
    wp.quantized_dimension = per_channel_out ? axis : 0;
    std::vector<NudgedRange> nudged;
    bool asymmetric = false;
    for (int c = 0; c < nparams; ++c) {
      const FakeQuantRange& r = ranges[per_channel_ranges ? c : 0];
      NudgedRange nr = NudgeFakeQuantRange(r.min, r.max, r.num_bits, r.narrow_range);
      if (int8 && !(nr.quant_min == 1 && nr.zero_point == 128)) asymmetric = true;
      nudged.push_back(nr);
    }
    std::vector<uint8_t> bytes(w.float_data.size());
    if (int8 && asymmetric) {
      // The FakeQuant grid is not symmetric: TFLite int8 weights must be. Use the symmetric grid
      // that covers the nudged range (what the TFLite converter does), and say so.
      report_.asymmetric_weights.push_back(w.name);
      diag_->warnings.push_back(absl::StrCat(
          "weights '", w.name, "' of node '", op.tf_node,
          "': the FakeQuant grid is not symmetric (int8 needs zero point 0, narrow range [-127, 127]); "
          "requantized symmetrically, so they differ from the trained grid (train with a symmetric "
          "narrow-range weight FakeQuant to avoid this)"));
      for (int c = 0; c < nparams; ++c) {
        const float m = std::max(std::fabs(nudged[c].nudged_min), std::fabs(nudged[c].nudged_max));
        wp.scale.push_back(m > 0 ? m / 127.f : 1.f);
        wp.zero_point.push_back(0);
      }
    } else {
      for (int c = 0; c < nparams; ++c) {
        wp.scale.push_back(nudged[c].scale);
        wp.zero_point.push_back(int8 ? 0 : nudged[c].zero_point);
      }
    }
    const int64_t n = static_cast<int64_t>(w.float_data.size());
    for (int64_t i = 0; i < n; ++i) {
      const int c = per_channel_out ? static_cast<int>((i / inner) % channels) : 0;
      const NudgedRange& nr = nudged[c];
      if (int8 && asymmetric) {
        const float q = std::round(w.float_data[i] / wp.scale[c]);
        bytes[i] = static_cast<uint8_t>(static_cast<int8_t>(std::min(127.f, std::max(-127.f, q))));
      } else {
        const int32_t q = nr.quant_min + FakeQuantGridIndex(nr, w.float_data[i]);  // unsigned grid
        bytes[i] = int8 ? static_cast<uint8_t>(static_cast<int8_t>(q - 128)) : static_cast<uint8_t>(q);
      }
    }
    w.type = act_;
    w.quant = wp;
    w.data = std::move(bytes);

    // Bias: int32, zero point 0, scale S_in * S_w (per channel when the weights are).
    Tensor& b = m_.tensors[b_index];
    QuantParams bp;
    std::vector<int32_t> q(b.float_data.size());
    for (size_t c = 0; c < b.float_data.size(); ++c) {
      const float sw = wp.scale[wp.scale.size() == 1 ? 0 : c];
      const float sb = static_cast<float>(static_cast<double>(s_in) * static_cast<double>(sw));
      if (wp.scale.size() > 1 || c == 0) {
        bp.scale.push_back(sb);
        bp.zero_point.push_back(0);
      }
      const double v = std::round(static_cast<double>(b.float_data[c]) / static_cast<double>(sb));
      q[c] = static_cast<int32_t>(std::min<double>(INT32_MAX, std::max<double>(INT32_MIN, v)));
    }
    b.type = ElemType::kInt32;
    b.quant = bp;
    AppendBytes(&b.data, q);
  }

  void EncodeConstants() {
    for (const auto& op : m_.ops) {
      if (!IsWeighted(op.code)) continue;
      if (op.code == OpCode::kTransposeConv) EncodeWeights(op, op.inputs[1], op.inputs[2], op.inputs[3]);
      else EncodeWeights(op, op.inputs[1], op.inputs[0], op.inputs[2]);
    }
    for (auto& t : m_.tensors) {
      if (t.role == TensorRole::kIndex) {
        t.type = ElemType::kInt32;
        AppendBytes(&t.data, t.int_data);
      }
    }
  }

  Model& m_;
  const QuantizeOptions& opt_;
  Diagnostics* diag_;
  ElemType act_ = ElemType::kUInt8;
  size_t num_prefix_ = 0;
  QuantizeReport report_;
};

}  // namespace

QuantParams ParamsFromRange(const FakeQuantRange& range, ElemType type) {
  const NudgedRange nr = NudgeFakeQuantRange(range.min, range.max, range.num_bits, range.narrow_range);
  return Single(nr.scale, type == ElemType::kInt8 ? nr.zero_point - 128 : nr.zero_point);
}

QuantizeReport Quantize(Model* model, const QuantizeOptions& options, Diagnostics* diag) {
  Quantizer q(model, options, diag);
  return q.Run();
}

}  // namespace tfqat::converter

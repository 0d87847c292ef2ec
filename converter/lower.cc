#include "converter/lower.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "converter/const_fold.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"

namespace tfqat::converter {
namespace {

constexpr char kSupportedOps[] =
    "Conv2D, DepthwiseConv2dNative, MatMul, Conv2DBackpropInput (each with BiasAdd/Add bias and "
    "Relu/Relu6 fused), Add/AddV2, Relu, Relu6, ConcatV2, AvgPool, MaxPool, Reshape, Squeeze, Pad, "
    "Mean, Softmax, Sigmoid, Tanh, Identity, FakeQuantWithMinMaxVars/Args/PerChannel";

std::string Where(const tensorflow::NodeDef& n) {
  return absl::StrCat("node '", n.name(), "' (", n.op(), ")");
}

// Weights read from the graph: values in TF layout plus their FakeQuant range(s).
struct TfWeights {
  HostTensor<float> values;
  std::vector<FakeQuantRange> ranges;  // empty: no FakeQuant; 1: per tensor; else per channel
  std::string fq_node;
};

class Lowerer {
 public:
  Lowerer(const tensorflow::GraphDef& graph, const LowerOptions& options, Diagnostics* diag)
      : graph_(graph), options_(options), diag_(diag) {}

  std::optional<Model> Run();

 private:
  void Error(const tensorflow::NodeDef& n, absl::string_view what, absl::string_view fix) {
    diag_->errors.push_back(absl::StrCat(Where(n), ": ", what, fix.empty() ? "" : "; fix: ", fix));
  }
  const tensorflow::NodeDef& N(int i) const { return view_->node(i); }
  std::vector<TensorRef> DataInputs(int i) const {
    std::vector<TensorRef> out;
    for (const auto& r : view_->inputs(i))
      if (!r.is_control) out.push_back(r);
    return out;
  }
  // The IR tensor a TF tensor maps to (-1 and an error when it is not an activation).
  int T(const TensorRef& ref, const tensorflow::NodeDef& user);
  void Map(int node, int port, int tensor) { tensor_of_[TensorRef{N(node).name(), port}.ToString()] = tensor; }
  int AddOp(Op op) {
    for (int o : op.outputs) producer_[o] = static_cast<int>(model_.ops.size());
    model_.ops.push_back(std::move(op));
    return static_cast<int>(model_.ops.size()) - 1;
  }
  int NewActivation(const std::string& name, std::vector<int32_t> shape, const std::string& tf_node) {
    Tensor t;
    t.name = name;
    t.shape = std::move(shape);
    t.tf_node = tf_node;
    return model_.AddTensor(std::move(t));
  }
  int NewIndexTensor(const std::string& name, std::vector<int32_t> shape, std::vector<int32_t> data) {
    Tensor t;
    t.name = name;
    t.shape = std::move(shape);
    t.role = TensorRole::kIndex;
    t.type = ElemType::kInt32;
    t.int_data = std::move(data);
    return model_.AddTensor(std::move(t));
  }

  std::optional<FakeQuantRange> ReadRange(int node);
  std::optional<TfWeights> ReadWeights(const TensorRef& ref, const tensorflow::NodeDef& user);
  // The single data consumer of `node`'s output 0, when it may be fused into it.
  std::optional<int> SoleConsumer(int node);
  struct Fusion {
    std::vector<float> bias;  // empty: none
    std::string bias_node;
    Activation activation = Activation::kNone;
    int last = -1;
    std::vector<int> absorbed;
  };
  Fusion FuseForward(int node, int channels, bool allow_activation);

  void LowerPlaceholder(int i);
  void LowerFakeQuant(int i);
  void LowerWeighted(int i);
  void LowerAdd(int i);
  void LowerUnaryActivation(int i);
  void LowerConcat(int i);
  void LowerPool(int i);
  void LowerReshape(int i);
  void LowerSqueeze(int i);
  void LowerPad(int i);
  void LowerMean(int i);
  void LowerFixedOutput(int i, OpCode code);
  bool ReadConvAttrs(int i, OpOptions* o, bool pooling);

  const tensorflow::GraphDef& graph_;
  const LowerOptions& options_;
  Diagnostics* diag_;
  std::optional<GraphView> view_;
  std::optional<ConstFolder> fold_;
  Model model_;
  absl::flat_hash_map<std::string, int> tensor_of_;
  absl::flat_hash_map<int, int> producer_;  // tensor -> op
  absl::flat_hash_set<int> absorbed_;
  absl::flat_hash_set<int> failed_;
  absl::flat_hash_set<std::string> output_nodes_;
  absl::flat_hash_set<std::string> input_nodes_;
};

int Lowerer::T(const TensorRef& ref, const tensorflow::NodeDef& user) {
  auto it = tensor_of_.find(ref.ToString());
  if (it != tensor_of_.end()) return it->second;
  auto idx = view_->index(ref.node);
  if (idx && fold_->IsConstant(*idx)) {
    Error(user, absl::StrCat("input '", ref.ToString(), "' is a constant where this converter expects an activation"),
          "fold the constant into the layer (bias of the preceding Conv2D/MatMul) or feed it as an input");
  }
  // Otherwise its producer already reported why it could not be lowered.
  return -1;
}

std::optional<FakeQuantRange> Lowerer::ReadRange(int i) {
  const auto& n = N(i);
  FakeQuantRange r;
  r.node = n.name();
  auto bits = GetAttrOr<int64_t>(n, "num_bits", 8);
  auto narrow = GetAttrOr<bool>(n, "narrow_range", false);
  if (!bits.ok() || !narrow.ok()) {
    Error(n, !bits.ok() ? bits.status().message() : narrow.status().message(), "");
    return std::nullopt;
  }
  r.num_bits = static_cast<int>(*bits);
  r.narrow_range = *narrow;
  if (r.num_bits != 8) {
    Error(n, absl::StrCat("num_bits=", r.num_bits, " is not supported (TFLite integer kernels are 8-bit)"),
          "re-run `tfqat rewrite` with 8-bit quantization, or convert with --inference-type float");
    return std::nullopt;
  }
  if (n.op() == "FakeQuantWithMinMaxArgs") {
    auto mn = GetAttrOr<float>(n, "min", -6.f), mx = GetAttrOr<float>(n, "max", 6.f);
    if (!mn.ok() || !mx.ok()) {
      Error(n, "bad min/max attributes", "");
      return std::nullopt;
    }
    r.min = *mn;
    r.max = *mx;
  } else {
    const auto in = DataInputs(i);
    if (in.size() != 3) {
      Error(n, "expected 3 inputs (x, min, max)", "");
      return std::nullopt;
    }
    auto mn = fold_->Float(in[1]);
    auto mx = fold_->Float(in[2]);
    if (!mn.ok() || !mx.ok() || mn->values.size() != 1 || mx->values.size() != 1) {
      Error(n, "its min/max are not constant scalars (array lacks min/max)",
            "run `tfqat freeze` on the trained graph so the ranges become Const");
      return std::nullopt;
    }
    r.min = mn->values[0];
    r.max = mx->values[0];
  }
  if (!std::isfinite(r.min) || !std::isfinite(r.max) || !(r.min < r.max)) {
    Error(n, absl::StrCat("range [", r.min, ", ", r.max, "] is empty or not finite"),
          "train or calibrate so the range covers the data (min < max)");
    return std::nullopt;
  }
  return r;
}

std::optional<TfWeights> Lowerer::ReadWeights(const TensorRef& ref0, const tensorflow::NodeDef& user) {
  TensorRef ref = ref0;
  TfWeights w;
  std::optional<HostTensor<int64_t>> outer_shape;  // Reshape around a per-channel FakeQuant
  for (int guard = 0; guard < 64; ++guard) {
    auto idx = view_->index(ref.node);
    if (!idx) break;
    const auto& n = N(*idx);
    if (IsIdentityLike(n.op())) {
      ref = DataInputs(*idx).at(0);
      continue;
    }
    if (n.op() == "Reshape" && DataInputs(*idx).size() == 2) {
      // Reshape(FakeQuantPerChannel(Reshape(w))): how per-channel depthwise weights are
      // quantized over I*M channels. Element order is kept; the outermost shape is the filter's.
      auto s = fold_->Int(DataInputs(*idx)[1]);
      if (!s.ok()) break;
      if (!outer_shape) outer_shape = *s;
      ref = DataInputs(*idx).at(0);
      continue;
    }
    if (IsFakeQuant(n.op())) {
      w.fq_node = n.name();
      if (n.op() == "FakeQuantWithMinMaxVarsPerChannel") {
        const auto in = DataInputs(*idx);
        auto bits = GetAttrOr<int64_t>(n, "num_bits", 8);
        auto narrow = GetAttrOr<bool>(n, "narrow_range", false);
        auto mn = fold_->Float(in.at(1));
        auto mx = fold_->Float(in.at(2));
        if (!bits.ok() || !narrow.ok() || !mn.ok() || !mx.ok() || mn->values.size() != mx->values.size()) {
          Error(n, "per-channel min/max are not constant vectors of one size",
                "run `tfqat freeze` on the trained graph");
          return std::nullopt;
        }
        if (*bits != 8) {
          Error(n, absl::StrCat("num_bits=", *bits, " is not supported (TFLite integer kernels are 8-bit)"),
                "re-run `tfqat rewrite` with 8-bit quantization, or convert with --inference-type float");
          return std::nullopt;
        }
        bool ok = true;
        for (size_t c = 0; c < mn->values.size(); ++c) {
          FakeQuantRange r{mn->values[c], mx->values[c], 8, *narrow, n.name()};
          if (!std::isfinite(r.min) || !std::isfinite(r.max) || !(r.min < r.max)) ok = false;
          w.ranges.push_back(r);
        }
        if (!ok) {
          Error(n, "a channel's range is empty or not finite", "train or calibrate the weights' ranges");
          return std::nullopt;
        }
      } else {
        auto r = ReadRange(*idx);
        if (!r) return std::nullopt;
        w.ranges.push_back(*r);
      }
      ref = DataInputs(*idx).at(0);
      continue;
    }
    break;
  }
  auto v = fold_->Float(ref);
  if (!v.ok()) {
    Error(user, absl::StrCat("weights '", ref0.ToString(), "' are not constant: ", v.status().message()),
          "run `tfqat freeze` so variables become Const");
    return std::nullopt;
  }
  w.values = std::move(*v);
  if (outer_shape) {
    std::vector<int64_t> shape = outer_shape->values;
    int64_t known = 1;
    for (int64_t d : shape)
      if (d != -1) known *= d;
    for (int64_t& d : shape)
      if (d == -1 && known > 0) d = w.values.num_elements() / known;
    int64_t total = 1;
    for (int64_t d : shape) total *= d;
    if (total != static_cast<int64_t>(w.values.values.size())) {
      Error(user, "a Reshape on the weights' path changes the element count", "");
      return std::nullopt;
    }
    w.values.shape = shape;
  }
  return w;
}

std::optional<int> Lowerer::SoleConsumer(int node) {
  if (output_nodes_.contains(N(node).name())) return std::nullopt;
  const auto cons = view_->consumers(node, 0);
  if (cons.size() != 1) return std::nullopt;
  for (const auto& c : view_->fanout(node))
    if (!c.is_control && c.port != 0) return std::nullopt;
  return cons[0].node;
}

Lowerer::Fusion Lowerer::FuseForward(int node, int channels, bool allow_activation) {
  Fusion f;
  f.last = node;
  if (auto c = SoleConsumer(f.last)) {
    const auto& cn = N(*c);
    if (cn.op() == "BiasAdd" || cn.op() == "Add" || cn.op() == "AddV2") {
      const auto in = DataInputs(*c);
      if (in.size() == 2) {
        const int other = in[0].node == N(node).name() ? 1 : 0;
        auto oi = view_->index(in[other].node);
        if (oi && fold_->IsConstant(*oi)) {
          auto b = fold_->Float(in[other]);
          if (b.ok() && (static_cast<int>(b->values.size()) == channels || b->values.size() == 1)) {
            f.bias.assign(channels, 0.f);
            for (int k = 0; k < channels; ++k) f.bias[k] = b->values.size() == 1 ? b->values[0] : b->values[k];
            f.bias_node = in[other].node;
            f.absorbed.push_back(*c);
            f.last = *c;
          }
        }
      }
    }
  }
  if (allow_activation) {
    if (auto c = SoleConsumer(f.last)) {
      const auto& cn = N(*c);
      if (cn.op() == "Relu" || cn.op() == "Relu6") {
        f.activation = cn.op() == "Relu" ? Activation::kRelu : Activation::kRelu6;
        f.absorbed.push_back(*c);
        f.last = *c;
      }
    }
  }
  return f;
}

void Lowerer::LowerPlaceholder(int i) {
  const auto& n = N(i);
  if (!input_nodes_.contains(n.name())) {
    Error(n, "is a Placeholder the outputs need but it is not listed in --input-arrays",
          absl::StrCat("add '", n.name(), "' to --input-arrays"));
    return;
  }
  auto dtype = GetAttrOr<tensorflow::DataType>(n, "dtype", tensorflow::DT_FLOAT);
  if (!dtype.ok() || *dtype != tensorflow::DT_FLOAT) {
    Error(n, "only float32 inputs are supported", "feed float32 data");
    return;
  }
  std::vector<int64_t> shape;
  auto it = options_.input_shapes.find(n.name());
  if (it != options_.input_shapes.end()) {
    shape = it->second;
  } else {
    auto sp = GetAttrOr<tensorflow::TensorShapeProto>(n, "shape", tensorflow::TensorShapeProto());
    if (!sp.ok() || sp->unknown_rank() || (sp->dim_size() == 0 && !HasAttr(n, "shape"))) {
      Error(n, "input shape is unknown", absl::StrCat("pass --input-shapes for '", n.name(), "'"));
      return;
    }
    for (const auto& d : sp->dim()) shape.push_back(d.size());
  }
  std::vector<int32_t> s;
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t v = shape[d];
    if (v < 0 && d == 0) v = 1;  // unknown batch: 1, as the TFLite converter does
    if (v < 0) {
      Error(n, absl::StrCat("dimension ", d, " of the input shape is unknown"),
            absl::StrCat("pass --input-shapes for '", n.name(), "'"));
      return;
    }
    s.push_back(static_cast<int32_t>(v));
  }
  const int t = NewActivation(n.name(), s, n.name());
  model_.inputs.push_back(t);
  Map(i, 0, t);
}

void Lowerer::LowerFakeQuant(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  if (in.empty()) return Error(n, "has no input", "");
  const int t = T(in[0], n);
  if (t < 0) return;
  if (!options_.quantized) return Map(i, 0, t);
  if (n.op() == "FakeQuantWithMinMaxVarsPerChannel")
    return Error(n, "per-channel FakeQuant on an activation is not supported by TFLite",
                 "quantize activations per tensor (FakeQuantWithMinMaxVars)");
  auto r = ReadRange(i);
  if (!r) return;
  Tensor& tensor = model_.tensors[t];
  auto p = producer_.find(t);
  const OpCode pc = p == producer_.end() ? OpCode::kAdd : model_.ops[p->second].code;
  // Ops whose output parameters TFLite fixes (equal to the input's, or constant) keep them; a
  // FakeQuant after them becomes a requantizing QUANTIZE (elided when the parameters agree).
  const bool fixed_output = p != producer_.end() &&
      (pc == OpCode::kReshape || pc == OpCode::kSqueeze || pc == OpCode::kPad || pc == OpCode::kMaxPool2D ||
       pc == OpCode::kAveragePool2D || pc == OpCode::kSoftmax || pc == OpCode::kLogistic ||
       pc == OpCode::kTanh || model_.ops[p->second].requantize);
  if (!tensor.range && !fixed_output) {
    tensor.range = *r;
    return Map(i, 0, t);
  }
  if (tensor.range && tensor.range->min == r->min && tensor.range->max == r->max &&
      tensor.range->narrow_range == r->narrow_range)
    return Map(i, 0, t);
  const int t2 = NewActivation(n.name(), tensor.shape, n.name());
  model_.tensors[t2].range = *r;
  Op op;
  op.code = OpCode::kQuantize;
  op.inputs = {t};
  op.outputs = {t2};
  op.tf_node = n.name();
  op.tf_op = n.op();
  op.requantize = true;
  AddOp(std::move(op));
  Map(i, 0, t2);
}

bool Lowerer::ReadConvAttrs(int i, OpOptions* o, bool pooling) {
  const auto& n = N(i);
  auto fmt = GetAttrOr<std::string>(n, "data_format", "NHWC");
  if (!fmt.ok() || *fmt != "NHWC") {
    Error(n, "only data_format NHWC is supported", "build the graph with NHWC layout");
    return false;
  }
  auto pad = GetAttr<std::string>(n, "padding");
  if (!pad.ok() || (*pad != "SAME" && *pad != "VALID")) {
    Error(n, "padding must be SAME or VALID", "use SAME or VALID padding (or an explicit Pad node)");
    return false;
  }
  o->padding = *pad == "SAME" ? Padding::kSame : Padding::kValid;
  auto strides = GetAttr<std::vector<int64_t>>(n, "strides");
  if (!strides.ok() || strides->size() != 4 || (*strides)[0] != 1 || (*strides)[3] != 1) {
    Error(n, "strides must be [1, h, w, 1]", "");
    return false;
  }
  o->stride_h = static_cast<int>((*strides)[1]);
  o->stride_w = static_cast<int>((*strides)[2]);
  if (pooling) {
    auto k = GetAttr<std::vector<int64_t>>(n, "ksize");
    if (!k.ok() || k->size() != 4 || (*k)[0] != 1 || (*k)[3] != 1) {
      Error(n, "ksize must be [1, h, w, 1]", "");
      return false;
    }
    o->filter_h = static_cast<int>((*k)[1]);
    o->filter_w = static_cast<int>((*k)[2]);
  } else {
    auto d = GetAttrOr<std::vector<int64_t>>(n, "dilations", {1, 1, 1, 1});
    if (!d.ok() || d->size() != 4 || (*d)[0] != 1 || (*d)[3] != 1) {
      Error(n, "dilations must be [1, h, w, 1]", "");
      return false;
    }
    o->dilation_h = static_cast<int>((*d)[1]);
    o->dilation_w = static_cast<int>((*d)[2]);
  }
  return true;
}

int32_t ConvOutSize(int32_t in, int32_t k, int32_t stride, int32_t dilation, Padding p) {
  const int32_t eff = (k - 1) * dilation + 1;
  if (p == Padding::kSame) return (in + stride - 1) / stride;
  return in < eff ? 0 : (in - eff) / stride + 1;
}

void Lowerer::LowerWeighted(int i) {
  const auto& n = N(i);
  const std::string& op = n.op();
  const auto in = DataInputs(i);
  const bool tconv = op == "Conv2DBackpropInput";
  if (in.size() != (tconv ? 3u : 2u)) return Error(n, "unexpected number of inputs", "");
  const TensorRef x_ref = tconv ? in[2] : in[0];
  const TensorRef w_ref = tconv ? in[1] : in[1];
  const int x = T(x_ref, n);
  auto w = ReadWeights(w_ref, n);
  if (x < 0 || !w) return;
  const std::vector<int32_t> xs = model_.tensors[x].shape;
  const auto& ws = w->values.shape;

  Op o;
  o.tf_node = n.name();
  o.tf_op = op;
  Tensor wt;
  wt.role = TensorRole::kWeights;
  wt.name = w->fq_node.empty() ? w_ref.node : w->fq_node;
  wt.tf_node = w_ref.node;
  std::vector<int32_t> out_shape;
  int channels = 0;
  WeightRanges wr;
  bool per_channel = w->ranges.size() > 1;

  if (op == "Conv2D" || op == "DepthwiseConv2dNative") {
    if (!ReadConvAttrs(i, &o.options, false)) return;
    if (ws.size() != 4 || xs.size() != 4) return Error(n, "input and filter must be 4-D", "");
    const int kh = ws[0], kw = ws[1], ci = ws[2], co = ws[3];
    if (ci != xs[3]) return Error(n, absl::StrCat("filter input depth ", ci, " != input depth ", xs[3]), "");
    if (op == "Conv2D") {
      o.code = OpCode::kConv2D;
      channels = co;
      wt.shape = {co, kh, kw, ci};
      wt.float_data.resize(w->values.values.size());
      for (int h = 0; h < kh; ++h)
        for (int ww = 0; ww < kw; ++ww)
          for (int c = 0; c < ci; ++c)
            for (int k = 0; k < co; ++k)
              wt.float_data[((k * kh + h) * kw + ww) * ci + c] = w->values.values[((h * kw + ww) * ci + c) * co + k];
      if (per_channel && static_cast<int>(w->ranges.size()) != co)
        return Error(n, "per-channel FakeQuant does not have one range per output channel", "");
      wr.ranges = w->ranges;
      wr.channel_axis = 0;
    } else {
      o.code = OpCode::kDepthwiseConv2D;
      const int mult = co;
      channels = ci * mult;
      o.options.depth_multiplier = mult;
      wt.shape = {1, kh, kw, channels};  // [H,W,I,M] flattens to [1,H,W,I*M] unchanged
      wt.float_data = w->values.values;
      if (per_channel) {
        if (static_cast<int>(w->ranges.size()) == mult) {
          for (int c = 0; c < ci; ++c)
            for (int m = 0; m < mult; ++m) wr.ranges.push_back(w->ranges[m]);
        } else if (static_cast<int>(w->ranges.size()) == channels) {
          wr.ranges = w->ranges;
        } else {
          return Error(n, "per-channel FakeQuant does not match the depthwise channel count", "");
        }
      } else {
        wr.ranges = w->ranges;
      }
      wr.channel_axis = 3;
    }
    out_shape = {xs[0], ConvOutSize(xs[1], kh, o.options.stride_h, o.options.dilation_h, o.options.padding),
                 ConvOutSize(xs[2], kw, o.options.stride_w, o.options.dilation_w, o.options.padding), channels};
  } else if (op == "MatMul") {
    auto ta = GetAttrOr<bool>(n, "transpose_a", false);
    auto tb = GetAttrOr<bool>(n, "transpose_b", false);
    if (!ta.ok() || !tb.ok() || *ta) return Error(n, "transpose_a is not supported", "transpose the input instead");
    if (ws.size() != 2 || xs.size() != 2) return Error(n, "MatMul operands must be 2-D", "");
    const int k = *tb ? ws[1] : ws[0], co = *tb ? ws[0] : ws[1];
    if (k != xs[1]) return Error(n, absl::StrCat("weights depth ", k, " != input depth ", xs[1]), "");
    if (per_channel)
      return Error(n, "per-channel FakeQuant on MatMul weights: TFLite FULLY_CONNECTED is per tensor",
                   "quantize MatMul weights per tensor (FakeQuantWithMinMaxVars)");
    o.code = OpCode::kFullyConnected;
    channels = co;
    wt.shape = {co, k};
    wt.float_data.resize(w->values.values.size());
    for (int r = 0; r < k; ++r)
      for (int c = 0; c < co; ++c)
        wt.float_data[c * k + r] = *tb ? w->values.values[c * k + r] : w->values.values[r * co + c];
    wr.ranges = w->ranges;
    wr.channel_axis = 0;
    out_shape = {xs[0], co};
  } else {  // Conv2DBackpropInput
    if (!ReadConvAttrs(i, &o.options, false)) return;
    if (o.options.dilation_h != 1 || o.options.dilation_w != 1)
      return Error(n, "dilated transpose convolution is not supported", "");
    auto sizes = fold_->Int(in[0]);
    if (!sizes.ok() || sizes->values.size() != 4) return Error(n, "input_sizes must be a constant 4-vector", "");
    if (ws.size() != 4 || xs.size() != 4) return Error(n, "input and filter must be 4-D", "");
    const int kh = ws[0], kw = ws[1], co = ws[2], ci = ws[3];
    if (ci != xs[3]) return Error(n, absl::StrCat("filter depth ", ci, " != input depth ", xs[3]), "");
    if (per_channel)
      return Error(n, "per-channel FakeQuant on Conv2DBackpropInput filters runs over input channels; TFLite needs output channels",
                   "quantize transpose-convolution filters per tensor");
    o.code = OpCode::kTransposeConv;
    channels = co;
    wt.shape = {co, kh, kw, ci};
    wt.float_data.resize(w->values.values.size());
    for (int h = 0; h < kh; ++h)
      for (int ww = 0; ww < kw; ++ww)
        for (int k = 0; k < co; ++k)
          for (int c = 0; c < ci; ++c)
            wt.float_data[((k * kh + h) * kw + ww) * ci + c] = w->values.values[((h * kw + ww) * co + k) * ci + c];
    wr.ranges = w->ranges;
    wr.channel_axis = 0;
    for (int64_t v : sizes->values) out_shape.push_back(static_cast<int32_t>(v));
  }
  if (!wr.ranges.empty()) wt.weight_ranges = wr;

  // TRANSPOSE_CONV has no fused activation in the TFLite versions we target: a Relu stays an op.
  Fusion f = FuseForward(i, channels, /*allow_activation=*/!tconv);
  o.options.activation = f.activation;
  const int wi = model_.AddTensor(std::move(wt));
  Tensor bt;
  bt.role = TensorRole::kBias;
  bt.name = f.bias.empty() ? absl::StrCat(n.name(), "/bias") : f.bias_node;
  bt.tf_node = bt.name;
  bt.shape = {channels};
  bt.float_data = f.bias.empty() ? std::vector<float>(channels, 0.f) : f.bias;
  const int bi = model_.AddTensor(std::move(bt));
  const int yi = NewActivation(N(f.last).name(), out_shape, N(f.last).name());
  if (tconv) {
    std::vector<int32_t> sz(out_shape.begin(), out_shape.end());
    const int si = NewIndexTensor(absl::StrCat(n.name(), "/output_shape"), {4}, sz);
    o.inputs = {si, wi, x, bi};
  } else {
    o.inputs = {x, wi, bi};
  }
  o.outputs = {yi};
  AddOp(std::move(o));
  Map(i, 0, yi);
  for (int a : f.absorbed) {
    absorbed_.insert(a);
    Map(a, 0, yi);
  }
}

void Lowerer::LowerAdd(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  if (in.size() != 2) return Error(n, "expected 2 inputs", "");
  for (const auto& r : in) {
    auto idx = view_->index(r.node);
    if (idx && fold_->IsConstant(*idx))
      return Error(n, absl::StrCat("adds the constant '", r.node, "' to a tensor that is not the output of a Conv2D/DepthwiseConv2dNative/MatMul"),
                   "fold the constant into the preceding layer's bias (tfqat freeze does this for batch norm)");
  }
  const int a = T(in[0], n), b = T(in[1], n);
  if (a < 0 || b < 0) return;
  const auto& as = model_.tensors[a].shape;
  const auto& bs = model_.tensors[b].shape;
  const size_t rank = std::max(as.size(), bs.size());
  std::vector<int32_t> os(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    const int32_t da = d + as.size() >= rank ? as[d + as.size() - rank] : 1;
    const int32_t db = d + bs.size() >= rank ? bs[d + bs.size() - rank] : 1;
    if (da != db && da != 1 && db != 1) return Error(n, "operand shapes do not broadcast", "");
    os[d] = std::max(da, db);
  }
  Fusion f = FuseForward(i, -1, true);  // channels -1: never takes a bias
  Op o;
  o.code = OpCode::kAdd;
  o.tf_node = n.name();
  o.tf_op = n.op();
  o.options.activation = f.activation;
  const int y = NewActivation(N(f.last).name(), os, N(f.last).name());
  o.inputs = {a, b};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
  for (int k : f.absorbed) {
    absorbed_.insert(k);
    Map(k, 0, y);
  }
}

void Lowerer::LowerUnaryActivation(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  const int x = T(in.at(0), n);
  if (x < 0) return;
  Op o;
  o.code = n.op() == "Relu" ? OpCode::kRelu : OpCode::kRelu6;
  o.tf_node = n.name();
  o.tf_op = n.op();
  const int y = NewActivation(n.name(), model_.tensors[x].shape, n.name());
  o.inputs = {x};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerConcat(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  if (in.size() < 2) return Error(n, "expected inputs and an axis", "");
  auto axis = fold_->Int(in.back());
  if (!axis.ok() || axis->values.size() != 1) return Error(n, "axis must be a constant scalar", "");
  std::vector<int> xs;
  for (size_t k = 0; k + 1 < in.size(); ++k) {
    const int t = T(in[k], n);
    if (t < 0) return;
    xs.push_back(t);
  }
  std::vector<int32_t> os = model_.tensors[xs[0]].shape;
  const int rank = static_cast<int>(os.size());
  int ax = static_cast<int>(axis->values[0]);
  if (ax < 0) ax += rank;
  if (ax < 0 || ax >= rank) return Error(n, "axis out of range", "");
  os[ax] = 0;
  for (int t : xs) {
    const auto& s = model_.tensors[t].shape;
    if (static_cast<int>(s.size()) != rank) return Error(n, "inputs differ in rank", "");
    for (int d = 0; d < rank; ++d)
      if (d != ax && s[d] != os[d]) return Error(n, "inputs differ outside the concatenation axis", "");
    os[ax] += s[ax];
  }
  Op o;
  o.code = OpCode::kConcatenation;
  o.tf_node = n.name();
  o.tf_op = n.op();
  o.options.axis = ax;
  const int y = NewActivation(n.name(), os, n.name());
  o.inputs = xs;
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerPool(int i) {
  const auto& n = N(i);
  const int x = T(DataInputs(i).at(0), n);
  if (x < 0) return;
  Op o;
  if (!ReadConvAttrs(i, &o.options, true)) return;
  const auto xs = model_.tensors[x].shape;
  if (xs.size() != 4) return Error(n, "input must be 4-D", "");
  o.code = n.op() == "MaxPool" ? OpCode::kMaxPool2D : OpCode::kAveragePool2D;
  o.tf_node = n.name();
  o.tf_op = n.op();
  std::vector<int32_t> os = {xs[0], ConvOutSize(xs[1], o.options.filter_h, o.options.stride_h, 1, o.options.padding),
                             ConvOutSize(xs[2], o.options.filter_w, o.options.stride_w, 1, o.options.padding), xs[3]};
  const int y = NewActivation(n.name(), os, n.name());
  o.inputs = {x};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerReshape(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  const int x = T(in.at(0), n);
  if (x < 0) return;
  auto shape = fold_->Int(in.at(1));
  if (!shape.ok()) return Error(n, "the target shape is not constant", "make the shape a Const");
  const int64_t count = model_.tensors[x].num_elements();
  int64_t known = 1;
  int unknown = -1;
  std::vector<int32_t> s;
  for (size_t d = 0; d < shape->values.size(); ++d) {
    if (shape->values[d] == -1) {
      if (unknown >= 0) return Error(n, "more than one -1 in the target shape", "");
      unknown = static_cast<int>(d);
      s.push_back(-1);
    } else {
      known *= shape->values[d];
      s.push_back(static_cast<int32_t>(shape->values[d]));
    }
  }
  if (unknown >= 0 && known > 0) s[unknown] = static_cast<int32_t>(count / known);
  int64_t total = 1;
  for (int32_t d : s) total *= d;
  if (total != count) return Error(n, "the target shape does not keep the element count", "");
  Op o;
  o.code = OpCode::kReshape;
  o.tf_node = n.name();
  o.tf_op = n.op();
  o.options.new_shape = s;
  const int si = NewIndexTensor(absl::StrCat(n.name(), "/shape"), {static_cast<int32_t>(s.size())}, s);
  const int y = NewActivation(n.name(), s, n.name());
  o.inputs = {x, si};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerSqueeze(int i) {
  const auto& n = N(i);
  const int x = T(DataInputs(i).at(0), n);
  if (x < 0) return;
  auto dims = GetAttrOr<std::vector<int64_t>>(n, "squeeze_dims", {});
  if (!dims.ok()) return Error(n, "bad squeeze_dims", "");
  const auto xs = model_.tensors[x].shape;
  const int rank = static_cast<int>(xs.size());
  std::vector<bool> drop(rank, false);
  std::vector<int32_t> sd;
  for (int64_t d : *dims) {
    int dd = static_cast<int>(d < 0 ? d + rank : d);
    if (dd < 0 || dd >= rank || xs[dd] != 1) return Error(n, "squeeze_dims names a dimension that is not 1", "");
    drop[dd] = true;
    sd.push_back(dd);
  }
  if (dims->empty())
    for (int d = 0; d < rank; ++d) drop[d] = xs[d] == 1;
  std::vector<int32_t> os;
  for (int d = 0; d < rank; ++d)
    if (!drop[d]) os.push_back(xs[d]);
  Op o;
  o.code = OpCode::kSqueeze;
  o.tf_node = n.name();
  o.tf_op = n.op();
  o.options.squeeze_dims = sd;
  const int y = NewActivation(n.name(), os, n.name());
  o.inputs = {x};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerPad(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  const int x = T(in.at(0), n);
  if (x < 0) return;
  auto pads = fold_->Int(in.at(1));
  const auto xs = model_.tensors[x].shape;
  if (!pads.ok() || pads->values.size() != 2 * xs.size())
    return Error(n, "paddings must be a constant [rank, 2] tensor", "");
  std::vector<int32_t> p, os = xs;
  for (size_t d = 0; d < xs.size(); ++d) {
    p.push_back(static_cast<int32_t>(pads->values[2 * d]));
    p.push_back(static_cast<int32_t>(pads->values[2 * d + 1]));
    os[d] += p[2 * d] + p[2 * d + 1];
  }
  Op o;
  o.code = OpCode::kPad;
  o.tf_node = n.name();
  o.tf_op = n.op();
  const int pi = NewIndexTensor(absl::StrCat(n.name(), "/paddings"), {static_cast<int32_t>(xs.size()), 2}, p);
  const int y = NewActivation(n.name(), os, n.name());
  o.inputs = {x, pi};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerMean(int i) {
  const auto& n = N(i);
  const auto in = DataInputs(i);
  const int x = T(in.at(0), n);
  if (x < 0) return;
  auto axes = fold_->Int(in.at(1));
  auto keep = GetAttrOr<bool>(n, "keep_dims", false);
  if (!axes.ok() || !keep.ok()) return Error(n, "axes must be constant", "");
  const auto xs = model_.tensors[x].shape;
  const int rank = static_cast<int>(xs.size());
  std::vector<bool> reduce(rank, false);
  std::vector<int32_t> ax;
  for (int64_t a : axes->values) {
    const int d = static_cast<int>(a < 0 ? a + rank : a);
    if (d < 0 || d >= rank) return Error(n, "axis out of range", "");
    reduce[d] = true;
    ax.push_back(d);
  }
  std::vector<int32_t> os;
  for (int d = 0; d < rank; ++d) {
    if (!reduce[d]) os.push_back(xs[d]);
    else if (*keep) os.push_back(1);
  }
  Op o;
  o.code = OpCode::kMean;
  o.tf_node = n.name();
  o.tf_op = n.op();
  o.options.keep_dims = *keep;
  const int ai = NewIndexTensor(absl::StrCat(n.name(), "/axes"), {static_cast<int32_t>(ax.size())}, ax);
  const int y = NewActivation(n.name(), os, n.name());
  o.inputs = {x, ai};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

void Lowerer::LowerFixedOutput(int i, OpCode code) {
  const auto& n = N(i);
  const int x = T(DataInputs(i).at(0), n);
  if (x < 0) return;
  Op o;
  o.code = code;
  o.tf_node = n.name();
  o.tf_op = n.op();
  const int y = NewActivation(n.name(), model_.tensors[x].shape, n.name());
  o.inputs = {x};
  o.outputs = {y};
  AddOp(std::move(o));
  Map(i, 0, y);
}

std::optional<Model> Lowerer::Run() {
  auto view = GraphView::Create(graph_);
  if (!view.ok()) {
    diag_->errors.push_back(std::string(view.status().message()));
    return std::nullopt;
  }
  view_.emplace(std::move(*view));
  fold_.emplace(*view_);

  // Outputs and inputs.
  std::vector<TensorRef> outputs;
  if (options_.output_arrays.empty()) {
    for (int o : view_->Outputs()) outputs.push_back(TensorRef{N(o).name(), 0});
  } else {
    for (const auto& s : options_.output_arrays) {
      auto r = ParseTensorRef(s);
      if (!r.ok() || !view_->index(r->node)) {
        diag_->errors.push_back(absl::StrCat("--output-arrays: no node '", s, "' in the graph; fix: name an existing node"));
        continue;
      }
      outputs.push_back(*r);
    }
  }
  if (outputs.empty() && diag_->errors.empty())
    diag_->errors.push_back("the graph has no outputs; fix: pass --output-arrays");
  for (const auto& r : outputs) output_nodes_.insert(r.node);

  // The nodes the outputs need.
  std::vector<bool> needed(view_->num_nodes(), false);
  std::vector<int> stack;
  for (const auto& r : outputs)
    if (auto i = view_->index(r.node)) stack.push_back(*i);
  absl::flat_hash_set<std::string> cut;
  for (const auto& s : options_.input_arrays) cut.insert(s);
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    if (needed[i]) continue;
    needed[i] = true;
    if (cut.contains(N(i).name())) continue;
    for (const auto& p : view_->data_fanin(i)) stack.push_back(p.node);
  }
  if (options_.input_arrays.empty()) {
    for (int p : view_->Placeholders())
      if (needed[p]) input_nodes_.insert(N(p).name());
  } else {
    for (const auto& s : options_.input_arrays) {
      auto i = view_->index(s);
      if (!i) {
        diag_->errors.push_back(absl::StrCat("--input-arrays: no node '", s, "' in the graph; fix: name an existing Placeholder"));
      } else if (N(*i).op() != "Placeholder") {
        Error(N(*i), "is listed in --input-arrays but is not a Placeholder", "name a Placeholder node");
      } else {
        input_nodes_.insert(s);
      }
    }
  }
  for (const auto& [name, shape] : options_.input_shapes)
    if (!input_nodes_.contains(name))
      diag_->errors.push_back(absl::StrCat("--input-shapes names '", name, "', which is not an input; fix: list it in --input-arrays"));

  auto order = view_->TopologicalOrder();
  if (!order.ok()) {
    diag_->errors.push_back(std::string(order.status().message()));
    return std::nullopt;
  }
  // Placeholders first, in --input-arrays order when given, so the model's inputs keep that order.
  std::vector<int> placeholders;
  if (!options_.input_arrays.empty()) {
    for (const auto& s : options_.input_arrays)
      if (auto i = view_->index(s); i && input_nodes_.contains(s)) placeholders.push_back(*i);
  } else {
    for (int i : *order)
      if (needed[i] && N(i).op() == "Placeholder") placeholders.push_back(i);
  }
  for (int i : placeholders) LowerPlaceholder(i);

  for (int i : *order) {
    if (!needed[i] || absorbed_.contains(i) || N(i).op() == "Placeholder") continue;
    if (fold_->IsConstant(i)) continue;  // read where consumed
    const auto& n = N(i);
    const std::string& op = n.op();
    // Downstream of a node that could not be lowered: no cascade of follow-up errors, but a
    // FakeQuant's own range problems are still reported.
    bool upstream_failed = false;
    for (const auto& p : view_->data_fanin(i)) upstream_failed = upstream_failed || failed_.contains(p.node);
    if (upstream_failed) {
      failed_.insert(i);
      if (IsFakeQuant(op) && op != "FakeQuantWithMinMaxVarsPerChannel" && options_.quantized) ReadRange(i);
      continue;
    }
    const size_t errors_before = diag_->errors.size();
    if (IsIdentityLike(op)) {
      const int t = T(DataInputs(i).at(0), n);
      if (t >= 0) Map(i, 0, t);
    } else if (IsFakeQuant(op)) {
      LowerFakeQuant(i);
    } else if (op == "Conv2D" || op == "DepthwiseConv2dNative" || op == "MatMul" || op == "Conv2DBackpropInput") {
      LowerWeighted(i);
    } else if (op == "Add" || op == "AddV2") {
      LowerAdd(i);
    } else if (op == "BiasAdd") {
      Error(n, "is a bias add that does not follow a Conv2D/DepthwiseConv2dNative/MatMul/Conv2DBackpropInput",
            "place the BiasAdd directly after the weighted layer");
    } else if (op == "Relu" || op == "Relu6") {
      LowerUnaryActivation(i);
    } else if (op == "ConcatV2") {
      LowerConcat(i);
    } else if (op == "AvgPool" || op == "MaxPool") {
      LowerPool(i);
    } else if (op == "Reshape") {
      LowerReshape(i);
    } else if (op == "Squeeze") {
      LowerSqueeze(i);
    } else if (op == "Pad") {
      LowerPad(i);
    } else if (op == "Mean") {
      LowerMean(i);
    } else if (op == "Softmax") {
      LowerFixedOutput(i, OpCode::kSoftmax);
    } else if (op == "Sigmoid") {
      LowerFixedOutput(i, OpCode::kLogistic);
    } else if (op == "Tanh") {
      LowerFixedOutput(i, OpCode::kTanh);
    } else {
      Error(n, "unsupported op", absl::StrCat("rewrite it with supported ops (", kSupportedOps, ")"));
    }
    if (diag_->errors.size() != errors_before || !tensor_of_.contains(TensorRef{n.name(), 0}.ToString()))
      failed_.insert(i);
  }

  for (const auto& r : outputs) {
    auto it = tensor_of_.find(r.ToString());
    if (it == tensor_of_.end()) {
      auto idx = view_->index(r.node);
      if (idx && fold_->IsConstant(*idx))
        diag_->errors.push_back(absl::StrCat("output '", r.ToString(), "' is a constant; fix: name a computed tensor in --output-arrays"));
      continue;  // otherwise its producer reported the problem
    }
    const int t = it->second;
    if (std::find(model_.inputs.begin(), model_.inputs.end(), t) == model_.inputs.end())
      model_.tensors[t].name = r.ToString();
    model_.outputs.push_back(t);
  }
  // With errors the model is partial (failed nodes and what depends on them are missing); it is
  // still returned so the quantization stage can report its own problems in the same run.
  return std::move(model_);
}

}  // namespace

std::optional<Model> Lower(const tensorflow::GraphDef& graph, const LowerOptions& options,
                           Diagnostics* diag) {
  Lowerer l(graph, options, diag);
  return l.Run();
}

const char* OpCodeName(OpCode code) {
  switch (code) {
    case OpCode::kAdd: return "ADD";
    case OpCode::kAveragePool2D: return "AVERAGE_POOL_2D";
    case OpCode::kConcatenation: return "CONCATENATION";
    case OpCode::kConv2D: return "CONV_2D";
    case OpCode::kDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
    case OpCode::kDequantize: return "DEQUANTIZE";
    case OpCode::kFullyConnected: return "FULLY_CONNECTED";
    case OpCode::kLogistic: return "LOGISTIC";
    case OpCode::kMaxPool2D: return "MAX_POOL_2D";
    case OpCode::kRelu: return "RELU";
    case OpCode::kRelu6: return "RELU6";
    case OpCode::kReshape: return "RESHAPE";
    case OpCode::kSoftmax: return "SOFTMAX";
    case OpCode::kTanh: return "TANH";
    case OpCode::kPad: return "PAD";
    case OpCode::kMean: return "MEAN";
    case OpCode::kSqueeze: return "SQUEEZE";
    case OpCode::kTransposeConv: return "TRANSPOSE_CONV";
    case OpCode::kQuantize: return "QUANTIZE";
  }
  return "?";
}

const char* ElemTypeName(ElemType t) {
  switch (t) {
    case ElemType::kFloat32: return "float32";
    case ElemType::kInt32: return "int32";
    case ElemType::kUInt8: return "uint8";
    case ElemType::kInt8: return "int8";
  }
  return "?";
}

}  // namespace tfqat::converter

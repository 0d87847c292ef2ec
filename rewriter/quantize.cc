#include "rewriter/quantize.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "patterns/layer_patterns.h"

namespace tfqat {

namespace {

using patterns::LayerMatch;
using tensorflow::DataType;
using tensorflow::NodeDef;

std::string TensorName(const GraphView& view, int node, int port) {
  return port == 0 ? view.node(node).name() : absl::StrCat(view.node(node).name(), ":", port);
}

// "conv1/Conv2D" -> "conv1"; a name without a scope is its own scope.
std::string LayerScope(absl::string_view name) {
  size_t slash = name.rfind('/');
  if (slash == absl::string_view::npos || slash == 0) return std::string(name);
  return std::string(name.substr(0, slash));
}

bool IsTrainingOp(const NodeDef& n) {
  const std::string& op = n.op();
  return absl::StartsWith(op, "Apply") || absl::StartsWith(op, "ResourceApply") ||
         absl::StartsWith(op, "SparseApply") || absl::StartsWith(op, "ResourceSparseApply") ||
         absl::StartsWith(n.name(), "gradients/") || absl::StrContains(n.name(), "/gradients/");
}

absl::Status CheckOptions(const QuantizeOptions& o) {
  if (o.weight_bits < 2 || o.weight_bits > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("--weight-bits must be in 2..16 (FakeQuant's num_bits range), got ", o.weight_bits));
  }
  if (o.activation_bits < 2 || o.activation_bits > 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--activation-bits must be in 2..16 (FakeQuant's num_bits range), got ", o.activation_bits));
  }
  if (o.quant_delay < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--quant-delay must be >= 0, got ", o.quant_delay));
  }
  if (!(o.ema_decay > 0.f && o.ema_decay < 1.f)) {
    return absl::InvalidArgumentError(absl::StrCat("--ema-decay must be in (0, 1), got ", o.ema_decay));
  }
  if (o.global_step.empty() || o.update_ops.empty()) {
    return absl::InvalidArgumentError("global_step and update_ops names must not be empty");
  }
  return absl::OkStatus();
}

bool Excluded(absl::string_view name, const std::vector<std::string>& patterns) {
  std::string n(name);
  for (const std::string& p : patterns) {
    if (fnmatch(p.c_str(), n.c_str(), 0) == 0) return true;
    std::string scope = p + "/*";
    if (fnmatch(scope.c_str(), n.c_str(), 0) == 0) return true;
  }
  return false;
}

// Shape of a weight tensor: Const value, a variable's shape attr, through Identity/Mul.
std::optional<std::vector<int64_t>> WeightShape(const GraphView& view, int n, int depth = 0) {
  if (depth > 6) return std::nullopt;
  const NodeDef& node = view.node(n);
  const std::string& op = node.op();
  if (op == "Const") {
    auto it = node.attr().find("value");
    if (it == node.attr().end()) return std::nullopt;
    auto s = ShapeFromProto(it->second.tensor().tensor_shape());
    if (!s.ok()) return std::nullopt;
    return *s;
  }
  if (op == "VariableV2" || op == "Variable" || op == "VarHandleOp") {
    auto it = node.attr().find("shape");
    if (it == node.attr().end()) return std::nullopt;
    auto s = ShapeFromProto(it->second.shape());
    if (!s.ok()) return std::nullopt;
    return *s;
  }
  const auto& fanin = view.fanin(n);
  if ((op == "Identity" || op == "ReadVariableOp") && !fanin.empty() && !fanin[0].is_control) {
    return WeightShape(view, fanin[0].node, depth + 1);
  }
  if (op == "Mul" && fanin.size() >= 2) {
    // mul_fold: the parameter operand carries the full weight shape.
    for (int k = 0; k < 2; ++k) {
      auto s = WeightShape(view, fanin[k].node, depth + 1);
      if (s.has_value() && s->size() >= 2) return s;
    }
  }
  return std::nullopt;
}

// Decoded weight values when the weights are a Const (possibly behind Identity).
std::optional<HostTensor<float>> WeightValues(const GraphView& view, int n, int depth = 0) {
  if (depth > 6) return std::nullopt;
  const NodeDef& node = view.node(n);
  if (node.op() == "Const") {
    auto v = node.attr().find("value");  // decoded by reference: no copy of the tensor
    if (v == node.attr().end() || !v->second.has_tensor()) return std::nullopt;
    auto t = DecodeTensor<float>(v->second.tensor(), node.name());
    if (!t.ok()) return std::nullopt;
    return *std::move(t);
  }
  const auto& fanin = view.fanin(n);
  if (node.op() == "Identity" && !fanin.empty() && !fanin[0].is_control) {
    return WeightValues(view, fanin[0].node, depth + 1);
  }
  return std::nullopt;
}

struct RangeVars {
  std::string scope;
  std::string min_var, min_read, max_var, max_read;
  int channels = 0;  // 0 = per tensor
};

class Rewriter {
 public:
  // Emitted nodes are appended to *out; with `stream` set (out is then ignored) they are
  // serialized into *stream instead, a window at a time, and the input's nodes follow them.
  Rewriter(const GraphView& view, const QuantizeOptions& options, tensorflow::GraphDef* out,
           SerializedGraph* stream = nullptr, const std::vector<int>* topological_order = nullptr)
      : topological_order_(topological_order),
        view_(view),
        opt_(options),
        out_(out),
        stream_(stream),
        train_(options.mode == QuantizeOptions::Mode::kTrain) {}

  absl::StatusOr<QuantizeResult> Run();

 private:
  // ---- node emission ----
  // Names of emitted nodes are views into the NodeDefs' own name strings (stable: nodes are
  // only appended, never moved or renamed), so uniqueness checks allocate nothing.
  bool Taken(absl::string_view name) const {
    return view_.index(name).has_value() || added_.contains(name);
  }
  NodeDef* Add(absl::string_view base, absl::string_view op, std::initializer_list<absl::string_view> inputs) {
    NodeDef* n = stream_ == nullptr ? out_->add_node() : Scratch(op);
    // One hash of the name in each set when it is free (the common case).
    n->set_name(base.data(), base.size());
    if (stream_ == nullptr) {
      for (int k = 1; view_.index(n->name()).has_value() || !added_.insert(n->name()).second; ++k) {
        n->set_name(absl::StrCat(base, "_", k));
      }
    } else {
      // The node is serialized and recycled soon: the set keeps its own copy of the name
      // (a name found taken wastes its few interned bytes; that is rare).
      for (int k = 1; view_.index(n->name()).has_value() || !added_.insert(names_.Intern(n->name())).second; ++k) {
        n->set_name(absl::StrCat(base, "_", k));
      }
    }
    n->set_op(op.data(), op.size());
    if (stream_ != nullptr) n->clear_input();  // keeps the strings for reuse
    if (inputs.size() > 0) {
      n->mutable_input()->Reserve(static_cast<int>(inputs.size()));
      for (absl::string_view i : inputs) n->add_input(i.data(), i.size());
    }
    ++nodes_added_;
    return n;
  }
  // Edits of the input graph's nodes: in the GraphDef itself, or (streaming) recorded as the
  // node's new input list, applied when it is serialized.
  std::vector<std::string>& EditedInputs(int i) {
    auto [it, inserted] = edited_.try_emplace(i);
    if (inserted) it->second.assign(view_.node(i).input().begin(), view_.node(i).input().end());
    return it->second;
  }
  void SetOriginalInput(int i, int slot, std::string value) {
    if (stream_ == nullptr) {
      out_->mutable_node(i)->set_input(slot, std::move(value));
    } else {
      EditedInputs(i)[slot] = std::move(value);
    }
  }
  void AddOriginalInput(int i, std::string value) {
    if (stream_ == nullptr) {
      out_->mutable_node(i)->add_input(std::move(value));
    } else {
      EditedInputs(i).push_back(std::move(value));
    }
  }
  // Streaming: a NodeDef for an emitted node of type `op`, recycled from the pool of that
  // op. Every emission of an op sets the same attributes, so a recycled node's attribute
  // map already holds the keys and is only overwritten: no allocation once the pool is warm.
  NodeDef* Scratch(absl::string_view op) {
    ScratchPool& pool = pools_[op];
    if (pool.used == pool.nodes.size()) pool.nodes.push_back(std::make_unique<NodeDef>());
    NodeDef* n = pool.nodes[pool.used++].get();
    window_.push_back(n);
    return n;
  }
  // Streaming: serializes the window of emitted nodes and recycles them. Called only where
  // no pointer or reference into the window is held (between quantization sites).
  void Flush(bool force = false) {
    if (stream_ == nullptr || (!force && window_.size() < 256)) return;
    for (const NodeDef* n : window_) stream_->AppendNode(*n);
    window_.clear();
    for (auto& [op, pool] : pools_) pool.used = 0;
  }
  // Streaming, at the end: the input's nodes with their edits and rewired inputs, then the
  // GraphDef's other fields.
  void WriteOriginals(int original) {
    std::vector<absl::string_view> inputs;
    for (int i = 0; i < original; ++i) {
      const NodeDef& src = view_.node(i);
      auto e = edited_.find(i);
      bool rewired = false;
      if (e != edited_.end()) {
        for (const std::string& in : e->second) rewired |= Rewired(in) != nullptr;
      } else {
        for (const std::string& in : src.input()) rewired |= Rewired(in) != nullptr;
      }
      if (!rewired && e == edited_.end()) {
        stream_->AppendNode(src);  // unchanged: no copy
        continue;
      }
      inputs.clear();
      auto add = [&](const std::string& in) {
        if (const std::string* r = Rewired(in)) {
          inputs.push_back(*r);
          ++inputs_edited_;
        } else {
          inputs.push_back(in);
        }
      };
      if (e != edited_.end()) {
        for (const std::string& in : e->second) add(in);
      } else {
        for (const std::string& in : src.input()) add(in);
      }
      stream_->AppendNodeWithInputs(src, inputs);
    }
    tensorflow::GraphDef tail;
    const tensorflow::GraphDef& g = view_.graph();
    if (g.has_versions()) *tail.mutable_versions() = g.versions();
    if (g.has_library()) *tail.mutable_library() = g.library();
    tail.set_version(g.version());
    stream_->AppendFields(tail);
  }
  // The replacement of data input `in` (a port-0 output of a quantized node), or nullptr.
  const std::string* Rewired(const std::string& in) const {
    if (rewire_.empty() || in.empty() || in[0] == '^') return nullptr;
    absl::string_view name = in;
    if (absl::EndsWith(name, ":0")) name.remove_suffix(2);
    else if (name.find(':') != absl::string_view::npos) return nullptr;
    auto r = rewire_.find(name);
    return r == rewire_.end() ? nullptr : &r->second;
  }
  void RewireInputs(NodeDef* node) {
    for (int j = 0; j < node->input_size(); ++j) {
      if (const std::string* r = Rewired(node->input(j))) {
        node->set_input(j, *r);
        ++inputs_edited_;
      }
    }
  }
  static tensorflow::AttrValue& Attr(NodeDef* n, const char* name) { return (*n->mutable_attr())[name]; }
  // A Const whose value is built in place (no TensorProto copies).
  NodeDef* ConstNode(absl::string_view name, DataType dtype, tensorflow::TensorProto** value) {
    NodeDef* n = Add(name, "Const", {});
    Attr(n, "dtype").set_type(dtype);
    *value = Attr(n, "value").mutable_tensor();
    (*value)->Clear();  // a recycled node (streaming) still holds its last value
    (*value)->set_dtype(dtype);
    return n;
  }
  const std::string& ConstF(absl::string_view name, const std::vector<float>& values, bool vector) {
    if (values.size() == 1) {
      tensorflow::TensorProto* t;
      NodeDef* n = ConstNode(name, tensorflow::DT_FLOAT, &t);
      if (vector) t->mutable_tensor_shape()->add_dim()->set_size(1);
      t->add_float_val(values[0]);
      return n->name();
    }
    HostTensor<float> h;
    if (vector) h.shape = {static_cast<int64_t>(values.size())};
    h.values = values;
    tensorflow::TensorProto* t;
    NodeDef* n = ConstNode(name, tensorflow::DT_FLOAT, &t);
    tensorflow::TensorProto encoded = EncodeTensor(h);
    t->Swap(&encoded);
    return n->name();
  }
  const std::string& ConstScalarF(absl::string_view name, float v) {
    tensorflow::TensorProto* t;
    NodeDef* n = ConstNode(name, tensorflow::DT_FLOAT, &t);
    t->mutable_tensor_shape();
    t->add_float_val(v);
    return n->name();
  }
  const std::string& ConstI32(absl::string_view name, const std::vector<int32_t>& values, bool vector) {
    HostTensor<int32_t> h;
    if (vector) h.shape = {static_cast<int64_t>(values.size())};
    h.values = values;
    tensorflow::TensorProto* t;
    NodeDef* n = ConstNode(name, tensorflow::DT_INT32, &t);
    tensorflow::TensorProto encoded = EncodeTensor(h);
    t->Swap(&encoded);
    return n->name();
  }
  const std::string& ConstI64(absl::string_view name, int64_t v) {
    HostTensor<int64_t> h;
    h.values = {v};
    tensorflow::TensorProto* t;
    NodeDef* n = ConstNode(name, tensorflow::DT_INT64, &t);
    tensorflow::TensorProto encoded = EncodeTensor(h);
    t->Swap(&encoded);
    return n->name();
  }
  const std::string& Binary(absl::string_view op, absl::string_view name, absl::string_view a,
                            absl::string_view b, DataType t = tensorflow::DT_FLOAT) {
    NodeDef* n = Add(name, op, {a, b});
    Attr(n, "T").set_type(t);
    return n->name();
  }
  const std::string& Reshape(absl::string_view name, absl::string_view x, const std::vector<int32_t>& shape) {
    const std::string& s = ConstI32(absl::StrCat(name, "/shape"), shape, true);
    NodeDef* n = Add(name, "Reshape", {x, s});
    Attr(n, "T").set_type(tensorflow::DT_FLOAT);
    Attr(n, "Tshape").set_type(tensorflow::DT_INT32);
    return n->name();
  }
  const std::string& Reduce(absl::string_view op, absl::string_view name, absl::string_view x) {
    tensorflow::TensorProto* t;
    const std::string& axis =
        ConstNode(absl::StrCat(name, "/reduction_indices"), tensorflow::DT_INT32, &t)->name();
    t->mutable_tensor_shape();
    t->add_int_val(0);
    NodeDef* n = Add(name, op, {x, axis});
    Attr(n, "T").set_type(tensorflow::DT_FLOAT);
    Attr(n, "Tidx").set_type(tensorflow::DT_INT32);
    Attr(n, "keep_dims").set_b(false);
    return n->name();
  }
  // VariableV2 + <var>/initial_value + <var>/Assign + <var>/read (the contract's TF1 form).
  // *init receives the initial value's TensorProto, to be filled in place.
  std::pair<std::string, std::string> Variable(absl::string_view name, DataType dtype,
                                               const std::vector<int64_t>& shape,
                                               tensorflow::TensorProto** init) {
    NodeDef* v = Add(name, "VariableV2", {});
    const std::string& var = v->name();
    Attr(v, "dtype").set_type(dtype);
    tensorflow::TensorShapeProto* sp = Attr(v, "shape").mutable_shape();
    sp->clear_dim();
    for (int64_t d : shape) sp->add_dim()->set_size(d);
    Attr(v, "container").set_s("");
    Attr(v, "shared_name").set_s("");
    const std::string& cname = ConstNode(absl::StrCat(var, "/initial_value"), dtype, init)->name();
    NodeDef* a = Add(absl::StrCat(var, "/Assign"), "Assign", {var, cname});
    Attr(a, "T").set_type(dtype);
    Attr(a, "validate_shape").set_b(true);
    Attr(a, "use_locking").set_b(true);
    NodeDef* r = Add(absl::StrCat(var, "/read"), "Identity", {var});
    Attr(r, "T").set_type(dtype);
    return {var, r->name()};
  }
  std::pair<std::string, std::string> Variable(absl::string_view name, DataType dtype,
                                               const std::vector<int64_t>& shape,
                                               const tensorflow::TensorProto& init) {
    tensorflow::TensorProto* t;
    auto r = Variable(name, dtype, shape, &t);
    *t = init;
    return r;
  }
  std::pair<std::string, std::string> FloatVariable(absl::string_view name, const std::vector<float>& init,
                                                    bool vector) {
    std::vector<int64_t> shape;
    if (vector) shape = {static_cast<int64_t>(init.size())};
    tensorflow::TensorProto* t;
    auto r = Variable(name, tensorflow::DT_FLOAT, shape, &t);
    if (init.size() == 1) {
      t->set_dtype(tensorflow::DT_FLOAT);
      auto* ts = t->mutable_tensor_shape();
      if (vector) ts->add_dim()->set_size(1);
      t->add_float_val(init[0]);
    } else {
      HostTensor<float> h;
      h.shape = shape;
      h.values = init;
      tensorflow::TensorProto encoded = EncodeTensor(h);
      t->Swap(&encoded);
    }
    return r;
  }

  // ---- quantization building blocks ----
  // A free scope "<base>", "<base>_1", ... for a quantization site.
  std::string FreeScope(const std::string& base) {
    std::string s = base;
    int k = 0;
    while (used_scopes_.contains(s) || Taken(s + "/min") || Taken(s + "/FakeQuantWithMinMaxVars") ||
           Taken(s + "/FakeQuantWithMinMaxVarsPerChannel")) {
      s = absl::StrCat(base, "_", ++k);
    }
    used_scopes_.insert(s);
    return s;
  }

  RangeVars MakeRangeVars(const std::string& scope, const std::vector<float>& init_min,
                          const std::vector<float>& init_max, int channels) {
    RangeVars r;
    r.scope = scope;
    r.channels = channels;
    std::tie(r.min_var, r.min_read) = FloatVariable(scope + "/min", init_min, channels > 0);
    std::tie(r.max_var, r.max_read) = FloatVariable(scope + "/max", init_max, channels > 0);
    return r;
  }

  // Batch range of x (per channel over the last axis when channels > 0), 0 included, made
  // symmetric when asked.
  std::pair<std::string, std::string> BatchRange(const std::string& scope, const std::string& x,
                                                 int channels, bool symmetric, int bits, bool narrow) {
    std::vector<int32_t> shape = channels > 0 ? std::vector<int32_t>{-1, channels} : std::vector<int32_t>{-1};
    std::string flat = Reshape(scope + "/flatten", x, shape);
    std::string bmin = Reduce("Min", scope + "/BatchMin", flat);
    std::string bmax = Reduce("Max", scope + "/BatchMax", flat);
    std::string zero = ConstScalarF(scope + "/zero", 0.f);
    std::string rmin = Binary("Minimum", scope + "/Minimum", bmin, zero);
    std::string rmax = Binary("Maximum", scope + "/Maximum", bmax, zero);
    if (!symmetric) return {rmin, rmax};
    // ratio = -1 when narrow, else -(2^b - 2) / 2^b; min = min(bmin, bmax / ratio),
    // max = max(bmax, bmin * ratio).
    const double p = std::ldexp(1.0, bits);
    const float ratio = narrow ? -1.f : static_cast<float>(-(p - 2.0) / p);
    std::string r = ConstScalarF(scope + "/min_max_ratio", ratio);
    std::string div = Binary("RealDiv", scope + "/truediv", rmax, r);
    std::string mul = Binary("Mul", scope + "/mul", rmin, r);
    return {Binary("Minimum", scope + "/Minimum_1", rmin, div),
            Binary("Maximum", scope + "/Maximum_1", rmax, mul)};
  }

  void LastValueUpdate(const RangeVars& v, const std::string& x, bool symmetric, int bits, bool narrow,
                       LayerReport* rep) {
    auto [rmin, rmax] = BatchRange(v.scope, x, v.channels, symmetric, bits, narrow);
    NodeDef* a = Add(v.scope + "/AssignMinLast", "Assign", {v.min_var, rmin});
    SetAttr(a, "T", tensorflow::DT_FLOAT);
    SetAttr(a, "validate_shape", true);
    SetAttr(a, "use_locking", true);
    update_ops_.push_back(a->name());
    NodeDef* b = Add(v.scope + "/AssignMaxLast", "Assign", {v.max_var, rmax});
    SetAttr(b, "T", tensorflow::DT_FLOAT);
    SetAttr(b, "validate_shape", true);
    SetAttr(b, "use_locking", true);
    update_ops_.push_back(b->name());
    rep->inserted.push_back(update_ops_[update_ops_.size() - 2]);
    rep->inserted.push_back(update_ops_.back());
  }

  // TF1's zero-debiased moving average (moving_averages.assign_moving_average,
  // zero_debias=True): biased -= (biased - value) * (1 - decay); step += 1;
  // var -= var - biased / (1 - decay^step).
  std::string EmaAssign(const std::string& scope, const std::string& name, const std::string& var,
                        const std::string& var_read, const std::string& value) {
    const std::string s = scope + "/" + name;
    auto [biased, biased_read] = FloatVariable(var + "/biased", {0.f}, false);
    HostTensor<float> zero;
    zero.values = {0.f};
    auto [step, step_read] = Variable(var + "/local_step", tensorflow::DT_FLOAT, {}, EncodeTensor(zero));
    (void)step_read;
    std::string one_minus_decay = ConstScalarF(s + "/decay", 1.f - opt_.ema_decay);
    std::string diff = Binary("Sub", s + "/sub", biased_read, value);
    std::string delta = Binary("Mul", s + "/mul", diff, one_minus_decay);
    NodeDef* ub = Add(s + "/AssignSub", "AssignSub", {biased, delta});
    SetAttr(ub, "T", tensorflow::DT_FLOAT);
    SetAttr(ub, "use_locking", false);
    const std::string update_biased = ub->name();
    std::string one = ConstScalarF(s + "/one", 1.f);
    NodeDef* us = Add(s + "/AssignAdd", "AssignAdd", {step, one});
    SetAttr(us, "T", tensorflow::DT_FLOAT);
    SetAttr(us, "use_locking", false);
    const std::string update_step = us->name();
    std::string decay = ConstScalarF(s + "/Pow/x", opt_.ema_decay);
    std::string pw = Binary("Pow", s + "/Pow", decay, update_step);
    std::string factor = Binary("Sub", s + "/sub_1", one, pw);
    std::string unbiased = Binary("RealDiv", s + "/truediv", update_biased, factor);
    std::string vdelta = Binary("Sub", s + "/sub_2", var_read, unbiased);
    NodeDef* a = Add(s, "AssignSub", {var, vdelta});
    SetAttr(a, "T", tensorflow::DT_FLOAT);
    SetAttr(a, "use_locking", false);
    return a->name();
  }

  void EmaUpdate(const RangeVars& v, const std::string& x, LayerReport* rep) {
    auto [rmin, rmax] = BatchRange(v.scope, x, 0, /*symmetric=*/false, opt_.activation_bits, false);
    std::string amin = EmaAssign(v.scope, "AssignMinEma", v.min_var, v.min_read, rmin);
    std::string amax = EmaAssign(v.scope, "AssignMaxEma", v.max_var, v.max_read, rmax);
    update_ops_.push_back(amin);
    update_ops_.push_back(amax);
    rep->inserted.push_back(amin);
    rep->inserted.push_back(amax);
  }

  std::string FakeQuant(const RangeVars& v, const std::string& x, int bits, bool narrow,
                        LayerReport* rep, absl::string_view scope_override = "") {
    const std::string scope = scope_override.empty() ? v.scope : std::string(scope_override);
    const char* op = v.channels > 0 ? "FakeQuantWithMinMaxVarsPerChannel" : "FakeQuantWithMinMaxVars";
    NodeDef* n = Add(absl::StrCat(scope, "/", op), op, {x, v.min_read, v.max_read});
    SetAttr(n, "num_bits", static_cast<int64_t>(bits));
    SetAttr(n, "narrow_range", narrow);
    ++fake_quants_;
    rep->inserted.push_back(n->name());
    return n->name();
  }

  const std::string& GlobalStepRead() {
    if (!global_step_read_.empty()) return global_step_read_;
    const std::string& gs = opt_.global_step;
    if (auto idx = view_.index(gs)) {
      // Reuse an existing step counter (e.g. from batch-norm folding) and its read.
      const std::string read = gs + "/read";
      if (auto r = view_.index(read); r && view_.node(*r).op() == "Identity") {
        global_step_read_ = read;
      } else {
        NodeDef* n = Add(read, "Identity", {gs});
        SetAttr(n, "T", tensorflow::DT_INT64);
        global_step_read_ = n->name();
      }
      return global_step_read_;
    }
    if (added_.contains(gs)) {
      global_step_read_ = gs + "/read";
      return global_step_read_;
    }
    HostTensor<int64_t> zero;
    zero.values = {0};
    auto [var, read] = Variable(gs, tensorflow::DT_INT64, {}, EncodeTensor(zero));
    global_step_read_ = read;
    return global_step_read_;
  }

  // SelectV2(GreaterEqual(global_step, quant_delay), fq, x) in train mode with a delay.
  std::string Delay(const std::string& scope, const std::string& fq, const std::string& x,
                    LayerReport* rep) {
    if (!train_ || opt_.quant_delay <= 0) return fq;
    const std::string step = GlobalStepRead();
    std::string delay = ConstI64(scope + "/activate_quant/y", opt_.quant_delay);
    std::string ge = Binary("GreaterEqual", scope + "/activate_quant", step, delay, tensorflow::DT_INT64);
    NodeDef* s = Add(scope + "/delayed_quant", "SelectV2", {ge, fq, x});
    SetAttr(s, "T", tensorflow::DT_FLOAT);
    rep->inserted.push_back(s->name());
    return s->name();
  }

  // Activation quantization of tensor x under `scope` with its own EMA range.
  std::string QuantizeActivation(const std::string& base_scope, const std::string& x, LayerReport* rep) {
    const std::string scope = FreeScope(base_scope);
    RangeVars v = MakeRangeVars(scope, {0.f}, {6.f}, 0);
    rep->inserted.push_back(v.min_var);
    rep->inserted.push_back(v.max_var);
    if (train_) EmaUpdate(v, x, rep);
    std::string fq = FakeQuant(v, x, opt_.activation_bits, false, rep);
    return Delay(scope, fq, x, rep);
  }

  absl::Status QuantizeWeights(const std::string& layer_scope, const LayerMatch& l, LayerReport* rep);
  RangeVars& ConcatVars(int concat, LayerReport* rep);

  // ---- state ----
  const std::vector<int>* topological_order_;
  const GraphView& view_;
  const QuantizeOptions& opt_;
  tensorflow::GraphDef* out_;
  SerializedGraph* stream_;
  const bool train_;
  // Names of emitted nodes: views into the NodeDefs' names, or (streaming) into names_.
  absl::flat_hash_set<absl::string_view> added_;
  NameStore names_;
  struct ScratchPool {
    std::vector<std::unique_ptr<NodeDef>> nodes;
    size_t used = 0;
  };
  absl::flat_hash_map<std::string, ScratchPool> pools_;  // streaming: by op
  std::vector<NodeDef*> window_;                         // streaming: emitted, not yet serialized
  absl::flat_hash_map<int, std::vector<std::string>> edited_;  // streaming: new input lists
  absl::flat_hash_set<std::string> used_scopes_;
  std::vector<std::string> update_ops_;
  std::string global_step_read_;
  int nodes_added_ = 0;
  int fake_quants_ = 0;
  int inputs_edited_ = 0;
  // Layer-output rewiring: node name (port 0) -> replacement tensor.
  absl::flat_hash_map<std::string, std::string> rewire_;
  // Weights tensor -> its quantized tensor (shared weights are quantized once).
  absl::flat_hash_map<std::string, std::pair<std::string, std::string>> weight_quant_;
  // Concat node index -> tied range variables.
  absl::flat_hash_map<int, RangeVars> concat_vars_;
};

RangeVars& Rewriter::ConcatVars(int concat, LayerReport* rep) {
  auto it = concat_vars_.find(concat);
  if (it != concat_vars_.end()) return it->second;
  const std::string& name = view_.node(concat).name();
  const std::string scope = FreeScope(name + "/act_quant");
  RangeVars v = MakeRangeVars(scope, {0.f}, {6.f}, 0);
  rep->inserted.push_back(v.min_var);
  rep->inserted.push_back(v.max_var);
  // The tied range tracks the concat's output (the union of its inputs).
  if (train_) EmaUpdate(v, name, rep);
  return concat_vars_.emplace(concat, std::move(v)).first->second;
}

absl::Status Rewriter::QuantizeWeights(const std::string& layer_scope, const LayerMatch& l,
                                       LayerReport* rep) {
  const NodeDef& weighted = view_.node(l.weighted);
  const std::string wt = TensorName(view_, l.weights.node, l.weights.port);
  const int slot = weighted.op() == "Conv2DBackpropInput" ? 1 : 1;
  if (auto it = weight_quant_.find(wt); it != weight_quant_.end()) {
    SetOriginalInput(l.weighted, slot, it->second.first);
    ++inputs_edited_;
    rep->weights_quantized = true;
    rep->notes.push_back(absl::StrCat("weights '", wt, "' are shared: reusing the quantization of layer '",
                                      it->second.second, "'"));
    return absl::OkStatus();
  }

  // Per-channel: FakeQuantWithMinMaxVarsPerChannel works on the last axis.
  const std::optional<std::vector<int64_t>> shape = WeightShape(view_, l.weights.node);
  int channels = 0;
  bool depthwise_reshape = false;
  if (opt_.per_channel) {
    const std::string& op = weighted.op();
    bool transpose_b = false;
    if (op == "MatMul") {
      auto tb = GetAttrOr<bool>(weighted, "transpose_b", false);
      transpose_b = tb.ok() && *tb;
    }
    if (!shape.has_value() || shape->empty()) {
      rep->notes.push_back("per-channel: weight shape unknown, quantized per tensor");
    } else if (op == "Conv2DBackpropInput") {
      rep->notes.push_back(
          "per-channel: Conv2DBackpropInput's output channels are filter axis 2, not the last axis; "
          "quantized per tensor");
    } else if (op == "MatMul") {
      // TFLite's FULLY_CONNECTED takes per-tensor weights (quantization spec), so per-channel
      // ranges here could not be converted exactly.
      (void)transpose_b;
      rep->notes.push_back("per-channel: TFLite FULLY_CONNECTED quantizes weights per tensor; "
                           "MatMul weights quantized per tensor");
    } else if (op == "DepthwiseConv2dNative") {
      if (shape->size() != 4) {
        rep->notes.push_back("per-channel: depthwise filter is not 4-D; quantized per tensor");
      } else {
        channels = static_cast<int>((*shape)[2] * (*shape)[3]);
        depthwise_reshape = true;
      }
    } else {
      channels = static_cast<int>(shape->back());
    }
  }

  const std::string scope = FreeScope(layer_scope + "/weights_quant");
  std::string q_in = wt;
  if (depthwise_reshape) {
    q_in = Reshape(scope + "/Reshape", wt,
                   {static_cast<int32_t>((*shape)[0]), static_cast<int32_t>((*shape)[1]), 1, channels});
  }
  // Initial range: train mode [-6, 6] (the last-value update overwrites it on the first
  // step); eval mode the weights' actual range when they are constants.
  const int n = std::max(channels, 1);
  std::vector<float> init_min(n, -6.f), init_max(n, 6.f);
  if (!train_) {
    auto values = WeightValues(view_, l.weights.node);
    if (values.has_value() && !values->values.empty()) {
      std::fill(init_min.begin(), init_min.end(), 0.f);
      std::fill(init_max.begin(), init_max.end(), 0.f);
      const size_t total = values->values.size();
      for (size_t i = 0; i < total; ++i) {
        const int c = channels > 0 ? static_cast<int>(i % channels) : 0;
        init_min[c] = std::min(init_min[c], values->values[i]);
        init_max[c] = std::max(init_max[c], values->values[i]);
      }
      if (opt_.symmetric) {
        const double p = std::ldexp(1.0, opt_.weight_bits);
        const float ratio = opt_.narrow_range_weights ? -1.f : static_cast<float>(-(p - 2.0) / p);
        for (int c = 0; c < n; ++c) {
          const float mn = std::min(init_min[c], init_max[c] / ratio);
          const float mx = std::max(init_max[c], init_min[c] * ratio);
          init_min[c] = mn;
          init_max[c] = mx;
        }
      }
    } else {
      rep->notes.push_back("eval: weights are not constants; range initialised to [-6, 6]");
    }
  }
  RangeVars v = MakeRangeVars(scope, init_min, init_max, channels);
  rep->inserted.push_back(v.min_var);
  rep->inserted.push_back(v.max_var);
  if (train_) LastValueUpdate(v, q_in, opt_.symmetric, opt_.weight_bits, opt_.narrow_range_weights, rep);
  std::string fq = FakeQuant(v, q_in, opt_.weight_bits, opt_.narrow_range_weights, rep);
  std::string outq = Delay(scope, fq, q_in, rep);
  if (depthwise_reshape) {
    std::vector<int32_t> back;
    for (int64_t d : *shape) back.push_back(static_cast<int32_t>(d));
    outq = Reshape(scope + "/Reshape_1", outq, back);
  }
  SetOriginalInput(l.weighted, slot, outq);
  ++inputs_edited_;
  weight_quant_.emplace(wt, std::make_pair(outq, layer_scope));
  rep->weights_quantized = true;
  return absl::OkStatus();
}

bool HasFakeQuantConsumer(const GraphView& view, int n) {
  for (const Consumer& c : view.fanout(n)) {
    if (!c.is_control && c.port == 0 && patterns::ops::kFakeQuant.Contains(view.node(c.node).op()))
      return true;
  }
  return false;
}

absl::StatusOr<QuantizeResult> Rewriter::Run() {
  QuantizeResult result;
  const int original = view_.num_nodes();

  patterns::MatchOptions mopt;
  mopt.record_failures = false;
  mopt.topological_order = topological_order_;
  for (const std::string& o : opt_.outputs) {
    auto idx = view_.index(o);
    if (!idx) return absl::InvalidArgumentError(absl::StrCat("--output '", o, "' is not a node of the graph"));
    mopt.protected_nodes.insert(*idx);
  }
  TFQAT_ASSIGN_OR_RETURN(patterns::MatchSet ms, patterns::FindLayers(view_, mopt));
  {
    // Room for what the layers will emit (about 80 nodes per layer in train mode, 12 in
    // eval), so that neither the node array nor the name set regrows (rehashing every name).
    const size_t per_layer = train_ ? 84 : 12;
    const size_t expected = ms.matches.size() * per_layer;
    if (stream_ == nullptr) {
      out_->mutable_node()->Reserve(static_cast<int>(std::min<size_t>(original + expected, INT32_MAX / 2)));
    }
    added_.reserve(expected);
  }
  std::vector<LayerMatch> layers;
  for (auto it = ms.matches.rbegin(); it != ms.matches.rend(); ++it) {
    layers.push_back(patterns::DecodeLayer(*it));
  }

  // Concat ties: a layer output consumed only by one ConcatV2 uses that concat's range.
  absl::flat_hash_map<int, int> tied_to_concat;  // layer root -> concat node
  absl::flat_hash_set<int> layer_roots;
  for (const LayerMatch& l : layers) layer_roots.insert(l.output);
  auto concat_in_scope = [&](int c) {
    const std::string& name = view_.node(c).name();
    return (opt_.scope.empty() || absl::StartsWith(name, opt_.scope)) && !Excluded(name, opt_.exclude);
  };
  std::vector<int> concats;
  for (int i = 0; i < original; ++i) {
    if (!patterns::ops::kConcat.Contains(view_.node(i).op()) || !concat_in_scope(i)) continue;
    auto t = GetAttrOr<DataType>(view_.node(i), "T", tensorflow::DT_INVALID);
    if (!t.ok() || *t != tensorflow::DT_FLOAT) continue;
    concats.push_back(i);
  }
  for (int c : concats) {
    const auto& fanin = view_.fanin(c);
    const int n = static_cast<int>(view_.data_fanin(c).size()) - 1;  // last data input is the axis
    for (int k = 0; k < n; ++k) {
      const int p = fanin[k].node;
      if (fanin[k].port != 0 || !layer_roots.contains(p) || tied_to_concat.contains(p)) continue;
      bool only_this = true;
      for (const Consumer& u : view_.fanout(p)) {
        if (!u.is_control && u.node != c) only_this = false;
      }
      if (only_this) tied_to_concat[p] = c;
    }
  }

  int already = 0;
  absl::flat_hash_set<int> tied_done;
  for (const LayerMatch& l : layers) {
    Flush();  // a safe point: nothing points into the window here
    LayerReport rep;
    const NodeDef& weighted = view_.node(l.weighted);
    rep.pattern = patterns::kLayerPatternName;
    rep.kind = patterns::LayerKind(view_, l);
    rep.weighted_op = weighted.name();
    rep.output = view_.node(l.output).name();
    const std::string layer_scope = LayerScope(weighted.name());
    rep.name = layer_scope;
    if (!opt_.scope.empty() && !absl::StartsWith(weighted.name(), opt_.scope)) {
      rep.skipped.push_back(absl::StrCat("layer: outside --scope '", opt_.scope, "'"));
      result.layers.push_back(std::move(rep));
      continue;
    }
    if (Excluded(weighted.name(), opt_.exclude) || Excluded(rep.output, opt_.exclude)) {
      rep.skipped.push_back("layer: excluded by --exclude");
      result.layers.push_back(std::move(rep));
      continue;
    }
    if (auto t = GetAttrOr<DataType>(weighted, "T", tensorflow::DT_FLOAT); !t.ok() || *t != tensorflow::DT_FLOAT) {
      rep.skipped.push_back(absl::StrCat("layer: dtype ", t.ok() ? DataTypeName(*t) : "unknown",
                                         ": FakeQuant ops take float32 only"));
      result.layers.push_back(std::move(rep));
      continue;
    }
    {
      // Train-mode batch-norm folding keeps the un-folded layer only to compute the batch
      // statistics (its consumers all sit under */BatchNorm_Fold/): never quantize that copy.
      bool only_stats = false;
      for (const Consumer& c : view_.fanout(l.output)) {
        if (c.is_control) continue;
        only_stats = absl::StrContains(view_.node(c.node).name(), "/BatchNorm_Fold/");
        if (!only_stats) break;
      }
      if (only_stats) {
        rep.skipped.push_back("layer: only feeds batch-norm statistics (the un-folded copy kept by "
                              "train-mode folding)");
        result.layers.push_back(std::move(rep));
        continue;
      }
    }
    if (l.bias >= 0) rep.skipped.push_back(absl::StrCat("bias '", view_.node(l.bias).name(), "': never quantized"));
    // Weights.
    if (l.weights_quant >= 0) {
      rep.skipped.push_back(absl::StrCat("weights: already quantized by '", view_.node(l.weights_quant).name(), "'"));
      ++already;
    } else {
      TFQAT_RETURN_IF_ERROR(QuantizeWeights(layer_scope, l, &rep));
    }
    // Output.
    if (HasFakeQuantConsumer(view_, l.output)) {
      rep.skipped.push_back("output: already quantized");
      ++already;
    } else {
      const std::string x = view_.node(l.output).name();
      std::string q;
      if (auto t = tied_to_concat.find(l.output); t != tied_to_concat.end()) {
        RangeVars& v = ConcatVars(t->second, &rep);
        const std::string scope = FreeScope(layer_scope + "/act_quant");
        std::string fq = FakeQuant(v, x, opt_.activation_bits, false, &rep, scope);
        q = Delay(scope, fq, x, &rep);
        tied_done.insert(l.output);
        rep.notes.push_back(absl::StrCat("output range tied to concat '", view_.node(t->second).name(), "'"));
      } else {
        q = QuantizeActivation(layer_scope + "/act_quant", x, &rep);
      }
      rewire_[x] = q;
      rep.output_quantized = true;
    }
    result.layers.push_back(std::move(rep));
  }

  // Weighted ops that no layer covers: say why.
  for (int i = 0; i < original; ++i) {
    if (!patterns::ops::kWeighted.Contains(view_.node(i).op()) || ms.owner[i] >= 0) continue;
    LayerReport rep;
    rep.name = LayerScope(view_.node(i).name());
    rep.weighted_op = view_.node(i).name();
    rep.kind = view_.node(i).op();
    std::string why;
    patterns::MatchAt(view_, patterns::LayerPattern(), i, mopt, &why);
    rep.skipped.push_back(absl::StrCat("layer: not matched: ", why));
    result.layers.push_back(std::move(rep));
  }

  // Model inputs.
  if (opt_.quantize_inputs) {
    for (int i : view_.Placeholders()) {
      Flush();  // a safe point: nothing points into the window here
      const NodeDef& p = view_.node(i);
      auto dt = GetAttrOr<DataType>(p, "dtype", tensorflow::DT_INVALID);
      LayerReport rep;
      rep.name = p.name();
      rep.pattern = "input";
      rep.kind = "Placeholder";
      rep.output = p.name();
      if (!dt.ok() || *dt != tensorflow::DT_FLOAT) {
        rep.skipped.push_back("input: not float32");
      } else if (Excluded(p.name(), opt_.exclude)) {
        rep.skipped.push_back("input: excluded by --exclude");
      } else if (HasFakeQuantConsumer(view_, i)) {
        rep.skipped.push_back("input: already quantized");
        ++already;
      } else {
        rewire_[p.name()] = QuantizeActivation(p.name() + "/act_quant", p.name(), &rep);
        rep.output_quantized = true;
      }
      result.layers.push_back(std::move(rep));
    }
  }

  // ConcatV2: every data input quantized with the concat's tied range.
  for (int c : concats) {
    Flush();  // a safe point: nothing points into the window here
    LayerReport rep;
    const std::string& cname = view_.node(c).name();
    rep.name = cname;
    rep.pattern = "concat";
    rep.kind = "ConcatV2";
    rep.output = cname;
    const auto& fanin = view_.fanin(c);
    const int n = static_cast<int>(view_.data_fanin(c).size()) - 1;
    bool all_fq = n > 0;
    for (int k = 0; k < n; ++k) {
      all_fq &= patterns::ops::kFakeQuant.Contains(view_.node(fanin[k].node).op()) ||
                patterns::ops::kSelectV2.Contains(view_.node(fanin[k].node).op());
    }
    if (all_fq) {
      rep.skipped.push_back("concat: inputs already quantized");
      ++already;
      result.layers.push_back(std::move(rep));
      continue;
    }
    for (int k = 0; k < n; ++k) {
      const int p = fanin[k].node;
      if (fanin[k].port == 0 && tied_done.contains(p) && tied_to_concat[p] == c) {
        rep.notes.push_back(absl::StrCat("input ", k, " '", view_.node(p).name(), "': layer output quantized with the tied range"));
        continue;
      }
      const std::string orig = TensorName(view_, p, fanin[k].port);
      std::string in = orig;
      if (fanin[k].port == 0) {
        if (auto r = rewire_.find(orig); r != rewire_.end()) in = r->second;
      }
      RangeVars& v = ConcatVars(c, &rep);
      const std::string scope = FreeScope(absl::StrCat(cname, "/act_quant/input_", k));
      std::string fq = FakeQuant(v, in, opt_.activation_bits, false, &rep, scope);
      std::string q = Delay(scope, fq, in, &rep);
      SetOriginalInput(c, k, q);
      ++inputs_edited_;
    }
    rep.output_quantized = true;
    result.layers.push_back(std::move(rep));
  }

  // Rewire consumers of quantized layer outputs (original nodes only; streaming: when they
  // are written).
  if (!rewire_.empty() && stream_ == nullptr) {
    for (int i = 0; i < original; ++i) RewireInputs(out_->mutable_node(i));
  }

  const bool changed = nodes_added_ > 0 || inputs_edited_ > 0;
  if (changed && train_) {
    GlobalStepRead();  // the trainer's step counter exists in every train graph
    if (!update_ops_.empty()) {
      if (auto idx = view_.index(opt_.update_ops)) {
        if (view_.node(*idx).op() != "NoOp") {
          return absl::InvalidArgumentError(absl::StrCat("node '", opt_.update_ops, "' (", view_.node(*idx).op(),
                                                         "): the update group must be a NoOp"));
        }
        for (const std::string& u : update_ops_) AddOriginalInput(*idx, "^" + u);
      } else {
        NodeDef* group = Add(opt_.update_ops, "NoOp", {});
        for (const std::string& u : update_ops_) group->add_input("^" + u);
      }
    }
  }
  if (stream_ != nullptr) {
    Flush(/*force=*/true);
    WriteOriginals(original);
  }
  result.changed = changed;
  result.fake_quant_inserted = fake_quants_;
  result.nodes_added = nodes_added_;
  if (!changed) {
    result.notes.push_back(already > 0 ? "graph is already rewritten: nothing changed"
                                       : "nothing to quantize: nothing changed");
  }
  return result;
}

}  // namespace

static absl::Status CheckForTrainingOps(const tensorflow::GraphDef& graph) {
  for (const NodeDef& n : graph.node()) {
    if (IsTrainingOp(n)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node '", n.name(), "' (", n.op(),
          "): the graph already contains training ops (gradients / optimizer); run `tfqat rewrite` "
          "on the forward graph, before the optimizer is added"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<QuantizeResult> InsertFakeQuantWithView(const GraphView& view, tensorflow::GraphDef* graph,
                                                       const QuantizeOptions& options,
                                                       const std::vector<int>* topological_order) {
  TFQAT_RETURN_IF_ERROR(CheckOptions(options));
  TFQAT_RETURN_IF_ERROR(CheckForTrainingOps(*graph));
  // The view indexes *graph, which the rewriter edits in place: it only appends nodes and
  // rewrites input strings of existing nodes, and reads the view's parsed tables, never the
  // edited strings.
  Rewriter rewriter(view, options, graph, nullptr, topological_order);
  return rewriter.Run();
}

absl::StatusOr<QuantizeResult> InsertFakeQuantSerialized(const GraphView& view, const QuantizeOptions& options,
                                                         SerializedGraph* out,
                                                         const std::vector<int>* topological_order) {
  TFQAT_RETURN_IF_ERROR(CheckOptions(options));
  TFQAT_RETURN_IF_ERROR(CheckForTrainingOps(view.graph()));
  Rewriter rewriter(view, options, nullptr, out, topological_order);
  return rewriter.Run();
}

absl::StatusOr<QuantizeResult> InsertFakeQuantInPlace(tensorflow::GraphDef* graph,
                                                      const QuantizeOptions& options) {
  TFQAT_RETURN_IF_ERROR(CheckOptions(options));
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(*graph));
  return InsertFakeQuantWithView(view, graph, options);
}

absl::StatusOr<QuantizeResult> InsertFakeQuant(const tensorflow::GraphDef& graph,
                                               const QuantizeOptions& options) {
  tensorflow::GraphDef out = graph;
  TFQAT_ASSIGN_OR_RETURN(QuantizeResult result, InsertFakeQuantInPlace(&out, options));
  result.graph = std::move(out);
  return result;
}

}  // namespace tfqat

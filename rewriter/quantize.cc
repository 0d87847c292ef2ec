#include "rewriter/quantize.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "patterns/layer_patterns.h"
#include "rewriter/node_encoder.h"
#include "rewriter/site_template.h"

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

absl::Status TrainingOpError(const NodeDef& n) {
  return absl::FailedPreconditionError(
      absl::StrCat("node '", n.name(), "' (", n.op(),
                   "): the graph already contains training ops (gradients / optimizer); run `tfqat rewrite` "
                   "on the forward graph, before the optimizer is added"));
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
  absl::string_view scope;
  absl::string_view min_var, min_read, max_var, max_read;
  int channels = 0;  // 0 = per tensor
};

// '/'-prefixes of a node name: "a/b/c" -> "a", "a/b".
template <typename Fn>
void ForEachScopePrefix(absl::string_view name, Fn fn) {
  for (size_t slash = name.find('/'); slash != absl::string_view::npos; slash = name.find('/', slash + 1)) {
    if (slash > 0) fn(name.substr(0, slash));
  }
}

// A node name joined from up to three pieces without a heap allocation (up to 240 bytes),
// for names passed straight to the emitting functions (never kept: the temporary dies at
// the end of the call's full expression).
class Cat {
 public:
  Cat(absl::string_view a, absl::string_view b, absl::string_view c = {}) {
    const size_t n = a.size() + b.size() + c.size();
    char* p = buf_;
    if (n > sizeof(buf_)) {
      heap_.resize(n);
      p = heap_.data();
    }
    std::memcpy(p, a.data(), a.size());
    std::memcpy(p + a.size(), b.data(), b.size());
    if (!c.empty()) std::memcpy(p + a.size() + b.size(), c.data(), c.size());
    view_ = absl::string_view(p, n);
  }
  Cat(const Cat&) = delete;
  Cat& operator=(const Cat&) = delete;
  operator absl::string_view() const { return view_; }

 private:
  char buf_[240];
  std::string heap_;
  absl::string_view view_;
};

class Rewriter {
 public:
  // Emitted nodes are appended to *out; with `stream` set (out is then ignored) they are
  // encoded straight into *stream as they are made (never as NodeDefs), and the input's nodes
  // follow them.
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
  // ---- names ----
  // Every quantization site emits its nodes under a scope from FreeScope. A scope proven
  // fresh when it is opened (no input node and no emitted node lies under it, or is named
  // it) is checked once; the names of the nodes emitted under it while it is open can then
  // only collide with each other, and are checked against that short list alone (no lookup
  // in the input's index or in a set of every emitted name). Other names (outside the open
  // scope, or the scope was not fresh) are checked exactly as before against the input's
  // index, the set of such names, and the closed fresh scopes' nodes (scanned, by range).
  struct FreshScope {
    size_t begin = 0;  // emission positions (bytes streamed, or node index) of its nodes
    size_t end = 0;
  };
  static constexpr size_t kOpen = ~size_t{0};
  size_t EmitPosition() const { return stream_ != nullptr ? stream_->size() : static_cast<size_t>(out_->node_size()); }
  // Whether any node emitted in [begin, end) has a name with fn(name).
  template <typename Fn>
  bool AnyEmittedName(const FreshScope& r, Fn fn) const {
    const size_t end = r.end == kOpen ? EmitPosition() : r.end;
    if (stream_ != nullptr) return stream_->AnyNodeName(r.begin, end, fn);
    for (size_t i = r.begin; i < end; ++i) {
      if (fn(absl::string_view(out_->node(static_cast<int>(i)).name()))) return true;
    }
    return false;
  }
  // Whether `name` was emitted (exact).
  bool Emitted(absl::string_view name) const {
    if (added_.contains(name)) return true;
    bool found = false;
    ForEachScopePrefix(name, [&](absl::string_view p) {
      if (found) return;
      auto f = fresh_.find(p);
      if (f != fresh_.end()) found = AnyEmittedName(f->second, [&](absl::string_view n) { return n == name; });
    });
    return found;
  }
  bool Taken(absl::string_view name) const { return view_.index(name).has_value() || Emitted(name); }
  static size_t Hash(absl::string_view s) { return absl::Hash<absl::string_view>{}(s); }
  // Fresh: nothing in the input or emitted so far is named s or lies under it. `dirs_` holds
  // (hashes of) every scope prefix of the input's names and of the emitted names outside
  // fresh scopes, the fresh scopes and their prefixes: a hash collision only makes a scope
  // look used (and checked name by name), never the reverse.
  bool Fresh(absl::string_view s) const {
    if (dirs_.contains(Hash(s)) || view_.index(s).has_value() || added_.contains(s)) return false;
    bool used = false;
    ForEachScopePrefix(s, [&](absl::string_view p) {
      if (used) return;
      auto f = fresh_.find(p);
      if (f == fresh_.end()) return;
      used = AnyEmittedName(f->second, [&](absl::string_view n) { return n == s || UnderScope(n, s); });
    });
    return !used;
  }
  void AddDirs(absl::string_view name) {
    ForEachScopePrefix(name, [&](absl::string_view p) { dirs_.insert(Hash(p)); });
  }
  void CloseScope() {
    if (open_.empty()) return;
    fresh_[open_].end = EmitPosition();
    open_ = absl::string_view();
  }
  void OpenScope(absl::string_view scope) {
    fresh_[scope] = FreshScope{EmitPosition(), kOpen};
    dirs_.insert(Hash(scope));
    AddDirs(scope);
    open_ = scope;
    open_names_.clear();
  }
  bool OpenTaken(absl::string_view name) const {
    // `name` and every open name lie under the open scope: only what follows "<scope>/" is
    // compared (where names of one scope differ).
    const size_t skip = open_.size() + 1;
    for (absl::string_view n : open_names_) {
      if (n.size() == name.size() && std::memcmp(n.data() + skip, name.data() + skip, n.size() - skip) == 0) {
        return true;
      }
    }
    return false;
  }

  // ---- node emission ----
  // Emits a node named `base` (or base_1, base_2, ... when taken) and returns its final name,
  // a view that stays valid while the output lives (the NodeDef's name, or its bytes in the
  // stream).
  absl::string_view Node(absl::string_view base, absl::string_view op, absl::Span<const absl::string_view> inputs,
                         absl::Span<const AttrEntry> attrs) {
    const bool in_open = !open_.empty() && UnderScope(base, open_);
    absl::string_view name = base;
    if (in_open ? OpenTaken(base) : Taken(base)) {
      for (int k = 1;; ++k) {
        name_buf_ = absl::StrCat(base, "_", k);
        if (!(in_open ? OpenTaken(name_buf_) : Taken(name_buf_))) break;
      }
      name = name_buf_;
    }
    const NodeSpec spec{name, op, inputs, attrs};
    absl::string_view stored;
    if (stream_ == nullptr) {
      NodeDef* n = out_->add_node();
      FillNodeDef(spec, n);
      stored = n->name();
    } else {
      const EncodedNodeRecord record(spec);
      const char* at = nullptr;
      record.Write(stream_->AppendRaw(record.size()), &at);
      stored = absl::string_view(at, name.size());
    }
    if (in_open) {
      open_names_.push_back(stored);
    } else {
      // Kept after the output's chunk may have gone to a file (SpillFullChunks): a copy.
      if (stream_ != nullptr) stored = names_.Intern(stored);
      added_.insert(stored);
      AddDirs(stored);
    }
    if (recorder_ != nullptr) recorder_->AddNode(spec, base, stored, in_open);
    ++nodes_added_;
    return stored;
  }
  // Edits of the input graph's nodes: in the GraphDef itself, or (streaming) recorded as the
  // node's new input list, applied when it is serialized.
  std::vector<absl::string_view>& EditedInputs(int i) {
    edited_node_[i] = true;
    auto [it, inserted] = edited_.try_emplace(i);
    if (inserted) it->second.assign(view_.node(i).input().begin(), view_.node(i).input().end());
    return it->second;
  }
  void SetOriginalInput(int i, int slot, absl::string_view value) {
    if (stream_ == nullptr) {
      out_->mutable_node(i)->set_input(slot, value.data(), value.size());
    } else {
      EditedInputs(i)[slot] = value;
    }
  }
  // `value` must stay valid while the rewriter lives (streaming keeps the view), as
  // SetOriginalInput's.
  void AddOriginalInput(int i, absl::string_view value) {
    if (stream_ == nullptr) {
      out_->mutable_node(i)->add_input(value.data(), value.size());
    } else {
      EditedInputs(i).push_back(value);
    }
  }
  // Streaming, at the end: the input's nodes with their edits and rewired inputs, then the
  // GraphDef's other fields.
  void WriteOriginals(int original) {
    std::vector<absl::string_view> inputs;
    for (int i = 0; i < original; ++i) {
      if ((i & 4095) == 0) stream_->SpillFullChunks();
      view_.PrefetchFor(i);
      const NodeDef& src = view_.node(i);
      if (!edited_node_[i]) {
        // Unchanged unless a data input (port 0) comes from a rewired node: found through
        // the view's parsed fan-in, without re-parsing or hashing the input strings.
        bool maybe = false;
        for (const Producer& p : view_.fanin(i)) maybe |= !p.is_control && p.port == 0 && rewired_node_[p.node];
        if (!maybe) {
          stream_->AppendNode(src);  // unchanged: no copy
          continue;
        }
      }
      auto e = edited_.find(i);
      bool rewired = false;
      if (e != edited_.end()) {
        for (absl::string_view in : e->second) rewired |= Rewired(in) != nullptr;
      } else {
        for (const std::string& in : src.input()) rewired |= Rewired(in) != nullptr;
      }
      if (!rewired && e == edited_.end()) {
        stream_->AppendNode(src);  // unchanged: no copy
        continue;
      }
      inputs.clear();
      auto add = [&](absl::string_view in) {
        if (const absl::string_view* r = Rewired(in)) {
          inputs.push_back(*r);
          ++inputs_edited_;
        } else {
          inputs.push_back(in);
        }
      };
      if (e != edited_.end()) {
        for (absl::string_view in : e->second) add(in);
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
  const absl::string_view* Rewired(absl::string_view in) const {
    if (rewire_.empty() || in.empty() || in[0] == '^') return nullptr;
    absl::string_view name = in;
    if (absl::EndsWith(name, ":0")) name.remove_suffix(2);
    else if (name.find(':') != absl::string_view::npos) return nullptr;
    auto r = rewire_.find(name);
    return r == rewire_.end() ? nullptr : &r->second;
  }
  void RewireInputs(NodeDef* node) {
    for (int j = 0; j < node->input_size(); ++j) {
      if (const absl::string_view* r = Rewired(node->input(j))) {
        node->set_input(j, r->data(), r->size());
        ++inputs_edited_;
      }
    }
  }

  // ---- node kinds ----
  absl::string_view ConstNode(absl::string_view name, const TensorValue& value) {
    return Node(name, "Const", {},
                {AttrEntry::Type("dtype", value.dtype), AttrEntry::Tensor("value", &value)});
  }
  static std::string Bytes(const void* data, size_t n) { return std::string(static_cast<const char*>(data), n); }
  // A float scalar with a present, empty shape (EncodeTensor of a scalar).
  absl::string_view ConstScalarF(absl::string_view name, float v) {
    TensorValue t;
    t.dtype = tensorflow::DT_FLOAT;
    t.has_shape = true;
    t.float_val = absl::MakeConstSpan(&v, 1);
    return ConstNode(name, t);
  }
  // EncodeTensor's forms: one value in int_val, more as tensor_content.
  absl::string_view ConstI32(absl::string_view name, const std::vector<int32_t>& values, bool vector) {
    TensorValue t;
    t.dtype = tensorflow::DT_INT32;
    t.has_shape = true;
    const int64_t n = static_cast<int64_t>(values.size());
    if (vector) t.dims = absl::MakeConstSpan(&n, 1);
    if (values.size() == 1) {
      t.int_val = values;
      return ConstNode(name, t);
    }
    const std::string content = Bytes(values.data(), values.size() * sizeof(int32_t));
    t.content = content;
    return ConstNode(name, t);
  }
  absl::string_view ConstI64(absl::string_view name, int64_t v) {
    TensorValue t;
    t.dtype = tensorflow::DT_INT64;
    t.has_shape = true;
    char content[sizeof v];
    std::memcpy(content, &v, sizeof v);
    t.content = absl::string_view(content, sizeof v);
    return ConstNode(name, t);
  }
  absl::string_view Binary(absl::string_view op, absl::string_view name, absl::string_view a, absl::string_view b,
                           DataType t = tensorflow::DT_FLOAT) {
    return Node(name, op, {a, b}, {AttrEntry::Type("T", t)});
  }
  absl::string_view Reshape(absl::string_view name, absl::string_view x, const std::vector<int32_t>& shape) {
    const absl::string_view s = ConstI32(Cat(name, "/shape"), shape, true);
    return Node(name, "Reshape", {x, s},
                {AttrEntry::Type("T", tensorflow::DT_FLOAT), AttrEntry::Type("Tshape", tensorflow::DT_INT32)});
  }
  absl::string_view Reduce(absl::string_view op, absl::string_view name, absl::string_view x) {
    TensorValue t;
    t.dtype = tensorflow::DT_INT32;
    t.has_shape = true;
    const int32_t zero = 0;
    t.int_val = absl::MakeConstSpan(&zero, 1);
    const absl::string_view axis = ConstNode(Cat(name, "/reduction_indices"), t);
    return Node(name, op, {x, axis},
                {AttrEntry::Type("T", tensorflow::DT_FLOAT), AttrEntry::Type("Tidx", tensorflow::DT_INT32),
                 AttrEntry::Bool("keep_dims", false)});
  }
  absl::string_view Assign(absl::string_view op, absl::string_view name, absl::string_view var,
                           absl::string_view value, DataType t, bool validate_shape_and_lock) {
    if (op == "Assign") {
      return Node(name, op, {var, value},
                  {AttrEntry::Type("T", t), AttrEntry::Bool("validate_shape", validate_shape_and_lock),
                   AttrEntry::Bool("use_locking", validate_shape_and_lock)});
    }
    return Node(name, op, {var, value}, {AttrEntry::Type("T", t), AttrEntry::Bool("use_locking", false)});
  }
  // VariableV2 + <var>/initial_value + <var>/Assign + <var>/read (the contract's TF1 form).
  std::pair<absl::string_view, absl::string_view> Variable(absl::string_view name, const std::vector<int64_t>& shape,
                                                           const TensorValue& init) {
    const absl::string_view var =
        Node(name, "VariableV2", {},
             {AttrEntry::Type("dtype", init.dtype), AttrEntry::Shape("shape", shape), AttrEntry::String("container", ""),
              AttrEntry::String("shared_name", "")});
    const absl::string_view cname = ConstNode(Cat(var, "/initial_value"), init);
    Assign("Assign", Cat(var, "/Assign"), var, cname, init.dtype, true);
    const absl::string_view read = Node(Cat(var, "/read"), "Identity", {var}, {AttrEntry::Type("T", init.dtype)});
    return {var, read};
  }
  // A float variable initialised to `init`: one value in float_val (shape [1] when a vector,
  // else scalar), more as tensor_content of shape [n].
  std::pair<absl::string_view, absl::string_view> FloatVariable(absl::string_view name, const std::vector<float>& init,
                                                                bool vector) {
    std::vector<int64_t> shape;
    if (vector) shape = {static_cast<int64_t>(init.size())};
    TensorValue t;
    t.dtype = tensorflow::DT_FLOAT;
    t.has_shape = true;
    t.dims = shape;
    if (init.size() == 1) {
      t.float_val = init;
      return Variable(name, shape, t);
    }
    const std::string content = Bytes(init.data(), init.size() * sizeof(float));
    t.content = content;
    return Variable(name, shape, t);
  }

  // ---- quantization building blocks ----
  // A free scope "<base>", "<base>_1", ... for a quantization site (opened for fast naming
  // when it is fresh).
  absl::string_view FreeScope(absl::string_view base) {
    CloseScope();
    std::string buf;  // "<base>_<k>" (the usual first candidate, base itself, is not copied)
    absl::string_view s = base;
    for (int k = 0;; buf = absl::StrCat(base, "_", ++k), s = buf) {
      if (Fresh(s)) {
        const absl::string_view scope = names_.Intern(s);
        OpenScope(scope);
        return scope;
      }
      if (!used_scopes_.contains(s) && !fresh_.contains(s) && !Taken(Cat(s, "/min")) &&
          !Taken(Cat(s, "/FakeQuantWithMinMaxVars")) &&
          !Taken(Cat(s, "/FakeQuantWithMinMaxVarsPerChannel"))) {
        break;
      }
    }
    const absl::string_view scope = names_.Intern(s);
    used_scopes_.insert(scope);
    dirs_.insert(Hash(scope));
    return scope;
  }

  RangeVars MakeRangeVars(absl::string_view scope, const std::vector<float>& init_min,
                          const std::vector<float>& init_max, int channels) {
    RangeVars r;
    r.scope = scope;
    r.channels = channels;
    std::tie(r.min_var, r.min_read) = FloatVariable(Cat(scope, "/min"), init_min, channels > 0);
    std::tie(r.max_var, r.max_read) = FloatVariable(Cat(scope, "/max"), init_max, channels > 0);
    return r;
  }

  // Batch range of x (per channel over the last axis when channels > 0), 0 included, made
  // symmetric when asked.
  std::pair<absl::string_view, absl::string_view> BatchRange(absl::string_view scope, absl::string_view x,
                                                             int channels, bool symmetric, int bits, bool narrow) {
    std::vector<int32_t> shape = channels > 0 ? std::vector<int32_t>{-1, channels} : std::vector<int32_t>{-1};
    const absl::string_view flat = Reshape(Cat(scope, "/flatten"), x, shape);
    const absl::string_view bmin = Reduce("Min", Cat(scope, "/BatchMin"), flat);
    const absl::string_view bmax = Reduce("Max", Cat(scope, "/BatchMax"), flat);
    const absl::string_view zero = ConstScalarF(Cat(scope, "/zero"), 0.f);
    const absl::string_view rmin = Binary("Minimum", Cat(scope, "/Minimum"), bmin, zero);
    const absl::string_view rmax = Binary("Maximum", Cat(scope, "/Maximum"), bmax, zero);
    if (!symmetric) return {rmin, rmax};
    // ratio = -1 when narrow, else -(2^b - 2) / 2^b; min = min(bmin, bmax / ratio),
    // max = max(bmax, bmin * ratio).
    const double p = std::ldexp(1.0, bits);
    const float ratio = narrow ? -1.f : static_cast<float>(-(p - 2.0) / p);
    const absl::string_view r = ConstScalarF(Cat(scope, "/min_max_ratio"), ratio);
    const absl::string_view div = Binary("RealDiv", Cat(scope, "/truediv"), rmax, r);
    const absl::string_view mul = Binary("Mul", Cat(scope, "/mul"), rmin, r);
    const absl::string_view min1 = Binary("Minimum", Cat(scope, "/Minimum_1"), rmin, div);
    return {min1, Binary("Maximum", Cat(scope, "/Maximum_1"), rmax, mul)};
  }

  void LastValueUpdate(const RangeVars& v, absl::string_view x, bool symmetric, int bits, bool narrow,
                       LayerReport* rep) {
    auto [rmin, rmax] = BatchRange(v.scope, x, v.channels, symmetric, bits, narrow);
    const absl::string_view amin =
        Assign("Assign", Cat(v.scope, "/AssignMinLast"), v.min_var, rmin, tensorflow::DT_FLOAT, true);
    const absl::string_view amax =
        Assign("Assign", Cat(v.scope, "/AssignMaxLast"), v.max_var, rmax, tensorflow::DT_FLOAT, true);
    AddUpdateOp(amin);
    AddUpdateOp(amax);
    Reported(rep, amin);
    Reported(rep, amax);
  }

  // TF1's zero-debiased moving average (moving_averages.assign_moving_average,
  // zero_debias=True): biased -= (biased - value) * (1 - decay); step += 1;
  // var -= var - biased / (1 - decay^step).
  absl::string_view EmaAssign(absl::string_view scope, absl::string_view name, absl::string_view var,
                              absl::string_view var_read, absl::string_view value) {
    const std::string s = absl::StrCat(scope, "/", name);
    auto [biased, biased_read] = FloatVariable(Cat(var, "/biased"), {0.f}, false);
    const float zero = 0.f;
    TensorValue step_init;
    step_init.dtype = tensorflow::DT_FLOAT;
    step_init.has_shape = true;
    step_init.float_val = absl::MakeConstSpan(&zero, 1);
    const absl::string_view step = Variable(Cat(var, "/local_step"), {}, step_init).first;
    const absl::string_view one_minus_decay = ConstScalarF(Cat(s, "/decay"), 1.f - opt_.ema_decay);
    const absl::string_view diff = Binary("Sub", Cat(s, "/sub"), biased_read, value);
    const absl::string_view delta = Binary("Mul", Cat(s, "/mul"), diff, one_minus_decay);
    const absl::string_view update_biased =
        Assign("AssignSub", Cat(s, "/AssignSub"), biased, delta, tensorflow::DT_FLOAT, false);
    const absl::string_view one = ConstScalarF(Cat(s, "/one"), 1.f);
    const absl::string_view update_step =
        Assign("AssignAdd", Cat(s, "/AssignAdd"), step, one, tensorflow::DT_FLOAT, false);
    const absl::string_view decay = ConstScalarF(Cat(s, "/Pow/x"), opt_.ema_decay);
    const absl::string_view pw = Binary("Pow", Cat(s, "/Pow"), decay, update_step);
    const absl::string_view factor = Binary("Sub", Cat(s, "/sub_1"), one, pw);
    const absl::string_view unbiased = Binary("RealDiv", Cat(s, "/truediv"), update_biased, factor);
    const absl::string_view vdelta = Binary("Sub", Cat(s, "/sub_2"), var_read, unbiased);
    return Assign("AssignSub", s, var, vdelta, tensorflow::DT_FLOAT, false);
  }

  void EmaUpdate(const RangeVars& v, absl::string_view x, LayerReport* rep) {
    auto [rmin, rmax] = BatchRange(v.scope, x, 0, /*symmetric=*/false, opt_.activation_bits, false);
    const absl::string_view amin = EmaAssign(v.scope, "AssignMinEma", v.min_var, v.min_read, rmin);
    const absl::string_view amax = EmaAssign(v.scope, "AssignMaxEma", v.max_var, v.max_read, rmax);
    AddUpdateOp(amin);
    AddUpdateOp(amax);
    Reported(rep, amin);
    Reported(rep, amax);
  }

  absl::string_view FakeQuant(const RangeVars& v, absl::string_view x, int bits, bool narrow, LayerReport* rep,
                              absl::string_view scope_override = "") {
    const absl::string_view scope = scope_override.empty() ? v.scope : scope_override;
    const char* op = v.channels > 0 ? "FakeQuantWithMinMaxVarsPerChannel" : "FakeQuantWithMinMaxVars";
    const absl::string_view n =
        Node(Cat(scope, "/", op), op, {x, v.min_read, v.max_read},
             {AttrEntry::Int("num_bits", bits), AttrEntry::Bool("narrow_range", narrow)});
    CountFakeQuant();
    Reported(rep, n);
    return n;
  }

  absl::string_view GlobalStepRead() {
    if (!global_step_read_.empty()) return global_step_read_;
    const std::string& gs = opt_.global_step;
    if (auto idx = view_.index(gs)) {
      // Reuse an existing step counter (e.g. from batch-norm folding) and its read.
      const std::string read = gs + "/read";
      if (auto r = view_.index(read); r && view_.node(*r).op() == "Identity") {
        global_step_read_ = read;
      } else {
        global_step_read_ = std::string(Node(read, "Identity", {gs}, {AttrEntry::Type("T", tensorflow::DT_INT64)}));
      }
      return global_step_read_;
    }
    if (Emitted(gs)) {
      global_step_read_ = gs + "/read";
      return global_step_read_;
    }
    TensorValue zero;
    zero.dtype = tensorflow::DT_INT64;
    zero.has_shape = true;
    const int64_t z = 0;
    zero.content = absl::string_view(reinterpret_cast<const char*>(&z), sizeof z);
    global_step_read_ = std::string(Variable(gs, {}, zero).second);
    return global_step_read_;
  }

  // SelectV2(GreaterEqual(global_step, quant_delay), fq, x) in train mode with a delay.
  absl::string_view Delay(absl::string_view scope, absl::string_view fq, absl::string_view x, LayerReport* rep) {
    if (!train_ || opt_.quant_delay <= 0) return fq;
    const std::string step(GlobalStepRead());
    const absl::string_view delay = ConstI64(Cat(scope, "/activate_quant/y"), opt_.quant_delay);
    const absl::string_view ge =
        Binary("GreaterEqual", Cat(scope, "/activate_quant"), step, delay, tensorflow::DT_INT64);
    const absl::string_view s =
        Node(Cat(scope, "/delayed_quant"), "SelectV2", {ge, fq, x}, {AttrEntry::Type("T", tensorflow::DT_FLOAT)});
    Reported(rep, s);
    return s;
  }

  // Activation quantization of tensor x under `scope` with its own EMA range.
  absl::string_view QuantizeActivation(absl::string_view base_scope, absl::string_view x, LayerReport* rep) {
    const absl::string_view scope = FreeScope(base_scope);
    return Site("activation", scope, x, rep, [&] {
      RangeVars v = MakeRangeVars(scope, {0.f}, {6.f}, 0);
      Reported(rep, v.min_var);
      Reported(rep, v.max_var);
      if (train_) EmaUpdate(v, x, rep);
      const absl::string_view fq = FakeQuant(v, x, opt_.activation_bits, false, rep);
      return Delay(scope, fq, x, rep);
    });
  }

  // ---- site templates (rewriter/site_template.h) ----
  // A node named in the layer's report.
  void Reported(LayerReport* rep, absl::string_view n) {
    rep->inserted.emplace_back(n);
    if (recorder_ != nullptr) recorder_->AddEffect(SiteEffect::Kind::kReported, n);
  }
  void AddUpdateOp(absl::string_view n) {
    update_ops_.push_back(KeepUpdateOp(n));
    if (recorder_ != nullptr) recorder_->AddEffect(SiteEffect::Kind::kUpdateOp, n);
  }
  void CountFakeQuant() {
    ++fake_quants_;
    if (recorder_ != nullptr) recorder_->AddEffect(SiteEffect::Kind::kFakeQuant, {});
  }
  // A quantization site of kind `key` under the fresh scope just opened, quantizing `x`:
  // emit() emits it node by node (and returns its output); when streaming, the first site of
  // a kind is recorded and later ones replayed from the record, with the same bytes and the
  // same report, update ops and counts.
  template <typename Fn>
  absl::string_view Site(absl::string_view key, absl::string_view scope, absl::string_view x, LayerReport* rep,
                         Fn emit) {
    if (stream_ == nullptr || open_.empty() || open_ != scope || recorder_ != nullptr) return emit();
    auto it = templates_.find(key);
    if (it != templates_.end()) {
      if (!it->second.has_value()) return emit();  // this kind cannot be replayed
      return Replay(*it->second, scope, x, rep);
    }
    SiteRecorder recorder(scope, x, {global_step_read_});
    recorder_ = &recorder;
    const absl::string_view out = emit();
    recorder_ = nullptr;
    std::optional<SiteTemplate> t = recorder.Finish(out);
    // A site can fail to record once for a passing reason (the first delay switch creates the
    // step counter outside the scope): try again once before emitting that kind node by node.
    if (t.has_value() || ++template_failures_[key] >= 2) templates_.emplace(std::string(key), std::move(t));
    return out;
  }
  absl::string_view Replay(const SiteTemplate& t, absl::string_view scope, absl::string_view x, LayerReport* rep) {
    t.Replay(scope, x, stream_, &replay_names_);
    open_names_.insert(open_names_.end(), replay_names_.begin(), replay_names_.end());
    nodes_added_ += t.num_nodes();
    for (const SiteEffect& e : t.effects()) {  // (no recorder while replaying)
      switch (e.kind) {
        case SiteEffect::Kind::kReported:
          Reported(rep, replay_names_[e.node]);
          break;
        case SiteEffect::Kind::kUpdateOp:
          AddUpdateOp(replay_names_[e.node]);
          break;
        case SiteEffect::Kind::kFakeQuant:
          CountFakeQuant();
          break;
      }
    }
    return replay_names_[t.output()];
  }

  absl::Status QuantizeWeights(absl::string_view layer_scope, const LayerMatch& l, LayerReport* rep);
  RangeVars& ConcatVars(int concat, LayerReport* rep);
  // Between quantization sites, where no view into the output's bytes is held (emitted names
  // used later were copied with Keep): full chunks may go to the spill file.
  void SpillPoint() {
    if (stream_ == nullptr) return;
    CloseScope();
    stream_->SpillFullChunks();
  }
  // An emitted name that is used after the current site: streaming, a copy (the output's
  // chunk holding it may go to a file, SerializedGraph::SpillFullChunks).
  absl::string_view Keep(absl::string_view emitted) {
    return stream_ != nullptr ? names_.Intern(emitted) : emitted;
  }
  // An update op's name, kept like Keep but stored as the control input "^name" (the view is
  // of the name; ControlInput gives the whole): the update group's inputs are views, not copies.
  absl::string_view KeepUpdateOp(absl::string_view emitted) { return names_.InternControl(emitted); }
  static absl::string_view ControlInput(absl::string_view update_op) {
    return absl::string_view(update_op.data() - 1, update_op.size() + 1);
  }
  // "node" or "node:port", a view that stays valid (interned when it is not a node's name).
  absl::string_view TensorNameView(int node, int port) {
    if (port == 0) return view_.node(node).name();
    return names_.Intern(TensorName(view_, node, port));
  }

  // ---- state ----
  const std::vector<int>* topological_order_;
  const GraphView& view_;
  const QuantizeOptions& opt_;
  tensorflow::GraphDef* out_;
  SerializedGraph* stream_;
  const bool train_;
  // Names emitted outside an open fresh scope: views into the NodeDefs' names or the stream.
  absl::flat_hash_set<absl::string_view> added_;
  // Fresh scopes by name, with the range of what was emitted while each was open.
  absl::flat_hash_map<absl::string_view, FreshScope> fresh_;
  absl::string_view open_;                    // the open fresh scope, if any
  std::vector<absl::string_view> open_names_;  // names emitted under it
  absl::flat_hash_set<size_t> dirs_;          // hashes of scope prefixes (see Fresh)
  std::string name_buf_;                      // a renamed node's name until it is stored
  NameStore names_;                           // scopes, port names, control inputs
  absl::flat_hash_map<int, std::vector<absl::string_view>> edited_;  // streaming: new input lists
  std::vector<bool> edited_node_;   // streaming: input nodes with an entry in edited_
  std::vector<bool> rewired_node_;  // input nodes with an entry in rewire_
  absl::flat_hash_set<absl::string_view> used_scopes_;  // scopes given out, but not fresh_ ones
  std::vector<absl::string_view> update_ops_;  // each preceded by a '^' (KeepUpdateOp)
  std::string global_step_read_;
  int nodes_added_ = 0;
  int fake_quants_ = 0;
  int inputs_edited_ = 0;
  // Layer-output rewiring: node name (port 0) -> replacement tensor.
  absl::flat_hash_map<absl::string_view, absl::string_view> rewire_;
  // Weights tensor -> its quantized tensor and the layer that made it (shared weights are
  // quantized once).
  absl::flat_hash_map<absl::string_view, std::pair<absl::string_view, absl::string_view>> weight_quant_;
  // Concat node index -> tied range variables.
  absl::flat_hash_map<int, RangeVars> concat_vars_;
  // Site templates by kind (nullopt: that kind is emitted node by node), the recorder of the
  // site being recorded, and Replay's names.
  absl::flat_hash_map<std::string, std::optional<SiteTemplate>> templates_;
  absl::flat_hash_map<std::string, int> template_failures_;
  SiteRecorder* recorder_ = nullptr;
  std::vector<absl::string_view> replay_names_;
};

RangeVars& Rewriter::ConcatVars(int concat, LayerReport* rep) {
  auto it = concat_vars_.find(concat);
  if (it != concat_vars_.end()) return it->second;
  const std::string& name = view_.node(concat).name();
  const absl::string_view scope = FreeScope(name + "/act_quant");
  RangeVars v = MakeRangeVars(scope, {0.f}, {6.f}, 0);
  Reported(rep, v.min_var);
  Reported(rep, v.max_var);
  // The tied range tracks the concat's output (the union of its inputs).
  if (train_) EmaUpdate(v, name, rep);
  // Used by later sites: kept apart from the output's chunks.
  for (absl::string_view* n : {&v.min_var, &v.min_read, &v.max_var, &v.max_read}) *n = Keep(*n);
  return concat_vars_.emplace(concat, std::move(v)).first->second;
}

absl::Status Rewriter::QuantizeWeights(absl::string_view layer_scope, const LayerMatch& l,
                                       LayerReport* rep) {
  const NodeDef& weighted = view_.node(l.weighted);
  const absl::string_view wt = TensorNameView(l.weights.node, l.weights.port);
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
  // (The shape is only needed for per-channel ranges.)
  const std::optional<std::vector<int64_t>> shape =
      opt_.per_channel ? WeightShape(view_, l.weights.node) : std::nullopt;
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

  const absl::string_view scope = FreeScope(Cat(layer_scope, "/weights_quant"));
  auto emit = [&]() -> absl::string_view {
    absl::string_view q_in = wt;
    if (depthwise_reshape) {
      q_in = Reshape(Cat(scope, "/Reshape"), wt,
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
    Reported(rep, v.min_var);
    Reported(rep, v.max_var);
    if (train_) LastValueUpdate(v, q_in, opt_.symmetric, opt_.weight_bits, opt_.narrow_range_weights, rep);
    const absl::string_view fq = FakeQuant(v, q_in, opt_.weight_bits, opt_.narrow_range_weights, rep);
    absl::string_view outq = Delay(scope, fq, q_in, rep);
    if (depthwise_reshape) {
      std::vector<int32_t> back;
      for (int64_t d : *shape) back.push_back(static_cast<int32_t>(d));
      outq = Reshape(absl::StrCat(scope, "/Reshape_1"), outq, back);
    }
    return outq;
  };
  // Train mode: every weight site of one shape emits the same nodes (eval mode's initial
  // ranges come from each layer's weights, so those sites are emitted node by node).
  absl::string_view outq;
  if (train_) {
    std::string key = absl::StrCat("weights/", channels);
    if (depthwise_reshape) {
      for (int64_t d : *shape) absl::StrAppend(&key, ",", d);
    }
    outq = Site(key, scope, wt, rep, emit);
  } else {
    outq = emit();
  }
  SetOriginalInput(l.weighted, slot, Keep(outq));
  ++inputs_edited_;
  weight_quant_.emplace(wt, std::make_pair(Keep(outq), names_.Intern(layer_scope)));
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

  // One pass over the input's nodes (each is a cache miss in a large graph): training ops
  // (refused), the scope prefixes (a quantization scope none of them lies under is fresh, see
  // Fresh), the concats and the weighted ops.
  edited_node_.assign(original, false);
  rewired_node_.assign(original, false);
  dirs_.reserve(static_cast<size_t>(original) / 4 + 16);
  std::vector<int> concat_ops, weighted_ops;
  {
    // A prefix shared with the previous name (up to a '/' in both) was added with it: only
    // the prefixes past the common part are hashed (neighbours usually share their scopes).
    absl::string_view prev;
    for (int i = 0; i < original; ++i) {
      view_.PrefetchFor(i);
      const NodeDef& node = view_.node(i);
      if (IsTrainingOp(node)) return TrainingOpError(node);
      const std::string& op = node.op();
      if (patterns::ops::kConcat.Contains(op)) concat_ops.push_back(i);
      if (patterns::ops::kWeighted.Contains(op)) weighted_ops.push_back(i);
      const absl::string_view name = node.name();
      const size_t limit = std::min(name.size(), prev.size());
      size_t common = 0;
      while (common < limit && name[common] == prev[common]) ++common;
      for (size_t slash = name.find('/'); slash != absl::string_view::npos; slash = name.find('/', slash + 1)) {
        if (slash > 0 && slash >= common) dirs_.insert(Hash(name.substr(0, slash)));
      }
      prev = name;
    }
  }

  patterns::MatchOptions mopt;
  mopt.record_failures = false;
  mopt.topological_order = topological_order_;
  for (const std::string& o : opt_.outputs) {
    auto idx = view_.index(o);
    if (!idx) return absl::InvalidArgumentError(absl::StrCat("--output '", o, "' is not a node of the graph"));
    mopt.protected_nodes.insert(*idx);
  }
  TFQAT_ASSIGN_OR_RETURN(patterns::MatchSet ms, patterns::FindLayers(view_, mopt));
  // Room for the scopes the layers open (two each), so that neither table regrows.
  fresh_.reserve(2 * ms.matches.size() + 16);
  dirs_.reserve(dirs_.size() + 2 * ms.matches.size() + 16);
  {
    // Room for what the layers will emit (about 80 nodes per layer in train mode, 12 in
    // eval), so that neither the node array nor the name set regrows (rehashing every name).
    const size_t per_layer = train_ ? 84 : 12;
    const size_t expected = ms.matches.size() * per_layer;
    if (stream_ == nullptr) {
      out_->mutable_node()->Reserve(static_cast<int>(std::min<size_t>(original + expected, INT32_MAX / 2)));
    }
  }
  std::vector<int> uncovered;
  for (int i : weighted_ops) {
    if (ms.owner[i] < 0) uncovered.push_back(i);
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
  for (int i : concat_ops) {
    if (!concat_in_scope(i)) continue;
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
  result.layers.reserve(layers.size() + uncovered.size() + concats.size());
  for (const LayerMatch& l : layers) {
    SpillPoint();
    LayerReport rep;
    rep.inserted.reserve(train_ ? 12 : 6);  // two sites' variables, updates, FakeQuants, switches
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
      const absl::string_view x = view_.node(l.output).name();
      absl::string_view q;
      if (auto t = tied_to_concat.find(l.output); t != tied_to_concat.end()) {
        RangeVars& v = ConcatVars(t->second, &rep);
        const absl::string_view scope = FreeScope(layer_scope + "/act_quant");
        const absl::string_view fq = FakeQuant(v, x, opt_.activation_bits, false, &rep, scope);
        q = Delay(scope, fq, x, &rep);
        tied_done.insert(l.output);
        rep.notes.push_back(absl::StrCat("output range tied to concat '", view_.node(t->second).name(), "'"));
      } else {
        q = QuantizeActivation(layer_scope + "/act_quant", x, &rep);
      }
      rewire_[x] = Keep(q);
      rewired_node_[l.output] = true;
      rep.output_quantized = true;
    }
    result.layers.push_back(std::move(rep));
  }

  // Weighted ops that no layer covers: say why.
  for (int i : uncovered) {
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
      SpillPoint();
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
        rewire_[p.name()] = Keep(QuantizeActivation(p.name() + "/act_quant", p.name(), &rep));
        rewired_node_[i] = true;
        rep.output_quantized = true;
      }
      result.layers.push_back(std::move(rep));
    }
  }

  // ConcatV2: every data input quantized with the concat's tied range.
  for (int c : concats) {
    SpillPoint();
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
      absl::string_view in = TensorNameView(p, fanin[k].port);
      if (fanin[k].port == 0) {
        if (auto r = rewire_.find(in); r != rewire_.end()) in = r->second;
      }
      RangeVars& v = ConcatVars(c, &rep);
      const absl::string_view scope = FreeScope(absl::StrCat(cname, "/act_quant/input_", k));
      const absl::string_view fq = FakeQuant(v, in, opt_.activation_bits, false, &rep, scope);
      const absl::string_view q = Delay(scope, fq, in, &rep);
      SetOriginalInput(c, k, Keep(q));
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
        for (absl::string_view u : update_ops_) AddOriginalInput(*idx, ControlInput(u));
      } else {
        std::vector<absl::string_view> inputs;
        inputs.reserve(update_ops_.size());
        for (absl::string_view u : update_ops_) inputs.push_back(ControlInput(u));
        Node(opt_.update_ops, "NoOp", inputs, {});
      }
    }
  }
  CloseScope();
  if (stream_ != nullptr) WriteOriginals(original);
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

absl::StatusOr<QuantizeResult> InsertFakeQuantWithView(const GraphView& view, tensorflow::GraphDef* graph,
                                                       const QuantizeOptions& options,
                                                       const std::vector<int>* topological_order) {
  TFQAT_RETURN_IF_ERROR(CheckOptions(options));
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

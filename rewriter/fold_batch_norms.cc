// FusedBatchNorm(BiasAdd?(W(x, w)), γ, β, μ, σ²) -> BiasAdd(W(x, w·γ/σ), β + (b − μ)·γ/σ)
// Add(Mul(BiasAdd?(W(x, w)), S), O)             -> BiasAdd(W(x, w·S), O + b·S)
// (train mode, batch statistics: the correction scheme, see fold_batch_norms_train.cc).
#include "rewriter/fold_batch_norms.h"

#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/mutable_graph.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "patterns/matcher.h"
#include "patterns/pattern.h"
#include "rewriter/fold_batch_norms_const.h"
#include "rewriter/fold_batch_norms_internal.h"

namespace tfqat {

namespace bnfold {

using patterns::Match;
using patterns::Pat;
using patterns::Pattern;
namespace ops = patterns::ops;

std::string Describe(const tensorflow::NodeDef& n) {
  return absl::StrCat("node '", n.name(), "' (", n.op(), ")");
}

std::string ScopeOf(const std::string& name) {
  auto pos = name.rfind('/');
  return pos == std::string::npos ? name : name.substr(0, pos);
}

namespace {

Pat WeightedChain() {
  Pat weighted = Pat::Op(ops::kWeightedInput1)
                     .Capture("weighted")
                     .Inputs({Pat::Any("input").Port(-1), Pat::Any("weights").Port(-1)});
  return Pat::OneOf({
                        Pat::Op(ops::kBiasAdd).Capture("bias").Inputs(
                            {weighted, Pat::Any("bias_param").Port(-1)}),
                        Pat::Op(ops::kAdd).Capture("bias").Commutative().Inputs(
                            {weighted, Pat::Any("bias_param").Port(-1)}),
                    })
      .Inputs({weighted})
      .Optional()
      .Role("the weighted op or its bias add");
}

std::vector<Pattern> FoldPatterns() {
  Pat fused = Pat::Op(ops::kFusedBatchNorm)
                  .Capture("bn")
                  .Inputs({WeightedChain(), Pat::Any("gamma").Port(-1), Pat::Any("beta").Port(-1),
                           Pat::Any("mean").Port(-1), Pat::Any("variance").Port(-1)});
  Pat mul = Pat::Op(ops::kMul).Capture("bn_mul").Commutative().Inputs(
      {WeightedChain(), Pat::Any("scale").Port(-1)});
  Pat unfused_add =
      Pat::Op(ops::kAdd).Capture("bn").Commutative().Inputs({mul, Pat::Any("offset").Port(-1)});
  Pat unfused_sub = Pat::Op(patterns::OpSet{"Sub"}).Capture("bn").Inputs({mul, Pat::Any("offset").Port(-1)});
  return {Pattern("fused_batch_norm", fused), Pattern("unfused_batch_norm", unfused_add),
          Pattern("unfused_batch_norm_sub", unfused_sub)};
}

std::string InputString(const GraphView& view, const patterns::Captured& c) {
  return TensorRef{view.node(c.node).name(), c.port, false}.ToString();
}

}  // namespace

// Shape of the weights tensor feeding `weights` (a Const, possibly behind Identity, or a
// variable read); nullopt when unknown.
std::optional<std::vector<int64_t>> WeightShape(const GraphView& view, int node) {
  for (int hop = 0; hop < 8 && node >= 0; ++hop) {
    const auto& n = view.node(node);
    if (n.op() == "Const") {
      auto v = n.attr().find("value");  // by reference: the tensor may be large
      if (v == n.attr().end() || !v->second.has_tensor()) return std::nullopt;
      auto s = ShapeFromProto(v->second.tensor().tensor_shape());
      if (!s.ok()) return std::nullopt;
      return *s;
    }
    if (n.op() == "VariableV2" || n.op() == "Variable" || n.op() == "VarHandleOp") {
      auto sp = GetAttr<tensorflow::TensorShapeProto>(n, "shape");
      if (!sp.ok()) return std::nullopt;
      auto s = ShapeFromProto(*sp);
      if (!s.ok()) return std::nullopt;
      return *s;
    }
    if (n.op() == "Identity" || n.op() == "ReadVariableOp") {
      auto in = view.data_fanin(node);
      if (in.empty()) return std::nullopt;
      node = in[0].node;
      continue;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

absl::StatusOr<Layout> LayoutOf(const GraphView& view, int weighted, int weights_node) {
  const auto& w = view.node(weighted);
  Layout l;
  l.weighted_type = w.op();
  auto shape = WeightShape(view, weights_node);
  if (!shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(Describe(w), ": the shape of its weights is not known"));
  }
  l.weight_shape = *shape;
  if (w.op() == "MatMul") {
    if (shape->size() != 2) return absl::InvalidArgumentError(absl::StrCat(Describe(w), ": weights must be 2-D"));
    TFQAT_ASSIGN_OR_RETURN(l.transpose_b, GetAttrOr<bool>(w, "transpose_b", false));
    l.channels = l.transpose_b ? (*shape)[0] : (*shape)[1];
    l.nchw = false;
    return l;
  }
  if (shape->size() != 4) return absl::InvalidArgumentError(absl::StrCat(Describe(w), ": filter must be 4-D"));
  TFQAT_ASSIGN_OR_RETURN(std::string fmt, GetAttrOr<std::string>(w, "data_format", "NHWC"));
  if (fmt != "NHWC" && fmt != "NCHW") {
    return absl::InvalidArgumentError(absl::StrCat(Describe(w), ": unsupported data_format ", fmt));
  }
  l.nchw = fmt == "NCHW";
  l.depthwise = w.op() == "DepthwiseConv2dNative";
  l.channels = l.depthwise ? (*shape)[2] * (*shape)[3] : (*shape)[3];
  return l;
}

int64_t ChannelOfWeight(const Layout& l, int64_t e) {
  if (l.weighted_type == "MatMul") {
    return l.transpose_b ? e / l.weight_shape[1] : e % l.weight_shape[1];
  }
  return e % l.channels;  // HWIO: out last; depthwise [kh,kw,in,mult]: channel in·mult + m
}

NodeBuilder::NodeBuilder(MutableGraph* g) : g_(g) {}

tensorflow::NodeDef* NodeBuilder::Add(const std::string& name, const std::string& op,
                                      const std::vector<std::string>& inputs) {
  tensorflow::NodeDef* n = g_->AddNode(name, op);
  for (const auto& in : inputs) n->add_input(in);
  added_.push_back(n->name());
  return n;
}

std::string NodeBuilder::ConstFloat(const std::string& name, const std::vector<int64_t>& shape,
                                    std::vector<float> values) {
  HostTensor<float> t;
  t.shape = shape;
  t.values = std::move(values);
  tensorflow::NodeDef* n = Add(name, "Const", {});
  SetAttr(n, "dtype", tensorflow::DT_FLOAT);
  tensorflow::TensorProto encoded = EncodeTensor(t);
  (*n->mutable_attr())["value"].mutable_tensor()->Swap(&encoded);
  return n->name();
}

std::string NodeBuilder::ConstInt32(const std::string& name, const std::vector<int32_t>& values) {
  HostTensor<int32_t> t;
  t.shape = {static_cast<int64_t>(values.size())};
  t.values = values;
  tensorflow::NodeDef* n = Add(name, "Const", {});
  SetAttr(n, "dtype", tensorflow::DT_INT32);
  SetAttr(n, "value", EncodeTensor(t));
  return n->name();
}

std::string NodeBuilder::ConstInt64Scalar(const std::string& name, int64_t v) {
  HostTensor<int64_t> t;
  t.values = {v};
  tensorflow::NodeDef* n = Add(name, "Const", {});
  SetAttr(n, "dtype", tensorflow::DT_INT64);
  SetAttr(n, "value", EncodeTensor(t));
  return n->name();
}

std::string NodeBuilder::Op(const std::string& name, const std::string& op,
                            const std::vector<std::string>& inputs, tensorflow::DataType t) {
  tensorflow::NodeDef* n = Add(name, op, inputs);
  SetAttr(n, "T", t);
  return n->name();
}

std::string NodeBuilder::Reshape(const std::string& name, const std::string& x,
                                 const std::vector<int32_t>& shape) {
  std::string s = ConstInt32(name + "/shape", shape);
  tensorflow::NodeDef* n = Add(name, "Reshape", {x, s});
  SetAttr(n, "T", tensorflow::DT_FLOAT);
  SetAttr(n, "Tshape", tensorflow::DT_INT32);
  return n->name();
}

namespace {

// Folds with known per-channel scale k and offset c (both constants).
struct StaticFold {
  std::vector<double> k;
  std::vector<double> c;
};

// Weights that are a float32 Const, possibly behind Identity nodes: decoded as float directly
// (the common case; the evaluator's double tensors and memo copies are not needed).
std::optional<HostTensor<float>> FloatConstWeights(const GraphView& view, int node, int port) {
  if (port != 0) return std::nullopt;
  for (int hop = 0; hop < 8; ++hop) {
    const auto& n = view.node(node);
    if (n.op() == "Const") {
      auto dt = n.attr().find("dtype");
      if (dt == n.attr().end() || dt->second.type() != tensorflow::DT_FLOAT) return std::nullopt;
      auto t = DecodeConst<float>(n);
      if (!t.ok()) return std::nullopt;
      return *std::move(t);
    }
    if (n.op() != "Identity") return std::nullopt;
    const auto& in = view.fanin(node);
    if (in.empty() || in[0].is_control || in[0].port != 0) return std::nullopt;
    node = in[0].node;
  }
  return std::nullopt;
}

// dst[e] = float(src[e] · k[channel of e]) (ChannelOfWeight, walked without per-element
// branches); src may be dst.
template <typename T>
void ScaleWeights(const Layout& layout, const std::vector<double>& k, const T* src, float* dst, int64_t total) {
  if (layout.weighted_type == "MatMul" && layout.transpose_b) {
    // [out, in]: the channel is the row.
    const int64_t inner = layout.weight_shape[1];
    for (int64_t e = 0; e < total; ++e) dst[e] = static_cast<float>(static_cast<double>(src[e]) * k[e / inner]);
    return;
  }
  // Otherwise the channel is the fastest-varying index.
  const int64_t c_count = layout.weighted_type == "MatMul" ? layout.weight_shape[1] : layout.channels;
  for (int64_t e = 0, c = 0; e < total; ++e) {
    dst[e] = static_cast<float>(static_cast<double>(src[e]) * k[c]);
    if (++c == c_count) c = 0;
  }
}

// The fold candidates, and a note for every batch norm the patterns refused.
absl::StatusOr<patterns::MatchSet> MatchFolds(const GraphView& view, const FoldBatchNormsOptions& opt,
                                              FoldBatchNormsResult* result, const std::vector<int>* order) {
  patterns::MatchOptions mo;
  mo.topological_order = order;
  for (const auto& name : opt.outputs) {
    if (auto i = view.index(NodeNameOf(name))) mo.protected_nodes.insert(*i);
  }
  TFQAT_ASSIGN_OR_RETURN(patterns::MatchSet ms, patterns::FindMatches(view, FoldPatterns(), mo));
  for (const auto& f : ms.failures) {
    // Only failures at a batch norm, or escapes found deep in an unfused chain, are news.
    const bool at_bn = ops::kFusedBatchNorm.Contains(view.node(f.root).op());
    const bool escape = absl::StrContains(f.reason, "consumer outside") ||
                        absl::StrContains(f.reason, "graph output in the middle");
    if (at_bn || (escape && f.at_node != f.root && f.pattern == "unfused_batch_norm")) {
      result->notes.push_back(absl::StrCat(Describe(view.node(f.root)), ": not folded: ", f.reason));
    }
  }
  return ms;
}

class Folder {
 public:
  Folder(const GraphView& view, const FoldBatchNormsOptions& opt, MutableGraph* g,
         FoldBatchNormsResult* result)
      : view_(view), opt_(opt), g_(g), b_(g), result_(result), consts_(view) {}

  absl::Status Run(const patterns::MatchSet& ms) {
    for (const Match& m : ms.matches) {
      TFQAT_RETURN_IF_ERROR(FoldOne(m));
    }
    return absl::OkStatus();
  }

  absl::flat_hash_set<std::string>& maybe_dead() { return maybe_dead_; }

 private:
  void Note(std::string s) { result_->notes.push_back(std::move(s)); }

  absl::Status FoldOne(const Match& m) {
    const int bn = m.Node("bn");
    const int weighted = m.Node("weighted");
    const auto& bn_node = view_.node(bn);
    const auto& w_node = view_.node(weighted);
    if (!opt_.scope.empty() && !absl::StartsWith(w_node.name(), opt_.scope)) return absl::OkStatus();
    const bool fused = m.pattern == "fused_batch_norm";
    auto skip = [&](const std::string& why) {
      Note(absl::StrCat(Describe(bn_node), " after ", Describe(w_node), ": not folded: ", why));
      return absl::OkStatus();
    };
    // Dtype: float only.
    auto dt = GetAttrOr<tensorflow::DataType>(w_node, "T", tensorflow::DT_FLOAT);
    if (!dt.ok() || *dt != tensorflow::DT_FLOAT) return skip("only float32 layers are folded");
    const auto weights = *m.Get("weights");
    auto layout_or = LayoutOf(view_, weighted, weights.node);
    if (!layout_or.ok()) return skip(std::string(layout_or.status().message()));
    Layout layout = *layout_or;

    Candidate cand;
    cand.match = &m;
    cand.layout = layout;
    cand.fused = fused;
    cand.weighted = weighted;
    cand.bn = bn;
    cand.bias = m.Node("bias");
    cand.weights_input = InputString(view_, weights);
    cand.bias_param = m.Has("bias_param") ? InputString(view_, *m.Get("bias_param")) : "";
    if (cand.bias >= 0) {
      const auto& bias_node = view_.node(cand.bias);
      if (bias_node.op() == "BiasAdd") {
        auto fmt = GetAttrOr<std::string>(bias_node, "data_format", "NHWC");
        if (!fmt.ok() || (*fmt == "NCHW") != layout.nchw) {
          return skip("the BiasAdd's data_format differs from the weighted op's");
        }
      }
    }
    const int axis_from_end = layout.nchw ? 3 : 1;

    bool batch_statistics = false;
    if (fused) {
      TFQAT_ASSIGN_OR_RETURN(cand.epsilon, GetAttrOr<float>(bn_node, "epsilon", 0.0001f));
      TFQAT_ASSIGN_OR_RETURN(batch_statistics, GetAttrOr<bool>(bn_node, "is_training", true));
      auto fmt = GetAttrOr<std::string>(bn_node, "data_format", "NHWC");
      if (!fmt.ok() || (*fmt == "NCHW") != layout.nchw) {
        return skip("the batch norm's data_format differs from the weighted op's");
      }
      if (layout.weighted_type == "MatMul") return skip("FusedBatchNorm after MatMul needs a 4-D input");
      for (int port = 1; port < 6; ++port) {
        if (!view_.consumers(bn, port).empty()) {
          return skip(absl::StrCat("its output ", port,
                                   " (batch statistics) has consumers; fold only a batch norm whose "
                                   "output 0 alone is used"));
        }
      }
      for (const char* c : {"gamma", "beta", "mean", "variance"}) cand.params.push_back(InputString(view_, *m.Get(c)));
    }

    // Constant per-channel scale and offset, when the parameters are constants.
    std::optional<StaticFold> st;
    std::string static_why;
    std::optional<std::vector<double>> bias_values;
    if (cand.bias >= 0) {
      auto b = consts_.Eval(m.Get("bias_param")->node, m.Get("bias_param")->port);
      // BiasAdd's bias is 1-D [C] whatever the data_format; an Add's operand broadcasts.
      const int bias_axis = view_.node(cand.bias).op() == "BiasAdd" ? 1 : axis_from_end;
      if (b.ok()) bias_values = PerChannel(*b, layout.channels, bias_axis);
      if (b.ok() && !bias_values) return skip("the bias is not per-channel");
      if (!b.ok() && view_.node(cand.bias).op() != "BiasAdd" &&
          !IsParamRead(view_, m.Get("bias_param")->node)) {
        return skip("the Add between the weighted op and the batch norm is not a bias add");
      }
    }
    if (fused && !batch_statistics) {
      std::vector<std::vector<double>> p;
      for (const char* c : {"gamma", "beta", "mean", "variance"}) {
        auto cap = *m.Get(c);
        auto t = consts_.Eval(cap.node, cap.port);
        if (!t.ok()) {
          static_why = absl::StrCat("its ", c, " is not a constant (", t.status().message(), ")");
          break;
        }
        auto pc = PerChannel(*t, layout.channels, 1);
        if (!pc) return skip(absl::StrCat("its ", c, " does not have ", layout.channels, " channels"));
        p.push_back(*pc);
      }
      if (static_why.empty()) {
        StaticFold s;
        for (int64_t ch = 0; ch < layout.channels; ++ch) {
          const double k = p[0][ch] / std::sqrt(p[3][ch] + static_cast<double>(cand.epsilon));
          s.k.push_back(k);
          s.c.push_back(p[1][ch] - p[2][ch] * k);
        }
        st = std::move(s);
      }
    } else if (!fused) {
      auto sc = *m.Get("scale");
      auto off = *m.Get("offset");
      auto ts = consts_.Eval(sc.node, sc.port);
      auto to = consts_.Eval(off.node, off.port);
      if (!ts.ok() || !to.ok()) {
        // Not a batch norm in inference form (batch moments, or variable statistics).
        return skip(absl::StrCat("its scale/offset are not constants (unfused chains are folded only "
                                 "with constant parameters; ",
                                 (!ts.ok() ? ts.status() : to.status()).message(), ")"));
      }
      auto k = PerChannel(*ts, layout.channels, axis_from_end);
      auto c = PerChannel(*to, layout.channels, axis_from_end);
      if (!k || !c) return skip("its scale/offset are not per-channel");
      StaticFold s{*k, *c};
      if (bn_node.op() == "Sub") {
        for (double& v : s.c) v = -v;
      }
      st = std::move(s);
    }
    if (st && bias_values) {
      for (int64_t ch = 0; ch < layout.channels; ++ch) st->c[ch] += (*bias_values)[ch] * st->k[ch];
    }

    const bool train = opt_.mode == FoldBatchNormsOptions::Mode::kTrain;
    FoldedLayer fl;
    fl.weighted_op = w_node.name();
    fl.weighted_type = w_node.op();
    fl.batch_norm = bn_node.name();
    fl.form = fused ? FoldedLayer::Form::kFused : FoldedLayer::Form::kUnfused;
    fl.had_bias = cand.bias >= 0;
    fl.batch_statistics = batch_statistics;
    fl.channels = layout.channels;

    if (batch_statistics) {
      if (!train) return skip("is_training=true (batch statistics): folded only in train mode");
      TFQAT_RETURN_IF_ERROR(EmitTrainCorrection(view_, opt_, cand, &b_, g_, &fl, &static_why));
      if (!static_why.empty()) return skip(static_why);
      pending_remove_.insert(bn_node.name());
      result_->folded.push_back(fl);
      return absl::OkStatus();
    }

    if (!st) {
      if (!train) return skip(static_why);
      // Train mode: parameters are variables: fold in the graph.
      TFQAT_RETURN_IF_ERROR(EmitTrainMovingFold(view_, opt_, cand, &b_, g_, &fl, &static_why));
      if (!static_why.empty()) return skip(static_why);
      pending_remove_.insert(bn_node.name());
      if (cand.bias >= 0) pending_remove_.insert(view_.node(cand.bias).name());
      if (m.Has("bn_mul")) pending_remove_.insert(view_.node(m.Node("bn_mul")).name());
      result_->folded.push_back(fl);
      return absl::OkStatus();
    }

    // Static scale/offset. Weights: a constant is folded numerically; a variable read is
    // folded in the graph (train mode) or skipped (eval mode).
    std::vector<float> kf(st->k.begin(), st->k.end());
    std::vector<float> cf(st->c.begin(), st->c.end());
    const std::string bn_name = bn_node.name();
    std::optional<HostTensor<float>> wf = FloatConstWeights(view_, weights.node, weights.port);
    absl::StatusOr<HostTensor<double>> wvals = absl::UnknownError("not evaluated");
    if (!wf) wvals = consts_.Eval(weights.node, weights.port);
    std::string new_weights;
    if (wf || wvals.ok()) {
      HostTensor<float> w;
      if (wf) {
        w = *std::move(wf);
        ScaleWeights(layout, st->k, w.values.data(), w.values.data(), static_cast<int64_t>(w.values.size()));
      } else {
        w.shape = wvals->shape;
        w.values.resize(wvals->values.size());
        ScaleWeights(layout, st->k, wvals->values.data(), w.values.data(), static_cast<int64_t>(w.values.size()));
      }
      new_weights = b_.ConstFloat(absl::StrCat(w_node.name(), "/folded_weights"), w.shape, std::move(w.values));
    } else if (train) {
      std::string scale = b_.ConstFloat(absl::StrCat(ScopeOf(w_node.name()), "/BatchNorm_Fold/fold_scale"),
                                        {layout.channels}, kf);
      scale = ShapeScaleForWeights(layout, scale, ScopeOf(w_node.name()) + "/BatchNorm_Fold", &b_);
      new_weights = b_.Op(absl::StrCat(ScopeOf(w_node.name()), "/mul_fold"), "Mul",
                          {cand.weights_input, scale}, tensorflow::DT_FLOAT);
    } else {
      return skip(absl::StrCat("its weights are not a constant (", wvals.status().message(), ")"));
    }
    tensorflow::NodeDef* wn = g_->FindNode(w_node.name());
    wn->set_input(1, new_weights);
    fl.folded_weights = new_weights;
    // The BiasAdd replaces the batch norm under its name, so consumers need no rewiring.
    std::string bias_const = b_.ConstFloat(absl::StrCat(bn_name, "/folded_bias"), {layout.channels}, cf);
    TFQAT_RETURN_IF_ERROR(ReplaceWithBiasAdd(cand, bias_const));
    fl.output = bn_name;
    result_->folded.push_back(fl);
    return absl::OkStatus();
  }

  // The batch norm node becomes BiasAdd(weighted, bias_const) under its own name, so its
  // consumers need no rewiring; the old bias add and the Mul of an unfused chain go.
  absl::Status ReplaceWithBiasAdd(const Candidate& cand, const std::string& bias_const) {
    const auto& bn_node = view_.node(cand.bn);
    std::vector<std::string> controls;
    auto collect = [&](int node, bool remove) {
      // The parsed fan-in (view_.inputs would parse every input of the graph, once).
      for (const Producer& p : view_.fanin(node)) {
        const std::string& producer = view_.node(p.node).name();
        if (p.is_control) controls.push_back(absl::StrCat("^", producer));
        else maybe_dead_.insert(producer);
      }
      if (remove) pending_remove_.insert(view_.node(node).name());
    };
    collect(cand.bn, false);
    if (cand.bias >= 0) collect(cand.bias, true);
    if (cand.match->Has("bn_mul")) collect(cand.match->Node("bn_mul"), true);
    maybe_dead_.insert(view_.node(cand.match->Get("weights")->node).name());
    maybe_dead_.erase(view_.node(cand.weighted).name());
    if (cand.bias >= 0) maybe_dead_.erase(view_.node(cand.bias).name());
    if (cand.match->Has("bn_mul")) maybe_dead_.erase(view_.node(cand.match->Node("bn_mul")).name());
    tensorflow::NodeDef* n = g_->FindNode(bn_node.name());
    n->set_op("BiasAdd");
    n->clear_input();
    n->clear_attr();
    n->add_input(view_.node(cand.weighted).name());
    n->add_input(bias_const);
    for (const auto& c : controls) n->add_input(c);
    SetAttr(n, "T", tensorflow::DT_FLOAT);
    SetAttr(n, "data_format", cand.layout.nchw ? "NCHW" : "NHWC");
    return absl::OkStatus();
  }

 public:
  absl::Status Finish() { return g_->RemoveNodes(pending_remove_); }
  void ExtraRemove(const std::string& name) { pending_remove_.insert(name); }

 private:
  const GraphView& view_;
  const FoldBatchNormsOptions& opt_;
  MutableGraph* g_;
  NodeBuilder b_;
  FoldBatchNormsResult* result_;
  ConstEvaluator consts_;
  absl::flat_hash_set<std::string> maybe_dead_;
  absl::flat_hash_set<std::string> pending_remove_;
};

}  // namespace

bool IsParamRead(const GraphView& view, int node) {
  const auto& op = view.node(node).op();
  if (op == "Const" || op == "ReadVariableOp") return true;
  if (op == "Identity") {
    auto in = view.data_fanin(node);
    if (in.size() != 1) return false;
    const auto& src = view.node(in[0].node).op();
    return src == "VariableV2" || src == "Variable" || src == "Const";
  }
  return false;
}

std::string ShapeScaleForWeights(const Layout& l, const std::string& scale, const std::string& scope,
                                 NodeBuilder* b) {
  if (l.depthwise) {
    return b->Reshape(scope + "/fold_scale_depthwise", scale,
                      {static_cast<int32_t>(l.weight_shape[2]), static_cast<int32_t>(l.weight_shape[3])});
  }
  if (l.weighted_type == "MatMul" && l.transpose_b) {
    return b->Reshape(scope + "/fold_scale_transposed", scale, {static_cast<int32_t>(l.channels), 1});
  }
  return scale;
}

// Removes nodes in `candidates` (and, transitively, their inputs among the candidates'
// ancestors of kinds Const/Identity/arithmetic) that nothing consumes any more.
absl::Status PruneDead(MutableGraph* g, absl::flat_hash_set<std::string> candidates) {
  static const absl::flat_hash_set<std::string> kPrunable = {
      "Const", "Identity", "Rsqrt", "Sqrt", "Reciprocal", "Inv", "Neg", "Square", "Add",
      "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"};
  if (candidates.empty()) return absl::OkStatus();
  // One pass with use counts (data and control inputs): a node dies when nothing uses it any
  // more, and its inputs lose a use; the graph is edited once at the end.
  absl::flat_hash_map<absl::string_view, int> uses;
  uses.reserve(g->graph().node_size());
  for (const auto& n : g->graph().node()) {
    for (const auto& in : n.input()) ++uses[NodeNameOf(in)];
  }
  std::vector<std::string> work(candidates.begin(), candidates.end());
  absl::flat_hash_set<std::string> dead;
  while (!work.empty()) {
    const std::string name = std::move(work.back());
    work.pop_back();
    if (dead.contains(name)) continue;
    const tensorflow::NodeDef* n = g->FindNode(name);
    if (n == nullptr || !kPrunable.contains(n->op())) continue;
    if (auto u = uses.find(name); u != uses.end() && u->second > 0) continue;
    dead.insert(name);
    for (const auto& in : n->input()) {
      auto u = uses.find(NodeNameOf(in));
      if (--u->second == 0) work.emplace_back(u->first);
    }
  }
  if (!dead.empty()) TFQAT_RETURN_IF_ERROR(g->RemoveNodes(dead));
  return absl::OkStatus();
}

}  // namespace bnfold

namespace bnfold {

absl::StatusOr<bool> FoldBatchNormsWithView(const GraphView& view, const FoldBatchNormsOptions& options,
                                            FoldBatchNormsResult* result, const std::vector<int>* topological_order) {
  TFQAT_ASSIGN_OR_RETURN(patterns::MatchSet ms, MatchFolds(view, options, result, topological_order));
  if (ms.matches.empty()) return false;  // nothing to fold: no copy of the graph
  MutableGraph g(view.graph());
  Folder folder(view, options, &g, result);
  TFQAT_RETURN_IF_ERROR(folder.Run(ms));
  TFQAT_RETURN_IF_ERROR(folder.Finish());
  TFQAT_RETURN_IF_ERROR(PruneDead(&g, folder.maybe_dead()));
  result->graph = std::move(g).Release();
  return true;
}

}  // namespace bnfold

absl::StatusOr<FoldBatchNormsResult> FoldBatchNorms(const tensorflow::GraphDef& graph,
                                                    const FoldBatchNormsOptions& options) {
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(graph));
  FoldBatchNormsResult result;
  TFQAT_ASSIGN_OR_RETURN(bool changed, bnfold::FoldBatchNormsWithView(view, options, &result));
  if (!changed) result.graph = graph;
  return result;
}

}  // namespace tfqat

// Train-mode batch-norm folding (tf.contrib.quantize fold_batch_norms.py, Krishnamoorthi 2018
// eqs. 22–31), emitted with the contract vocabulary only:
//   W_Fold(x, mul_fold = w · γ/σ_moving) · correction_recip + bias  (= add_fold)
// with correction_recip = σ_moving/σ and bias = β + (b − μ)·γ/σ, where (μ, σ) are the batch
// statistics before global_step reaches freeze_bn_delay and the moving ones after.
// The exact node structure is documented in docs/batchnorm.md.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "rewriter/fold_batch_norms_internal.h"

namespace tfqat::bnfold {

namespace {

using tensorflow::DT_FLOAT;

// A variable holding a moving statistic: its VariableV2 node and the tensor to read.
struct StatVar {
  std::string var;
  std::string read;
};

// VariableV2 + <var>/initial_value + <var>/Assign + <var>/read (CONTRACTS.md).
StatVar MakeVariable(const std::string& base, tensorflow::DataType dtype, const std::vector<int64_t>& shape,
                     const tensorflow::TensorProto& init, NodeBuilder* b, MutableGraph* g) {
  tensorflow::NodeDef* v = b->Add(g->UniqueName(base), "VariableV2", {});
  const std::string var = v->name();
  SetAttr(v, "dtype", dtype);
  SetAttr(v, "shape", ShapeToProto(shape));
  SetAttr(v, "container", "");
  SetAttr(v, "shared_name", "");
  tensorflow::NodeDef* iv = b->Add(var + "/initial_value", "Const", {});
  SetAttr(iv, "dtype", dtype);
  SetAttr(iv, "value", init);
  const std::string iv_name = iv->name();
  tensorflow::NodeDef* as = b->Add(var + "/Assign", "Assign", {var, iv_name});
  SetAttr(as, "T", dtype);
  SetAttr(as, "validate_shape", true);
  SetAttr(as, "use_locking", true);
  tensorflow::NodeDef* rd = b->Add(var + "/read", "Identity", {var});
  SetAttr(rd, "T", dtype);
  return {var, rd->name()};
}

// The variable behind a moving statistic input (Identity(VariableV2) or VariableV2), or a new
// variable initialised from a constant. `why` is set when neither applies.
StatVar StatVariable(const GraphView& view, const std::string& input, const std::string& base,
                     int64_t channels, NodeBuilder* b, MutableGraph* g, std::string* why) {
  auto ref = ParseTensorRef(input);
  if (!ref.ok()) {
    *why = std::string(ref.status().message());
    return {};
  }
  auto idx = view.index(ref->node);
  int n = *idx;
  const auto& node = view.node(n);
  if (node.op() == "VariableV2" || node.op() == "Variable") return {node.name(), input};
  if (node.op() == "Identity") {
    auto in = view.data_fanin(n);
    if (in.size() == 1 && (view.node(in[0].node).op() == "VariableV2" || view.node(in[0].node).op() == "Variable")) {
      return {view.node(in[0].node).name(), input};
    }
  }
  // A constant (possibly behind Identity): becomes a variable so it can be updated.
  int c = n;
  while (view.node(c).op() == "Identity" && view.data_fanin(c).size() == 1) c = view.data_fanin(c)[0].node;
  if (view.node(c).op() != "Const") {
    *why = absl::StrCat("its moving statistic '", input, "' is neither a variable nor a constant");
    return {};
  }
  auto t = DecodeConst<float>(view.node(c));
  if (!t.ok()) {
    *why = std::string(t.status().message());
    return {};
  }
  if (t->num_elements() != channels) {
    *why = absl::StrCat("its moving statistic '", input, "' has ", t->num_elements(), " elements, not ", channels,
                        " (empty moving statistics: the moving averages live outside the op)");
    return {};
  }
  HostTensor<float> init;
  init.shape = {channels};
  init.values = t->values;
  return MakeVariable(base, DT_FLOAT, {channels}, EncodeTensor(init), b, g);
}

std::string GlobalStepRead(const FoldBatchNormsOptions& opt, NodeBuilder* b, MutableGraph* g) {
  const std::string& gs = opt.global_step;
  if (g->HasNode(gs)) {
    const std::string read = gs + "/read";
    const tensorflow::NodeDef* r = g->FindNode(read);
    if (r != nullptr && r->op() == "Identity") return read;
    return b->Op(read, "Identity", {gs}, tensorflow::DT_INT64);
  }
  HostTensor<int64_t> zero;
  zero.values = {0};
  return MakeVariable(gs, tensorflow::DT_INT64, {}, EncodeTensor(zero), b, g).read;
}

void AddToUpdateOps(const FoldBatchNormsOptions& opt, const std::vector<std::string>& updates, NodeBuilder* b,
                    MutableGraph* g) {
  tensorflow::NodeDef* group = g->FindNode(opt.update_ops);
  if (group == nullptr) group = b->Add(opt.update_ops, "NoOp", {});
  for (const auto& u : updates) group->add_input("^" + u);
}

std::string PerChannelToOutput(const Layout& l, const std::string& x, const std::string& name, NodeBuilder* b) {
  if (!l.nchw) return x;
  return b->Reshape(name, x, {static_cast<int32_t>(l.channels), 1, 1});
}

// Copies the weighted op as <scope>/<op>_Fold reading `weights`.
std::string CloneWeighted(const GraphView& view, const Candidate& cand, const std::string& weights, NodeBuilder* b) {
  const auto& w = view.node(cand.weighted);
  std::string base = w.name().substr(w.name().rfind('/') == std::string::npos ? 0 : w.name().rfind('/') + 1);
  tensorflow::NodeDef* n = b->Add(absl::StrCat(ScopeOf(w.name()), "/", base, "_Fold"), w.op(), {});
  const std::string name = n->name();
  for (int i = 0; i < w.input_size(); ++i) {
    const std::string& in = w.input(i);
    if (!in.empty() && in[0] == '^') continue;
    n->add_input(i == 1 ? weights : in);
  }
  *n->mutable_attr() = w.attr();
  return name;
}

}  // namespace

absl::Status EmitTrainCorrection(const GraphView& view, const FoldBatchNormsOptions& opt, const Candidate& cand,
                                 NodeBuilder* b, MutableGraph* g, FoldedLayer* fl, std::string* why) {
  const Layout& l = cand.layout;
  const auto& bn = view.node(cand.bn);
  const std::string L = ScopeOf(view.node(cand.weighted).name());
  const std::string P = L + "/BatchNorm_Fold";
  const int64_t C = l.channels;
  // Moving statistics as variables (checked before anything is emitted).
  {
    auto ref = ParseTensorRef(cand.params[2]);
    auto ref2 = ParseTensorRef(cand.params[3]);
    for (const auto* r : {&ref, &ref2}) {
      if (!r->ok()) {
        *why = std::string(r->status().message());
        return absl::OkStatus();
      }
      int n = *view.index((*r)->node);
      while (view.node(n).op() == "Identity" && view.data_fanin(n).size() == 1) n = view.data_fanin(n)[0].node;
      const auto& op = view.node(n).op();
      if (op == "Const") {
        auto t = DecodeConst<float>(view.node(n));
        if (!t.ok() || t->num_elements() != C) {
          *why = "its mean/variance inputs are not moving statistics of one value per channel "
                 "(TF1 fused training batch norms keep them outside the op; fold those from a graph "
                 "whose batch norm reads its moving statistics)";
          return absl::OkStatus();
        }
      } else if (op != "VariableV2" && op != "Variable") {
        *why = absl::StrCat("its moving statistic '", (*r)->node, "' is neither a variable nor a constant");
        return absl::OkStatus();
      }
    }
  }
  StatVar mmean = StatVariable(view, cand.params[2], P + "/moving_mean", C, b, g, why);
  if (!why->empty()) return absl::OkStatus();
  StatVar mvar = StatVariable(view, cand.params[3], P + "/moving_variance", C, b, g, why);
  if (!why->empty()) return absl::OkStatus();
  const std::string& gamma = cand.params[0];
  const std::string& beta = cand.params[1];

  // Batch statistics of the un-folded layer output z (biased variance, as the normalisation uses).
  const std::string z = bn.input(0);
  const std::vector<int32_t> axes = l.nchw ? std::vector<int32_t>{0, 2, 3} : std::vector<int32_t>{0, 1, 2};
  const std::string axes_c = b->ConstInt32(P + "/moments/axes", axes);
  auto mean_op = [&](const std::string& name, const std::string& x) {
    tensorflow::NodeDef* n = b->Add(name, "Mean", {x, axes_c});
    SetAttr(n, "T", DT_FLOAT);
    SetAttr(n, "Tidx", tensorflow::DT_INT32);
    SetAttr(n, "keep_dims", true);
    return n->name();
  };
  const std::string mean_k = mean_op(P + "/moments/mean", z);
  const std::string centered = b->Op(P + "/moments/centered", "Sub", {z, mean_k}, DT_FLOAT);
  const std::string sq = b->Op(P + "/moments/squared", "Square", {centered}, DT_FLOAT);
  const std::string var_k = mean_op(P + "/moments/variance", sq);
  const std::string batch_mean = b->Reshape(P + "/batch_mean", mean_k, {static_cast<int32_t>(C)});
  const std::string batch_var = b->Reshape(P + "/batch_variance", var_k, {static_cast<int32_t>(C)});

  const std::string eps = b->ConstFloat(P + "/epsilon", {}, {cand.epsilon});
  const std::string step = GlobalStepRead(opt, b, g);
  const std::string delay = b->ConstInt64Scalar(P + "/freeze_bn_delay", opt.freeze_bn_delay);
  const std::string use_moving = b->Op(P + "/use_moving_average", "GreaterEqual", {step, delay}, tensorflow::DT_INT64);
  const std::string moving_sigma =
      b->Op(P + "/moving_sigma", "Sqrt", {b->Op(P + "/moving_variance_eps", "AddV2", {mvar.read, eps}, DT_FLOAT)},
            DT_FLOAT);
  const std::string batch_sigma =
      b->Op(P + "/batch_sigma", "Sqrt", {b->Op(P + "/batch_variance_eps", "AddV2", {batch_var, eps}, DT_FLOAT)},
            DT_FLOAT);
  const std::string sigma = b->Op(P + "/sigma", "SelectV2", {use_moving, moving_sigma, batch_sigma}, DT_FLOAT);
  const std::string mean = b->Op(P + "/mean", "SelectV2", {use_moving, mmean.read, batch_mean}, DT_FLOAT);

  // Weights folded with the moving σ: what the converter will quantize.
  std::string scale = b->Op(P + "/fold_scale", "RealDiv", {gamma, moving_sigma}, DT_FLOAT);
  scale = ShapeScaleForWeights(l, scale, P, b);
  const std::string mul_fold = b->Op(L + "/mul_fold", "Mul", {cand.weights_input, scale}, DT_FLOAT);
  const std::string conv_fold = CloneWeighted(view, cand, mul_fold, b);
  // correction_recip = σ_moving / σ (exactly 1 once frozen).
  std::string recip = b->Op(P + "/correction_recip", "RealDiv", {moving_sigma, sigma}, DT_FLOAT);
  recip = PerChannelToOutput(l, recip, P + "/correction_recip_nchw", b);
  const std::string corr = b->Op(L + "/correction_mult", "Mul", {conv_fold, recip}, DT_FLOAT);
  // bias = β + (b − μ)·γ/σ  (without a bias add: β − μ·γ/σ).
  const std::string gamma_over_sigma = b->Op(P + "/gamma_over_sigma", "RealDiv", {gamma, sigma}, DT_FLOAT);
  std::string centered_bias;
  if (!cand.bias_param.empty()) {
    std::string bp = cand.bias_param;
    if (l.nchw && view.node(cand.bias).op() != "BiasAdd") {
      bp = b->Reshape(P + "/bias_flat", bp, {static_cast<int32_t>(C)});
    }
    centered_bias = b->Op(P + "/bias_minus_mean", "Sub", {bp, mean}, DT_FLOAT);
  } else {
    centered_bias = b->Op(P + "/neg_mean", "Sub", {b->ConstFloat(P + "/zero", {}, {0.f}), mean}, DT_FLOAT);
  }
  const std::string offset = b->Op(P + "/correction_add", "AddV2",
                                   {beta, b->Op(P + "/scaled_mean", "Mul", {centered_bias, gamma_over_sigma}, DT_FLOAT)},
                                   DT_FLOAT);
  const std::string offset_r = PerChannelToOutput(l, offset, P + "/correction_add_nchw", b);
  const std::string add_fold = b->Op(L + "/add_fold", "AddV2", {corr, offset_r}, DT_FLOAT);

  // Moving averages: m ← m − (1 − decay)·(m − batch), stopped once frozen.
  float decay = opt.bn_decay;
  if (bn.op() == "FusedBatchNormV3") {
    auto f = GetAttrOr<float>(bn, "exponential_avg_factor", 1.0f);
    if (f.ok() && *f != 1.0f) decay = 1.0f - *f;
  }
  const std::string factor =
      b->Op(P + "/update_factor", "SelectV2",
            {use_moving, b->ConstFloat(P + "/update_factor/frozen", {}, {0.f}),
             b->ConstFloat(P + "/update_factor/active", {}, {1.0f - decay})},
            DT_FLOAT);
  std::vector<std::string> updates;
  for (const auto& [sv, batch, name] : {std::make_tuple(mmean, batch_mean, std::string("AssignMovingMean")),
                                        std::make_tuple(mvar, batch_var, std::string("AssignMovingVariance"))}) {
    const std::string diff = b->Op(P + "/" + name + "/diff", "Sub", {sv.read, batch}, DT_FLOAT);
    const std::string delta = b->Op(P + "/" + name + "/delta", "Mul", {diff, factor}, DT_FLOAT);
    tensorflow::NodeDef* a = b->Add(P + "/" + name, "AssignSub", {sv.var, delta});
    SetAttr(a, "T", DT_FLOAT);
    SetAttr(a, "use_locking", false);
    updates.push_back(a->name());
  }
  AddToUpdateOps(opt, updates, b, g);

  g->RewireConsumers(TensorRef{bn.name(), 0, false}, TensorRef{add_fold, 0, false});
  fl->output = add_fold;
  fl->folded_weights = mul_fold;
  return absl::OkStatus();
}

absl::Status EmitTrainMovingFold(const GraphView& view, const FoldBatchNormsOptions& opt, const Candidate& cand,
                                 NodeBuilder* b, MutableGraph* g, FoldedLayer* fl, std::string* why) {
  (void)opt;
  const Layout& l = cand.layout;
  const auto& bn = view.node(cand.bn);
  const std::string L = ScopeOf(view.node(cand.weighted).name());
  const std::string P = L + "/BatchNorm_Fold";
  const int32_t C = static_cast<int32_t>(l.channels);
  // Only parameters (constants, variable reads) may be folded into the weights: a tensor
  // computed from the data (e.g. from the layer's own output) would make a cycle.
  if (!cand.fused) {
    *why = "train mode folds an unfused chain only when its scale and offset are constants";
    return absl::OkStatus();
  }
  for (const auto& p : cand.params) {
    auto ref = ParseTensorRef(p);
    if (!ref.ok() || !IsParamRead(view, *view.index(ref->node))) {
      *why = absl::StrCat("its parameter '", p, "' is not a constant or a variable read");
      return absl::OkStatus();
    }
  }
  std::string k, c;
  {
    const std::string eps = b->ConstFloat(P + "/epsilon", {}, {cand.epsilon});
    const std::string sigma = b->Op(
        P + "/sigma", "Sqrt", {b->Op(P + "/variance_eps", "AddV2", {cand.params[3], eps}, DT_FLOAT)}, DT_FLOAT);
    k = b->Op(P + "/fold_scale", "RealDiv", {cand.params[0], sigma}, DT_FLOAT);
    c = b->Op(P + "/bias", "Sub", {cand.params[1], b->Op(P + "/scaled_mean", "Mul", {cand.params[2], k}, DT_FLOAT)},
              DT_FLOAT);
  }
  if (!cand.bias_param.empty()) {
    std::string bp = b->Reshape(P + "/bias_flat", cand.bias_param, {C});
    c = b->Op(P + "/bias_total", "AddV2", {c, b->Op(P + "/scaled_bias", "Mul", {bp, k}, DT_FLOAT)}, DT_FLOAT);
  }
  const std::string scale = ShapeScaleForWeights(l, k, P, b);
  const std::string mul_fold = b->Op(L + "/mul_fold", "Mul", {cand.weights_input, scale}, DT_FLOAT);
  tensorflow::NodeDef* w = g->FindNode(view.node(cand.weighted).name());
  w->set_input(1, mul_fold);
  const std::string c_r = PerChannelToOutput(l, c, P + "/bias_nchw", b);
  const std::string add_fold = b->Op(L + "/add_fold", "AddV2", {view.node(cand.weighted).name(), c_r}, DT_FLOAT);
  g->RewireConsumers(TensorRef{bn.name(), 0, false}, TensorRef{add_fold, 0, false});
  fl->output = add_fold;
  fl->folded_weights = mul_fold;
  return absl::OkStatus();
}

}  // namespace tfqat::bnfold

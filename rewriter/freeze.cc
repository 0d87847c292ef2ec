// Trained graph -> annotated frozen graph (see freeze.h for the rules, in order).
#include "rewriter/freeze.h"

#include <deque>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "rewriter/fold_batch_norms_const.h"

namespace tfqat {

namespace {

using tensorflow::GraphDef;
using tensorflow::NodeDef;

bool IsVariableOp(const std::string& op) {
  return op == "VariableV2" || op == "Variable" || op == "VarHandleOp";
}

std::string Describe(const NodeDef& n) { return absl::StrCat("node '", n.name(), "' (", n.op(), ")"); }

// Follows Identity / Cast / ReadVariableOp towards a variable; returns its node or -1.
int VariableBehind(const GraphView& view, int n) {
  for (int hop = 0; hop < 8; ++hop) {
    const auto& op = view.node(n).op();
    if (IsVariableOp(op)) return n;
    if (op != "Identity" && op != "Cast" && op != "ReadVariableOp") return -1;
    auto in = view.data_fanin(n);
    if (in.empty()) return -1;
    n = in[0].node;
  }
  return -1;
}

// Keeps the nodes `outputs` need (data and control inputs), in graph order.
absl::StatusOr<GraphDef> Prune(const GraphDef& g, const std::vector<std::string>& outputs, int* removed) {
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(g));
  std::vector<char> keep(view.num_nodes(), 0);
  std::deque<int> q;
  for (const auto& o : outputs) {
    auto i = view.index(NodeNameOf(o));
    if (!i) return absl::InvalidArgumentError(absl::StrCat("output '", o, "' is not a node of the graph"));
    if (!keep[*i]) {
      keep[*i] = 1;
      q.push_back(*i);
    }
  }
  while (!q.empty()) {
    int n = q.front();
    q.pop_front();
    for (const auto& p : view.fanin(n)) {
      if (!keep[p.node]) {
        keep[p.node] = 1;
        q.push_back(p.node);
      }
    }
  }
  GraphDef out;
  *out.mutable_versions() = g.versions();
  *out.mutable_library() = g.library();
  for (int i = 0; i < view.num_nodes(); ++i) {
    if (keep[i]) *out.add_node() = view.node(i);
    else if (removed != nullptr) ++*removed;
  }
  return out;
}

absl::StatusOr<tensorflow::TensorProto> VariableValue(const GraphView& view, int var, const FreezeOptions& opt) {
  const NodeDef& v = view.node(var);
  auto it = opt.values.find(v.name());
  if (it != opt.values.end()) return it->second;
  if (const NodeDef* iv = view.FindNode(v.name() + "/initial_value"); iv != nullptr && iv->op() == "Const") {
    return GetAttr<tensorflow::TensorProto>(*iv, "value");
  }
  // Any Assign(var, Const) initialiser.
  for (const auto& c : view.fanout(var)) {
    const NodeDef& a = view.node(c.node);
    if (c.is_control || c.input_slot != 0 || (a.op() != "Assign" && a.op() != "AssignVariableOp")) continue;
    auto in = view.data_fanin(c.node);
    if (in.size() < 2) continue;
    int src = in[1].node;
    while (view.node(src).op() == "Identity" && !view.data_fanin(src).empty()) src = view.data_fanin(src)[0].node;
    if (view.node(src).op() == "Const") return GetAttr<tensorflow::TensorProto>(view.node(src), "value");
  }
  return absl::NotFoundError(absl::StrCat(Describe(v), ": no trained value (no '", v.name(),
                                          "/initial_value' Const, no constant initialiser, no --values-from entry)"));
}

const absl::flat_hash_set<std::string>& FoldableOps() {
  static const auto* s = new absl::flat_hash_set<std::string>{
      "Mul", "RealDiv", "Sub", "Add", "AddV2", "Rsqrt", "Sqrt", "Reshape", "Square", "Maximum", "Minimum",
      "Neg", "Reciprocal"};
  return *s;
}

}  // namespace

bool IsTrainingOnlyOp(const std::string& op) {
  static const auto* s = new absl::flat_hash_set<std::string>{
      "VariableV2", "Variable", "VarHandleOp", "VarIsInitializedOp", "Assign", "AssignAdd", "AssignSub",
      "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "NoOp", "SaveV2", "RestoreV2", "Save",
      "SaveSlices", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
      "IsVariableInitialized",
      "ApplyGradientDescent", "ApplyMomentum", "ApplyAdam", "ApplyRMSProp", "ApplyAdagrad",
      "ResourceApplyGradientDescent", "ResourceApplyMomentum", "ResourceApplyAdam", "ResourceApplyRMSProp",
      "ResourceApplyAdagrad", "BroadcastGradientArgs"};
  return s->contains(op);
}

absl::StatusOr<FreezeResult> Freeze(const GraphDef& graph, const FreezeOptions& options) {
  if (options.outputs.empty()) {
    return absl::InvalidArgumentError("freeze needs the output nodes (--outputs NODE,...)");
  }
  FreezeResult result;
  TFQAT_ASSIGN_OR_RETURN(GraphView in_view, GraphView::Create(graph));
  {
    std::vector<std::string> unknown;
    for (const auto& o : options.outputs) {
      if (!in_view.index(NodeNameOf(o))) unknown.push_back(absl::StrCat("'", o, "'"));
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown output node", unknown.size() > 1 ? "s " : " ", absl::StrJoin(unknown, ", "),
                       ": name nodes of the graph (tfqat inspect lists them)"));
    }
  }

  // 1. Resolve step switches: SelectV2(GreaterEqual(global_step, d), a, b) -> a. Drop control
  //    inputs that come from training-only nodes.
  GraphDef g = graph;
  {
    absl::flat_hash_map<std::string, std::string> rewire;  // select name -> final input
    for (int i = 0; i < in_view.num_nodes(); ++i) {
      const NodeDef& n = in_view.node(i);
      if (n.op() != "SelectV2" && n.op() != "Select") continue;
      auto fanin = in_view.data_fanin(i);
      if (fanin.size() != 3) continue;
      const NodeDef& cond = in_view.node(fanin[0].node);
      if (cond.op() != "GreaterEqual") continue;
      auto cin = in_view.data_fanin(fanin[0].node);
      if (cin.size() != 2) continue;
      int var = VariableBehind(in_view, cin[0].node);
      if (var < 0 || in_view.node(var).name() != options.global_step) continue;
      rewire[n.name()] = in_view.inputs(i)[1].ToString();
    }
    auto resolve = [&](std::string in) {
      for (int hop = 0; hop < 16; ++hop) {
        auto ref = ParseTensorRef(in);
        if (!ref.ok() || ref->is_control || ref->port != 0) return in;
        auto it = rewire.find(ref->node);
        if (it == rewire.end()) return in;
        in = it->second;
      }
      return in;
    };
    absl::flat_hash_set<std::string> training_only;
    for (const auto& n : graph.node()) {
      if (IsTrainingOnlyOp(n.op())) training_only.insert(n.name());
    }
    std::vector<std::string> outputs = options.outputs;
    for (auto& n : *g.mutable_node()) {
      auto* inputs = n.mutable_input();
      int w = 0;
      for (int r = 0; r < inputs->size(); ++r) {
        std::string in = inputs->Get(r);
        if (!in.empty() && in[0] == '^') {
          if (training_only.contains(in.substr(1)) && !IsTrainingOnlyOp(n.op())) continue;
        } else {
          in = resolve(in);
        }
        *inputs->Mutable(w++) = in;
      }
      while (inputs->size() > w) inputs->RemoveLast();
    }
    // A resolved switch that is itself an output keeps its name as Identity(final input).
    for (const auto& o : outputs) {
      auto it = rewire.find(std::string(NodeNameOf(o)));
      if (it == rewire.end()) continue;
      for (auto& n : *g.mutable_node()) {
        if (n.name() != it->first) continue;
        auto t = GetAttrOr<tensorflow::DataType>(n, "T", tensorflow::DT_FLOAT);
        n.set_op("Identity");
        n.clear_input();
        n.add_input(resolve(it->second));
        n.clear_attr();
        SetAttr(&n, "T", t.ok() ? *t : tensorflow::DT_FLOAT);
      }
    }
    for (const auto& [name, target] : rewire) result.resolved_switches.push_back(name);
    std::sort(result.resolved_switches.begin(), result.resolved_switches.end());
  }
  int removed_first = 0;
  TFQAT_ASSIGN_OR_RETURN(g, Prune(g, options.outputs, &removed_first));

  // 2. Variables -> Const with their values; ReadVariableOp -> Identity.
  {
    TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(g));
    std::vector<std::string> missing;
    std::vector<std::pair<int, tensorflow::TensorProto>> values;
    for (int i = 0; i < view.num_nodes(); ++i) {
      if (!IsVariableOp(view.node(i).op())) continue;
      auto v = VariableValue(in_view, *in_view.index(view.node(i).name()), options);
      if (!v.ok()) {
        missing.push_back(std::string(v.status().message()));
        continue;
      }
      values.emplace_back(i, *v);
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("variables the outputs need have no value: ",
                                                        absl::StrJoin(missing, "; ")));
    }
    for (auto& [i, value] : values) {
      NodeDef* n = g.mutable_node(i);
      tensorflow::DataType dt = value.dtype();
      if (dt == tensorflow::DT_INVALID) {
        auto a = GetAttrOr<tensorflow::DataType>(*n, "dtype", tensorflow::DT_FLOAT);
        dt = a.ok() ? BaseType(*a) : tensorflow::DT_FLOAT;
        value.set_dtype(dt);
      }
      result.frozen_variables.push_back(n->name());
      n->set_op("Const");
      n->clear_input();
      n->clear_attr();
      SetAttr(n, "dtype", BaseType(dt));
      SetAttr(n, "value", value);
    }
    for (auto& n : *g.mutable_node()) {
      if (n.op() != "ReadVariableOp") continue;
      auto dt = GetAttrOr<tensorflow::DataType>(n, "dtype", tensorflow::DT_FLOAT);
      n.set_op("Identity");
      n.clear_attr();
      SetAttr(&n, "T", dt.ok() ? *dt : tensorflow::DT_FLOAT);
    }
  }

  // 3. Constant folding of float arithmetic, then the frozen batch-norm corrections.
  if (options.fold_constants) {
    TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(g));
    bnfold::ConstEvaluator eval(view);
    absl::flat_hash_set<std::string> outs;
    for (const auto& o : options.outputs) outs.insert(std::string(NodeNameOf(o)));
    std::vector<std::pair<int, HostTensor<double>>> folded;
    for (int i = 0; i < view.num_nodes(); ++i) {
      const NodeDef& n = view.node(i);
      if (!FoldableOps().contains(n.op())) continue;
      auto t = GetAttrOr<tensorflow::DataType>(n, "T", tensorflow::DT_INVALID);
      if (!t.ok() || *t != tensorflow::DT_FLOAT) continue;
      auto v = eval.Eval(i);
      if (v.ok()) folded.emplace_back(i, *std::move(v));
    }
    for (auto& [i, v] : folded) {
      NodeDef* n = g.mutable_node(i);
      HostTensor<float> f;
      f.shape = v.shape;
      f.values.assign(v.values.begin(), v.values.end());
      std::vector<std::string> controls;
      for (const auto& in : n->input())
        if (!in.empty() && in[0] == '^') controls.push_back(in);
      n->set_op("Const");
      n->clear_input();
      for (const auto& c : controls) n->add_input(c);
      n->clear_attr();
      SetAttr(n, "dtype", tensorflow::DT_FLOAT);
      SetAttr(n, "value", EncodeTensor(f));
      ++result.folded_constants;
    }
    // */correction_mult = Mul(x, ones): the frozen correction is the identity.
    TFQAT_ASSIGN_OR_RETURN(GraphView view2, GraphView::Create(g));
    bnfold::ConstEvaluator eval2(view2);
    absl::flat_hash_map<std::string, std::string> bypass;
    for (int i = 0; i < view2.num_nodes(); ++i) {
      const NodeDef& n = view2.node(i);
      if (n.op() != "Mul" || !absl::EndsWith(n.name(), "/correction_mult") || outs.contains(n.name())) continue;
      auto fanin = view2.data_fanin(i);
      if (fanin.size() != 2) continue;
      for (int side = 0; side < 2; ++side) {
        auto v = eval2.Eval(fanin[side].node, fanin[side].port);
        if (!v.ok()) continue;
        bool ones = true;
        for (double x : v->values) ones = ones && x == 1.0;
        if (ones) {
          bypass[n.name()] = view2.inputs(i)[1 - side].ToString();
          break;
        }
      }
    }
    for (auto& n : *g.mutable_node()) {
      for (auto& in : *n.mutable_input()) {
        auto ref = ParseTensorRef(in);
        if (!ref.ok() || ref->is_control || ref->port != 0) continue;
        auto it = bypass.find(ref->node);
        if (it != bypass.end()) in = it->second;
      }
    }
    for (const auto& [name, target] : bypass) result.removed_corrections.push_back(name);
    std::sort(result.removed_corrections.begin(), result.removed_corrections.end());
  }
  int removed_second = 0;
  TFQAT_ASSIGN_OR_RETURN(g, Prune(g, options.outputs, &removed_second));

  // 4. Verify: no training-only op remains.
  std::vector<std::string> remaining;
  for (const auto& n : g.node()) {
    if (IsTrainingOnlyOp(n.op()) || n.name() == options.global_step ||
        absl::StartsWith(n.name(), "gradients/")) {
      remaining.push_back(Describe(n));
    }
    if (absl::StartsWith(n.op(), "FusedBatchNorm")) {
      auto tr = GetAttrOr<bool>(n, "is_training", true);
      if (tr.ok() && *tr) {
        result.notes.push_back(absl::StrCat(Describe(n), ": is_training=true: it normalises with batch statistics "
                                                          "in the frozen graph too"));
      }
    }
  }
  if (!remaining.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("training-only nodes remain in the frozen graph: ",
                                                      absl::StrJoin(remaining, ", ")));
  }
  result.removed_nodes = graph.node_size() - g.node_size();
  result.graph = std::move(g);
  return result;
}

}  // namespace tfqat

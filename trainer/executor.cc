#include "trainer/executor.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/attrs.h"
#include "graph/status_macros.h"

namespace tfqat {
namespace {

bool IsRefVariableOp(const std::string& op) { return op == "VariableV2" || op == "Variable"; }
bool IsVariableOp(const std::string& op) { return IsRefVariableOp(op) || op == "VarHandleOp"; }

std::string NodeLabel(const tensorflow::NodeDef& n) { return absl::StrCat("node '", n.name(), "' (", n.op(), ")"); }

}  // namespace

bool IsExecutorBuiltinOp(const std::string& op) {
  static const auto* kOps = new absl::flat_hash_set<std::string>{
      "Placeholder", "PlaceholderWithDefault", "Const", "VariableV2", "Variable", "VarHandleOp",
      "ReadVariableOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp",
      "AssignAddVariableOp", "AssignSubVariableOp", "NoOp", "IsVariableInitialized",
      "VarIsInitializedOp"};
  return kOps->contains(op);
}

std::pair<std::string, int> ParseFetchName(const std::string& name) {
  auto colon = name.rfind(':');
  int port = 0;
  if (colon != std::string::npos && absl::SimpleAtoi(name.substr(colon + 1), &port)) {
    return {name.substr(0, colon), port};
  }
  return {name, 0};
}

absl::StatusOr<Executor> Executor::Create(const tensorflow::GraphDef& graph, const ExecutorOptions& options) {
  Executor ex;
  ex.graph_ = std::make_unique<tensorflow::GraphDef>(graph);
  TFQAT_RETURN_IF_ERROR(ex.Init(options));
  return ex;
}

absl::Status Executor::Init(const ExecutorOptions& options) {
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(*graph_));
  view_ = std::make_unique<GraphView>(std::move(view));
  parallel_ = std::make_unique<Parallel>(options.num_threads);
  TFQAT_ASSIGN_OR_RETURN(topo_, view_->TopologicalOrder());
  const int n = view_->num_nodes();
  topo_pos_.assign(n, 0);
  for (int k = 0; k < n; ++k) topo_pos_[topo_[k]] = k;
  const KernelTable& table = ExecutorKernels();
  kernels_.assign(n, nullptr);
  var_key_.assign(n, "");
  std::vector<std::string> unsupported;
  for (int i = 0; i < n; ++i) {
    const auto& node = view_->node(i);
    if (auto it = table.find(node.op()); it != table.end()) kernels_[i] = it->second;
    if (IsVariableOp(node.op())) var_key_[i] = node.name();
    if (node.op() == "Const") {
      auto value = GetAttr<tensorflow::TensorProto>(node, "value");
      if (!value.ok()) return value.status();
      auto t = TensorFromProto(*value, NodeLabel(node));
      if (!t.ok()) {
        if (options.check_all_ops) return t.status();
        continue;
      }
      consts_[i] = std::move(*t);
    }
  }
  if (options.check_all_ops) {
    auto bad = UnsupportedNodes();
    if (!bad.empty()) {
      return absl::UnimplementedError(absl::StrCat(
          "unsupported op", bad.size() > 1 ? "s" : "", ": ", absl::StrJoin(bad, ", ")));
    }
  }
  if (options.initialize_variables) TFQAT_RETURN_IF_ERROR(InitializeVariables());
  return absl::OkStatus();
}

std::vector<std::string> Executor::UnsupportedNodes() const {
  std::vector<std::string> bad;
  for (int i = 0; i < view_->num_nodes(); ++i) {
    const auto& node = view_->node(i);
    if (kernels_[i] == nullptr && !IsExecutorBuiltinOp(node.op())) {
      bad.push_back(absl::StrCat("'", node.name(), "' (", node.op(), ")"));
    }
  }
  return bad;
}

absl::Status Executor::InitializeVariables() {
  for (int v = 0; v < view_->num_nodes(); ++v) {
    if (var_key_[v].empty()) continue;
    const std::string& name = view_->node(v).name();
    std::vector<int> assigns;
    int named = -1;
    for (const Consumer& c : view_->fanout(v)) {
      if (c.is_control || c.input_slot != 0) continue;
      const auto& op = view_->node(c.node).op();
      if (op != "Assign" && op != "AssignVariableOp") continue;
      assigns.push_back(c.node);
      if (view_->node(c.node).name() == name + "/Assign") named = c.node;
    }
    int init = named;
    if (init < 0) {
      // The only Assign whose value comes from a Const (possibly through Identity).
      int found = -1, count = 0;
      for (int a : assigns) {
        auto fanin = view_->data_fanin(a);
        if (fanin.size() < 2) continue;
        int p = fanin[1].node;
        while (view_->node(p).op() == "Identity" && !view_->data_fanin(p).empty()) p = view_->data_fanin(p)[0].node;
        if (view_->node(p).op() == "Const") { found = a; ++count; }
      }
      if (count == 1) init = found;
    }
    if (init < 0) continue;
    // Initializers whose inputs cannot run (unsupported ops, uninitialised variables) are left.
    auto st = Run({}, {}, {view_->node(init).name()});
    (void)st;
  }
  return absl::OkStatus();
}

std::vector<std::string> Executor::VariableNames() const {
  std::vector<std::string> names;
  for (int i = 0; i < view_->num_nodes(); ++i) if (!var_key_[i].empty()) names.push_back(var_key_[i]);
  return names;
}

bool Executor::IsVariableInitialized(const std::string& name) const { return vars_.contains(name); }

absl::StatusOr<Tensor> Executor::GetVariable(const std::string& name) const {
  auto it = vars_.find(name);
  if (it != vars_.end()) return it->second;
  auto idx = view_->index(name);
  if (idx && consts_.contains(*idx)) return consts_.at(*idx);
  if (idx && !var_key_[*idx].empty()) {
    return absl::FailedPreconditionError(absl::StrCat("variable '", name, "' is not initialized"));
  }
  return absl::NotFoundError(absl::StrCat("no variable named '", name, "'"));
}

absl::StatusOr<Tensor> Executor::GetConst(const std::string& name) const {
  auto idx = view_->index(name);
  if (!idx || !consts_.contains(*idx)) return absl::NotFoundError(absl::StrCat("no Const named '", name, "'"));
  return consts_.at(*idx);
}

absl::Status Executor::SetVariable(const std::string& name, Tensor value) {
  auto idx = view_->index(name);
  if (!idx) return absl::NotFoundError(absl::StrCat("no node named '", name, "'"));
  if (!var_key_[*idx].empty()) {
    vars_[var_key_[*idx]] = std::move(value);
    return absl::OkStatus();
  }
  if (view_->node(*idx).op() == "Const") {
    consts_[*idx] = std::move(value);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(NodeLabel(view_->node(*idx)), " is neither a variable nor a Const"));
}

absl::StatusOr<std::string> Executor::ResolveVariable(int node, int input_slot) const {
  const auto& fanin = view_->fanin(node);
  if (input_slot >= static_cast<int>(fanin.size())) {
    return absl::InvalidArgumentError(absl::StrCat(NodeLabel(view_->node(node)), ": missing variable input"));
  }
  int p = fanin[input_slot].node;
  while (var_key_[p].empty() &&
         (view_->node(p).op() == "Identity" || view_->node(p).op() == "RefIdentity") &&
         !view_->fanin(p).empty()) {
    p = view_->fanin(p)[0].node;
  }
  if (var_key_[p].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(NodeLabel(view_->node(node)), ": input ", input_slot,
                                                   " is not a variable (", NodeLabel(view_->node(p)), ")"));
  }
  return var_key_[p];
}

absl::StatusOr<std::vector<Tensor>> Executor::Run(const std::map<std::string, Tensor>& feeds,
                                                  const std::vector<std::string>& fetches,
                                                  const std::vector<std::string>& targets) {
  RunTrace trace;
  return RunWithTrace(feeds, fetches, targets, &trace);
}

absl::StatusOr<std::vector<Tensor>> Executor::RunWithTrace(const std::map<std::string, Tensor>& feeds,
                                                           const std::vector<std::string>& fetches,
                                                           const std::vector<std::string>& targets,
                                                           RunTrace* trace) {
  const int n = view_->num_nodes();
  if (trace->pool) {
    for (auto& vals : trace->values)
      for (Tensor& t : vals) trace->pool->Give(std::move(t.f));
  }
  trace->values.assign(n, {});
  trace->executed.assign(n, 0);
  trace->ref_reads.clear();
  std::vector<char> fed(n, 0);
  for (const auto& [name, value] : feeds) {
    auto [node, port] = ParseFetchName(name);
    auto idx = view_->index(node);
    if (!idx) return absl::InvalidArgumentError(absl::StrCat("feed '", name, "': no such node"));
    fed[*idx] = 1;
    auto& vals = trace->values[*idx];
    if (static_cast<int>(vals.size()) <= port) vals.resize(port + 1);
    vals[port] = value;
  }
  // Nodes needed by the fetches (phase 1) and additionally by the targets (phase 2); feeds cut
  // the graph.
  std::vector<char> needed(n, 0);
  std::vector<int> stack;
  auto want = [&](const std::string& node_name, const char* what, char phase) -> absl::Status {
    auto idx = view_->index(node_name);
    if (!idx) return absl::InvalidArgumentError(absl::StrCat(what, " '", node_name, "': no such node"));
    if (!needed[*idx]) { needed[*idx] = phase; stack.push_back(*idx); }
    return absl::OkStatus();
  };
  auto close = [&](char phase) {
    while (!stack.empty()) {
      int i = stack.back();
      stack.pop_back();
      if (fed[i]) continue;
      for (const Producer& p : view_->fanin(i)) {
        if (!needed[p.node]) { needed[p.node] = phase; stack.push_back(p.node); }
      }
    }
  };
  for (const auto& f : fetches) TFQAT_RETURN_IF_ERROR(want(ParseFetchName(f).first, "fetch", 1));
  close(1);
  for (const auto& t : targets) TFQAT_RETURN_IF_ERROR(want(t, "target", 2));
  close(2);
  // Every needed op must have a kernel before anything runs.
  std::vector<std::string> bad;
  for (int i = 0; i < n; ++i) {
    if (needed[i] && !fed[i] && kernels_[i] == nullptr && !IsExecutorBuiltinOp(view_->node(i).op())) {
      bad.push_back(absl::StrCat("'", view_->node(i).name(), "' (", view_->node(i).op(), ")"));
    }
  }
  if (!bad.empty()) {
    return absl::UnimplementedError(absl::StrCat("unsupported op", bad.size() > 1 ? "s" : "", ": ",
                                                 absl::StrJoin(bad, ", ")));
  }
  for (char phase : {1, 2}) {
    for (int i : topo_) {
      if (needed[i] != phase) continue;
      if (fed[i]) { trace->executed[i] = 1; continue; }
      TFQAT_RETURN_IF_ERROR(ExecuteNode(i, trace));
      trace->executed[i] = 1;
    }
  }
  std::vector<Tensor> out;
  for (const auto& f : fetches) {
    auto [node, port] = ParseFetchName(f);
    int idx = *view_->index(node);
    if (!var_key_[idx].empty() && !fed[idx] && view_->node(idx).op() != "VarHandleOp") {
      TFQAT_ASSIGN_OR_RETURN(Tensor v, GetVariable(var_key_[idx]));
      out.push_back(std::move(v));
      continue;
    }
    const auto& vals = trace->values[idx];
    if (port < 0 || port >= static_cast<int>(vals.size())) {
      return absl::InvalidArgumentError(absl::StrCat("fetch '", f, "': ", NodeLabel(view_->node(idx)),
                                                     " has no output ", port));
    }
    out.push_back(vals[port]);
  }
  return out;
}

absl::Status Executor::ExecuteNode(int i, RunTrace* trace) {
  const auto& node = view_->node(i);
  const std::string& op = node.op();
  KernelContext ctx;
  ctx.node = &node;
  ctx.parallel = parallel_.get();
  ctx.pool = trace->pool.get();
  // Gather data inputs; a ref variable is read now (its value when this node runs).
  const auto& fanin = view_->fanin(i);
  std::vector<Tensor> var_reads;
  var_reads.reserve(fanin.size());
  for (size_t k = 0; k < fanin.size(); ++k) {
    const Producer& p = fanin[k];
    if (p.is_control) continue;
    const auto& pnode = view_->node(p.node);
    if (IsRefVariableOp(pnode.op()) && trace->values[p.node].empty()) {
      auto it = vars_.find(var_key_[p.node]);
      if (it == vars_.end()) {
        // Assign* writes to an uninitialised variable are fine; everything else reads it.
        if ((op == "Assign" && k == 0) || IsVariableOp(op)) { ctx.inputs.push_back(nullptr); continue; }
        return absl::FailedPreconditionError(absl::StrCat(
            NodeLabel(node), ": reads uninitialized variable '", pnode.name(), "'"));
      }
      if (kernels_[i] != nullptr && op != "Identity" && op != "RefIdentity") {
        auto& snap = trace->ref_reads[static_cast<int64_t>(i) * 1024 + static_cast<int64_t>(ctx.inputs.size())];
        snap = it->second;
        ctx.inputs.push_back(&snap);
      } else {
        ctx.inputs.push_back(&it->second);
      }
      continue;
    }
    const auto& vals = trace->values[p.node];
    if (p.port >= static_cast<int>(vals.size())) {
      return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node), ": input ", k, " ('", pnode.name(), ":",
                                                     p.port, "') was not produced"));
    }
    ctx.inputs.push_back(&vals[p.port]);
  }
  auto& out = trace->values[i];
  if (kernels_[i] != nullptr) {
    for (const Tensor* t : ctx.inputs) {
      if (t == nullptr) return absl::InternalError(absl::StrCat(NodeLabel(node), ": missing input"));
    }
    TFQAT_RETURN_IF_ERROR(kernels_[i](ctx));
    out = std::move(ctx.outputs);
    return absl::OkStatus();
  }
  auto need_inputs = [&](int k) -> absl::Status {
    if (ctx.num_inputs() < k) {
      return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node), ": expects ", k, " inputs, has ",
                                                     ctx.num_inputs()));
    }
    return absl::OkStatus();
  };
  if (op == "Placeholder") {
    return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node), ": no value was fed"));
  } else if (op == "PlaceholderWithDefault") {
    TFQAT_RETURN_IF_ERROR(need_inputs(1));
    out = {*ctx.inputs[0]};
  } else if (op == "Const") {
    auto it = consts_.find(i);
    if (it == consts_.end()) return absl::UnimplementedError(absl::StrCat(NodeLabel(node), ": unsupported value"));
    out = {it->second};
  } else if (IsRefVariableOp(op)) {
    // Consumers read the variable directly; the node itself yields nothing.
    out.clear();
  } else if (op == "VarHandleOp") {
    Tensor h;
    h.dtype = tensorflow::DT_RESOURCE;
    h.resource = var_key_[i];
    out = {h};
  } else if (op == "ReadVariableOp") {
    TFQAT_RETURN_IF_ERROR(need_inputs(1));
    auto it = vars_.find(ctx.inputs[0]->resource);
    if (it == vars_.end()) {
      return absl::FailedPreconditionError(absl::StrCat(NodeLabel(node), ": reads uninitialized variable '",
                                                        ctx.inputs[0]->resource, "'"));
    }
    out = {it->second};
  } else if (op == "VarIsInitializedOp" || op == "IsVariableInitialized") {
    TFQAT_RETURN_IF_ERROR(need_inputs(1));
    std::string key;
    if (op == "VarIsInitializedOp") {
      key = ctx.inputs[0]->resource;
    } else {
      TFQAT_ASSIGN_OR_RETURN(key, ResolveVariable(i, 0));
    }
    out = {Tensor::Int(tensorflow::DT_BOOL, {}, {vars_.contains(key) ? 1 : 0})};
  } else if (op == "Assign" || op == "AssignAdd" || op == "AssignSub" || op == "AssignVariableOp" ||
             op == "AssignAddVariableOp" || op == "AssignSubVariableOp") {
    TFQAT_RETURN_IF_ERROR(need_inputs(2));
    std::string key;
    if (absl::EndsWith(op, "VariableOp")) {
      key = ctx.inputs[0]->resource;
    } else {
      TFQAT_ASSIGN_OR_RETURN(key, ResolveVariable(i, 0));
    }
    const Tensor& value = *ctx.inputs[1];
    if (op == "Assign" || op == "AssignVariableOp") {
      vars_[key] = value;
    } else {
      auto it = vars_.find(key);
      if (it == vars_.end()) {
        return absl::FailedPreconditionError(absl::StrCat(NodeLabel(node), ": updates uninitialized variable '",
                                                          key, "'"));
      }
      Tensor& var = it->second;
      if (var.num_elements() != value.num_elements() || var.is_float() != value.is_float()) {
        return absl::InvalidArgumentError(absl::StrCat(NodeLabel(node), ": value shape ", value.ShapeString(),
                                                       " does not match variable shape ", var.ShapeString()));
      }
      const float sign = absl::StrContains(op, "Sub") ? -1.f : 1.f;
      if (var.is_float()) {
        for (size_t e = 0; e < var.f.size(); ++e) var.f[e] += sign * value.f[e];
      } else {
        for (size_t e = 0; e < var.i.size(); ++e) var.i[e] += static_cast<int64_t>(sign) * value.i[e];
      }
    }
    if (op == "Assign" || op == "AssignAdd" || op == "AssignSub") out = {vars_[key]};
  } else if (op == "NoOp") {
    out.clear();
  } else {
    return absl::UnimplementedError(absl::StrCat(NodeLabel(node), ": unsupported op"));
  }
  return absl::OkStatus();
}

}  // namespace tfqat

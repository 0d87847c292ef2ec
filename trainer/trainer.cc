#include "trainer/trainer.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "graph/tensor.h"
#include "trainer/gradients.h"

namespace tfqat {
namespace {

bool IsVariableOp(const std::string& op) { return op == "VariableV2" || op == "Variable" || op == "VarHandleOp"; }

// Range variables, moving statistics and counters are state, not parameters.
bool IsStateVariableName(const std::string& name) {
  std::vector<std::string> parts = absl::StrSplit(name, '/');
  for (size_t k = 0; k < parts.size(); ++k) {
    const std::string& p = parts[k];
    if (p == "moving_mean" || p == "moving_variance" || p == "global_step" || p == "local_step" ||
        p == "biased" || p == "ExponentialMovingAverage") {
      return true;
    }
    if (k + 1 < parts.size() && absl::EndsWith(p, "_quant")) return true;  // <layer>/act_quant/min ...
  }
  return false;
}

int PlaceholderIndex(const GraphView& view, const std::string& name, std::string* resolved) {
  if (!name.empty()) {
    auto idx = view.index(name);
    *resolved = name;
    return idx ? *idx : -1;
  }
  int found = -1;
  for (int i : view.Placeholders()) {
    auto dt = GetAttrOr<tensorflow::DataType>(view.node(i), "dtype", tensorflow::DT_FLOAT);
    if (dt.ok() && IsFloatType(*dt)) {
      if (found >= 0) return -2;  // ambiguous
      found = i;
    }
  }
  if (found >= 0) *resolved = view.node(found).name();
  return found;
}

// The per-example shape the placeholder wants, if it states one.
std::vector<int64_t> ExampleShape(const tensorflow::NodeDef& ph) {
  auto shape = GetAttrOr<tensorflow::TensorShapeProto>(ph, "shape", tensorflow::TensorShapeProto());
  if (!shape.ok() || shape->unknown_rank() || shape->dim_size() < 1) return {};
  std::vector<int64_t> dims;
  for (int d = 1; d < shape->dim_size(); ++d) {
    if (shape->dim(d).size() < 0) return {};
    dims.push_back(shape->dim(d).size());
  }
  return dims;
}

Tensor GatherBatch(const Tensor& x, const std::vector<int64_t>& order, int64_t begin, int64_t end,
                   const std::vector<int64_t>& example_shape) {
  const int64_t per = x.num_elements() / std::max<int64_t>(1, x.shape[0]);
  Tensor b;
  b.dtype = tensorflow::DT_FLOAT;
  b.shape = {end - begin};
  if (!example_shape.empty() && NumElements(example_shape) == per) {
    b.shape.insert(b.shape.end(), example_shape.begin(), example_shape.end());
  } else {
    b.shape.insert(b.shape.end(), x.shape.begin() + 1, x.shape.end());
  }
  b.f.resize((end - begin) * per);
  for (int64_t k = begin; k < end; ++k) {
    std::copy_n(x.f.data() + order[k] * per, per, b.f.data() + (k - begin) * per);
  }
  return b;
}

// Mean sparse softmax cross-entropy; fills dlogits (already divided by the batch) and counts
// correct argmax predictions.
absl::Status SoftmaxCrossEntropy(const Tensor& logits, const std::vector<int64_t>& labels,
                                 const std::vector<int64_t>& order, int64_t begin, float* loss, int64_t* correct,
                                 Tensor* dlogits) {
  if (logits.rank() != 2) return absl::InvalidArgumentError(absl::StrCat("logits must be [batch, classes], got ", logits.ShapeString()));
  const int64_t b = logits.shape[0], c = logits.shape[1];
  if (dlogits) *dlogits = Tensor::Float(logits.shape, 0.f);
  double total = 0;
  *correct = 0;
  for (int64_t r = 0; r < b; ++r) {
    const int64_t label = labels[order[begin + r]];
    if (label < 0 || label >= c) {
      return absl::InvalidArgumentError(absl::StrCat("label ", label, " out of range for ", c, " classes"));
    }
    const float* l = logits.f.data() + r * c;
    const float mx = *std::max_element(l, l + c);
    double sum = 0;
    for (int64_t k = 0; k < c; ++k) sum += std::exp(static_cast<double>(l[k] - mx));
    total += -(l[label] - mx - std::log(sum));
    if (std::max_element(l, l + c) - l == label) ++*correct;
    if (dlogits) {
      float* g = dlogits->f.data() + r * c;
      for (int64_t k = 0; k < c; ++k) {
        g[k] = static_cast<float>(std::exp(static_cast<double>(l[k] - mx)) / sum) / static_cast<float>(b);
      }
      g[label] -= 1.f / static_cast<float>(b);
    }
  }
  *loss = static_cast<float>(total / b);
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> DiscoverParameters(const tensorflow::GraphDef& graph) {
  std::vector<std::string> params;
  auto view_or = GraphView::Create(graph);
  if (!view_or.ok()) return params;
  const GraphView& view = *view_or;
  for (int i = 0; i < view.num_nodes(); ++i) {
    const auto& node = view.node(i);
    if (!IsVariableOp(node.op()) || IsStateVariableName(node.name())) continue;
    auto dt = GetAttrOr<tensorflow::DataType>(node, "dtype", tensorflow::DT_FLOAT);
    if (!dt.ok() || !IsFloatType(*dt)) continue;
    bool read = false;
    for (const Consumer& c : view.fanout(i)) {
      const auto& op = view.node(c.node).op();
      if (!c.is_control && op != "Assign" && op != "AssignAdd" && op != "AssignSub" &&
          !absl::StartsWith(op, "Assign")) read = true;
    }
    if (read) params.push_back(node.name());
  }
  if (!params.empty()) return params;
  // Frozen graph: float Consts reaching weighted ops.
  absl::flat_hash_set<int> seen;
  auto trace_back = [&](int node, int slot) {
    auto fanin = view.data_fanin(node);
    if (slot >= static_cast<int>(fanin.size())) return;
    int p = fanin[slot].node;
    while (true) {
      const auto& op = view.node(p).op();
      if ((op == "Identity" || absl::StartsWith(op, "FakeQuantWithMinMax")) && !view.data_fanin(p).empty()) {
        p = view.data_fanin(p)[0].node;
        continue;
      }
      break;
    }
    if (view.node(p).op() != "Const") return;
    auto dt = GetAttrOr<tensorflow::DataType>(view.node(p), "dtype", tensorflow::DT_FLOAT);
    if (!dt.ok() || !IsFloatType(*dt)) return;
    if (seen.insert(p).second) params.push_back(view.node(p).name());
  };
  for (int i = 0; i < view.num_nodes(); ++i) {
    const auto& op = view.node(i).op();
    if (op == "Conv2D" || op == "DepthwiseConv2dNative" || op == "MatMul" || op == "BiasAdd") trace_back(i, 1);
    if (absl::StartsWith(op, "FusedBatchNorm")) { trace_back(i, 1); trace_back(i, 2); }
  }
  return params;
}

absl::Status Evaluate(Executor& ex, const std::string& input, const std::string& logits, const Dataset& data,
                      int batch, float* loss, float* accuracy) {
  std::vector<int64_t> order(data.size());
  std::iota(order.begin(), order.end(), 0);
  auto idx = ex.view().index(input);
  std::vector<int64_t> ex_shape = idx ? ExampleShape(ex.view().node(*idx)) : std::vector<int64_t>{};
  double total = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t e = std::min<int64_t>(data.size(), b + batch);
    Tensor x = GatherBatch(data.x, order, b, e, ex_shape);
    TFQAT_ASSIGN_OR_RETURN(auto out, ex.Run({{input, std::move(x)}}, {logits}));
    float l;
    int64_t c;
    TFQAT_RETURN_IF_ERROR(SoftmaxCrossEntropy(out[0], data.labels, order, b, &l, &c, nullptr));
    total += static_cast<double>(l) * (e - b);
    correct += c;
  }
  *loss = data.size() ? static_cast<float>(total / data.size()) : 0.f;
  *accuracy = data.size() ? static_cast<float>(correct) / data.size() : 0.f;
  return absl::OkStatus();
}

absl::StatusOr<tensorflow::GraphDef> WriteBackState(const tensorflow::GraphDef& graph, const Executor& ex,
                                                    const std::vector<std::string>& const_parameters) {
  tensorflow::GraphDef out = graph;
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(graph));
  auto replace = [&](int const_node, const Tensor& value) -> absl::Status {
    auto* node = out.mutable_node(const_node);
    TFQAT_ASSIGN_OR_RETURN(auto dt, GetAttr<tensorflow::DataType>(*node, "dtype"));
    Tensor v = value;
    v.dtype = BaseType(dt);
    if (IsFloatType(v.dtype) != value.is_float()) {
      return absl::InternalError(absl::StrCat("node '", node->name(), "' (Const): value type does not match dtype"));
    }
    SetAttr(node, "value", TensorToProto(v));
    return absl::OkStatus();
  };
  for (int v = 0; v < view.num_nodes(); ++v) {
    const auto& node = view.node(v);
    if (!IsVariableOp(node.op()) || !ex.IsVariableInitialized(node.name())) continue;
    TFQAT_ASSIGN_OR_RETURN(Tensor value, ex.GetVariable(node.name()));
    int init = -1;
    if (auto iv = view.index(node.name() + "/initial_value"); iv && view.node(*iv).op() == "Const") init = *iv;
    if (init < 0) {
      for (const Consumer& c : view.fanout(v)) {
        if (c.is_control || c.input_slot != 0) continue;
        const auto& op = view.node(c.node).op();
        if (op != "Assign" && op != "AssignVariableOp") continue;
        auto fanin = view.data_fanin(c.node);
        if (fanin.size() < 2) continue;
        int p = fanin[1].node;
        while (view.node(p).op() == "Identity" && !view.data_fanin(p).empty()) p = view.data_fanin(p)[0].node;
        if (view.node(p).op() == "Const") { init = p; break; }
      }
    }
    if (init >= 0) TFQAT_RETURN_IF_ERROR(replace(init, value));
  }
  for (const auto& name : const_parameters) {
    auto idx = view.index(name);
    if (!idx || view.node(*idx).op() != "Const") continue;
    TFQAT_ASSIGN_OR_RETURN(Tensor value, ex.GetConst(name));
    TFQAT_RETURN_IF_ERROR(replace(*idx, value));
  }
  return out;
}

absl::StatusOr<TrainResult> Train(const tensorflow::GraphDef& graph, const Dataset& train, const Dataset* val,
                                  const TrainOptions& o, const StepCallback& on_step) {
  if (o.batch < 1) return absl::InvalidArgumentError("--batch must be >= 1");
  if (train.size() == 0) return absl::InvalidArgumentError("training data is empty");
  if (static_cast<int64_t>(train.labels.size()) != train.size()) {
    return absl::InvalidArgumentError(absl::StrCat("data has ", train.size(), " examples but ", train.labels.size(), " labels"));
  }
  if (val && static_cast<int64_t>(val->labels.size()) != val->size()) {
    return absl::InvalidArgumentError("validation data and labels differ in count");
  }
  // Every step allocates and frees the same activation-sized buffers: keep them in the heap
  // instead of mmap/munmap-ing (and page-faulting) them each time (glibc).
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  ExecutorOptions eo;
  eo.num_threads = o.threads;
  TFQAT_ASSIGN_OR_RETURN(Executor ex, Executor::Create(graph, eo));
  const GraphView& view = ex.view();
  std::string input;
  int ph = PlaceholderIndex(view, o.input, &input);
  if (ph == -2) return absl::InvalidArgumentError("the graph has several float placeholders: name one with --input");
  if (ph < 0) return absl::InvalidArgumentError(absl::StrCat("no input placeholder '", o.input, "'"));
  auto [logits_node, logits_port] = ParseFetchName(o.logits);
  auto logits_idx = view.index(logits_node);
  if (!logits_idx) return absl::InvalidArgumentError(absl::StrCat("no logits node '", o.logits, "'"));
  const std::vector<int64_t> ex_shape = ExampleShape(view.node(ph));

  std::vector<std::string> params = o.trainable.empty() ? DiscoverParameters(graph) : o.trainable;
  std::vector<int> param_nodes;
  std::vector<Tensor> values;
  std::vector<std::string> const_params;
  for (const auto& p : params) {
    auto idx = view.index(p);
    if (!idx) return absl::InvalidArgumentError(absl::StrCat("no parameter node '", p, "'"));
    param_nodes.push_back(*idx);
    TFQAT_ASSIGN_OR_RETURN(Tensor v, ex.GetVariable(p));
    if (!v.is_float()) return absl::InvalidArgumentError(absl::StrCat("parameter '", p, "' is not float"));
    values.push_back(std::move(v));
    if (view.node(*idx).op() == "Const") const_params.push_back(p);
  }
  if (params.empty() && !o.calibrate_only) return absl::InvalidArgumentError("no trainable parameters found");
  std::vector<std::string> targets;
  if (view.index(o.update_ops)) targets.push_back(o.update_ops);
  const bool has_step = view.index(o.global_step).has_value() && ex.IsVariableInitialized(o.global_step);

  const int64_t n = train.size();
  const int64_t steps_per_epoch = (n + o.batch - 1) / o.batch;
  const int64_t total = o.steps > 0 ? o.steps : static_cast<int64_t>(std::max(1, o.epochs)) * steps_per_epoch;
  const int64_t lr_step = o.lr_step > 0 ? o.lr_step : steps_per_epoch;
  std::mt19937_64 rng(o.seed);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::vector<float>> m1(values.size()), m2(values.size());
  for (size_t k = 0; k < values.size(); ++k) {
    m1[k].assign(values[k].f.size(), 0.f);
    if (o.optimizer == OptimizerKind::kAdam) m2[k].assign(values[k].f.size(), 0.f);
  }
  TrainResult result;
  result.parameters = params;
  const auto t0 = std::chrono::steady_clock::now();
  auto epoch_t0 = t0;
  double epoch_loss = 0;
  int64_t epoch_correct = 0, epoch_seen = 0;
  RunTrace trace;
  for (int64_t step = 1; step <= total; ++step) {
    const int64_t pos = (step - 1) % steps_per_epoch;
    const int epoch = static_cast<int>((step - 1) / steps_per_epoch);
    if (pos == 0) {
      // Fisher-Yates with our own index draw (std::shuffle's algorithm is library-defined).
      for (int64_t k = n - 1; k > 0; --k) std::swap(order[k], order[rng() % static_cast<uint64_t>(k + 1)]);
      epoch_t0 = std::chrono::steady_clock::now();
      epoch_loss = 0;
      epoch_correct = epoch_seen = 0;
    }
    const int64_t b0 = pos * o.batch, b1 = std::min(n, b0 + o.batch);
    Tensor x = GatherBatch(train.x, order, b0, b1, ex_shape);
    TFQAT_ASSIGN_OR_RETURN(auto outs, ex.RunWithTrace({{input, std::move(x)}}, {o.logits}, targets, &trace));
    float loss;
    int64_t correct;
    Tensor dlogits;
    TFQAT_RETURN_IF_ERROR(SoftmaxCrossEntropy(outs[0], train.labels, order, b0, &loss, &correct,
                                              o.calibrate_only ? nullptr : &dlogits));
    float lr = o.lr;
    if (o.schedule == LrSchedule::kStep) lr = o.lr * std::pow(o.lr_gamma, static_cast<float>((step - 1) / lr_step));
    if (o.schedule == LrSchedule::kCosine) lr = o.lr * 0.5f * (1.f + std::cos(3.14159265358979f * (step - 1) / total));
    if (!o.calibrate_only && !params.empty()) {
      TFQAT_ASSIGN_OR_RETURN(auto grads, Backward(ex, trace, *logits_idx, logits_port, dlogits, param_nodes));
      for (size_t k = 0; k < values.size(); ++k) {
        auto& w = values[k].f;
        auto& g = grads[k].f;
        if (g.size() != w.size()) return absl::InternalError(absl::StrCat("gradient of '", params[k], "' has the wrong size"));
        if (o.weight_decay != 0.f && values[k].rank() >= 2) for (size_t e = 0; e < w.size(); ++e) g[e] += o.weight_decay * w[e];
        if (o.optimizer == OptimizerKind::kSgd) {
          auto& v = m1[k];
          for (size_t e = 0; e < w.size(); ++e) {
            v[e] = o.momentum * v[e] + g[e];
            w[e] -= lr * v[e];
          }
        } else {
          const float c1 = 1.f - std::pow(o.beta1, static_cast<float>(step));
          const float c2 = 1.f - std::pow(o.beta2, static_cast<float>(step));
          for (size_t e = 0; e < w.size(); ++e) {
            m1[k][e] = o.beta1 * m1[k][e] + (1.f - o.beta1) * g[e];
            m2[k][e] = o.beta2 * m2[k][e] + (1.f - o.beta2) * g[e] * g[e];
            w[e] -= lr * (m1[k][e] / c1) / (std::sqrt(m2[k][e] / c2) + o.adam_epsilon);
          }
        }
        TFQAT_RETURN_IF_ERROR(ex.SetVariable(params[k], values[k]));
      }
    }
    if (has_step) {
      TFQAT_ASSIGN_OR_RETURN(Tensor gs, ex.GetVariable(o.global_step));
      if (gs.is_float()) gs.f[0] += 1.f; else gs.i[0] += 1;
      TFQAT_RETURN_IF_ERROR(ex.SetVariable(o.global_step, std::move(gs)));
    }
    epoch_loss += static_cast<double>(loss) * (b1 - b0);
    epoch_correct += correct;
    epoch_seen += b1 - b0;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (on_step) {
      StepLog s;
      s.step = step;
      s.total_steps = total;
      s.epoch = epoch + 1;
      s.loss = loss;
      s.accuracy = static_cast<float>(correct) / (b1 - b0);
      s.lr = lr;
      s.examples_per_second = elapsed > 0 ? (static_cast<double>(step - 1) * o.batch + (b1 - b0)) / elapsed : 0;
      s.eta_seconds = elapsed / step * (total - step);
      on_step(s);
    }
    if (pos == steps_per_epoch - 1 || step == total) {
      EpochLog e;
      e.epoch = epoch + 1;
      e.train_loss = static_cast<float>(epoch_loss / epoch_seen);
      e.train_accuracy = static_cast<float>(epoch_correct) / epoch_seen;
      e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_t0).count();
      if (val && val->size() > 0) {
        e.has_val = true;
        TFQAT_RETURN_IF_ERROR(Evaluate(ex, input, o.logits, *val, o.batch, &e.val_loss, &e.val_accuracy));
      }
      result.epochs.push_back(e);
    }
  }
  result.steps = total;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  TFQAT_ASSIGN_OR_RETURN(result.graph, WriteBackState(graph, ex, const_params));
  return result;
}

}  // namespace tfqat

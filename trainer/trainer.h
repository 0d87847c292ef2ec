// The QAT trainer: minibatch training of a GraphDef's parameters with sparse softmax
// cross-entropy on a logits node, running the graph's range/statistics update ops every step.
//
// Per step (docs/CONTRACTS.md): forward to the logits with the batch fed, then the update ops
// (`tfqat/update_ops`, if present) from the same activations, backward (straight-through
// estimator for FakeQuant), optimizer step, and `global_step += 1` (if the variable exists).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"
#include "trainer/data.h"
#include "trainer/executor.h"

namespace tfqat {

enum class OptimizerKind { kSgd, kAdam };
enum class LrSchedule { kConstant, kStep, kCosine };

struct TrainOptions {
  std::string logits;  // "node[:port]", rank-2 [batch, classes]
  std::string input;   // placeholder fed with the data; empty: the graph's only float Placeholder
  int epochs = 1;
  int64_t steps = 0;   // > 0: stop after this many steps (overrides epochs)
  int batch = 32;
  float lr = 0.01f;
  OptimizerKind optimizer = OptimizerKind::kSgd;
  float momentum = 0.9f;
  float beta1 = 0.9f, beta2 = 0.999f, adam_epsilon = 1e-8f;
  float weight_decay = 0.f;  // L2 on parameters of rank >= 2 (weights, not biases)
  LrSchedule schedule = LrSchedule::kConstant;
  int64_t lr_step = 0;       // kStep: multiply by lr_gamma every lr_step steps (0: every epoch)
  float lr_gamma = 0.1f;
  uint64_t seed = 0;
  int threads = 1;
  bool calibrate_only = false;  // forward + update ops only (post-training calibration)
  std::vector<std::string> trainable;  // explicit parameter nodes; empty: discovered
  std::string update_ops = "tfqat/update_ops";
  std::string global_step = "global_step";
};

struct StepLog {
  int64_t step = 0;  // 1-based
  int64_t total_steps = 0;
  int epoch = 0;
  float loss = 0.f;
  float accuracy = 0.f;
  float lr = 0.f;
  double examples_per_second = 0;
  double eta_seconds = 0;
};

struct EpochLog {
  int epoch = 0;
  float train_loss = 0.f, train_accuracy = 0.f;
  bool has_val = false;
  float val_loss = 0.f, val_accuracy = 0.f;
  double seconds = 0;
};

struct TrainResult {
  tensorflow::GraphDef graph;      // trained graph (initial values / weight Consts replaced)
  std::vector<std::string> parameters;
  std::vector<EpochLog> epochs;
  int64_t steps = 0;
  double seconds = 0;
};

using StepCallback = std::function<void(const StepLog&)>;

// Parameters the trainer updates when none are given: float variables (not quantization ranges,
// batch-norm moving statistics, step counters), else — for a frozen graph — float Consts
// reaching a Conv2D/DepthwiseConv2dNative/MatMul filter, a BiasAdd bias or a FusedBatchNorm
// scale/offset directly or through Identity/FakeQuant*.
std::vector<std::string> DiscoverParameters(const tensorflow::GraphDef& graph);

absl::StatusOr<TrainResult> Train(const tensorflow::GraphDef& graph, const Dataset& train, const Dataset* val,
                                  const TrainOptions& options, const StepCallback& on_step = nullptr);

// Loss and accuracy of the logits over a dataset (forward only, no update ops).
absl::Status Evaluate(Executor& ex, const std::string& input, const std::string& logits, const Dataset& data,
                      int batch, float* loss, float* accuracy);

// The graph with every variable's initial value (`<var>/initial_value` or the Const its
// initializer assigns) and every Const parameter replaced by the executor's current value.
absl::StatusOr<tensorflow::GraphDef> WriteBackState(const tensorflow::GraphDef& graph, const Executor& ex,
                                                    const std::vector<std::string>& const_parameters);

}  // namespace tfqat

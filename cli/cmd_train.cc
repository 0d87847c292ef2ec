// `tfqat train GRAPH --data X --labels Y --logits NODE -o OUT.pb [...]`: trains the graph's
// parameters (straight-through estimator for FakeQuant), running its update ops every step,
// and writes the trained graph. `--calibrate-only` runs forward passes and update ops only.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "trainer/trainer.h"

namespace tfqat::cli {
namespace {

struct TrainArgs {
  std::string graph, data, labels, val_data, val_labels, logits, input, output, log_json;
  std::string optimizer = "sgd", schedule = "constant";
  std::vector<std::string> trainable;
  int epochs = 1;
  int64_t steps = 0;
  int batch = 32;
  float lr = 0.01f, momentum = 0.9f, weight_decay = 0.f, scale = 1.f, lr_gamma = 0.1f;
  int64_t lr_step = 0;
  uint64_t seed = 0;
  int threads = 1;
  int log_every = 10;
  bool calibrate_only = false, quiet = false, json = false;
};

absl::Status RunTrain(const TrainArgs& a) {
  TFQAT_ASSIGN_OR_RETURN(auto graph, LoadGraphDef(a.graph));
  Dataset train, val;
  TFQAT_ASSIGN_OR_RETURN(train.x, LoadDataTensor(a.data, a.scale));
  TFQAT_ASSIGN_OR_RETURN(train.labels, LoadLabels(a.labels));
  const bool has_val = !a.val_data.empty();
  if (has_val) {
    if (a.val_labels.empty()) return absl::InvalidArgumentError("--val-data needs --val-labels");
    TFQAT_ASSIGN_OR_RETURN(val.x, LoadDataTensor(a.val_data, a.scale));
    TFQAT_ASSIGN_OR_RETURN(val.labels, LoadLabels(a.val_labels));
  }
  TrainOptions o;
  o.logits = a.logits;
  o.input = a.input;
  o.epochs = a.epochs;
  o.steps = a.steps;
  o.batch = a.batch;
  o.lr = a.lr;
  o.momentum = a.momentum;
  o.weight_decay = a.weight_decay;
  o.seed = a.seed;
  o.threads = a.threads;
  o.calibrate_only = a.calibrate_only;
  o.trainable = a.trainable;
  o.lr_step = a.lr_step;
  o.lr_gamma = a.lr_gamma;
  if (a.optimizer == "sgd") o.optimizer = OptimizerKind::kSgd;
  else if (a.optimizer == "adam") o.optimizer = OptimizerKind::kAdam;
  else return absl::InvalidArgumentError(absl::StrCat("--optimizer must be sgd or adam, got '", a.optimizer, "'"));
  if (a.schedule == "constant") o.schedule = LrSchedule::kConstant;
  else if (a.schedule == "step") o.schedule = LrSchedule::kStep;
  else if (a.schedule == "cosine") o.schedule = LrSchedule::kCosine;
  else return absl::InvalidArgumentError(absl::StrCat("--lr-schedule must be constant, step or cosine, got '", a.schedule, "'"));
  nlohmann::json steps_json = nlohmann::json::array();
  auto on_step = [&](const StepLog& s) {
    if (!a.log_json.empty()) {
      steps_json.push_back({{"step", s.step}, {"epoch", s.epoch}, {"loss", s.loss}, {"accuracy", s.accuracy},
                            {"lr", s.lr}, {"examples_per_second", s.examples_per_second}});
    }
    if (a.quiet || a.json) return;
    if (s.step % a.log_every == 0 || s.step == s.total_steps || s.step == 1) {
      std::fprintf(stderr, "step %lld/%lld epoch %d loss %.4f acc %.3f lr %.4g %.0f ex/s ETA %.1fs\n",
                   static_cast<long long>(s.step), static_cast<long long>(s.total_steps), s.epoch, s.loss, s.accuracy,
                   s.lr, s.examples_per_second, s.eta_seconds);
    }
  };
  TFQAT_ASSIGN_OR_RETURN(TrainResult r, Train(graph, train, has_val ? &val : nullptr, o, on_step));
  TFQAT_RETURN_IF_ERROR(SaveGraphDef(r.graph, a.output));
  nlohmann::json report = {{"graph", a.graph}, {"output", a.output}, {"steps", r.steps}, {"seconds", r.seconds},
                           {"parameters", r.parameters}, {"calibrate_only", a.calibrate_only},
                           {"threads", a.threads}, {"seed", a.seed}};
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& e : r.epochs) {
    nlohmann::json j = {{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy},
                        {"seconds", e.seconds}};
    if (e.has_val) { j["val_loss"] = e.val_loss; j["val_accuracy"] = e.val_accuracy; }
    epochs.push_back(j);
    if (!a.quiet && !a.json) {
      std::fprintf(stderr, "epoch %d: train loss %.4f acc %.4f%s (%.2fs)\n", e.epoch, e.train_loss, e.train_accuracy,
                   e.has_val ? absl::StrFormat(", val loss %.4f acc %.4f", e.val_loss, e.val_accuracy).c_str() : "",
                   e.seconds);
    }
  }
  report["epochs"] = epochs;
  if (!a.log_json.empty()) {
    nlohmann::json log = report;
    log["step_log"] = steps_json;
    TFQAT_RETURN_IF_ERROR(WriteFileAtomically(a.log_json, log.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  }
  if (a.json) std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  else if (!a.quiet) std::cout << "wrote " << a.output << " (" << r.steps << " steps, " << r.seconds << " s)\n";
  return absl::OkStatus();
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<TrainArgs>();
  auto* sub = app.add_subcommand("train", "Train (QAT) or calibrate a GraphDef; writes the trained graph");
  sub->add_option("graph", a->graph, "GraphDef to train (train-mode graph from `tfqat rewrite`, or a float graph)")->required();
  sub->add_option("--data", a->data, "training inputs: .npy (N x ...) or MNIST IDX (.gz ok)")->required();
  sub->add_option("--labels", a->labels, "training labels: integer .npy or IDX")->required();
  sub->add_option("--val-data", a->val_data, "validation inputs");
  sub->add_option("--val-labels", a->val_labels, "validation labels");
  sub->add_option("--logits", a->logits, "logits node[:port], [batch, classes]")->required();
  sub->add_option("--input", a->input, "placeholder to feed (default: the only float placeholder)");
  sub->add_option("-o,--output", a->output, "trained graph (.pb / .pbtxt)")->required();
  sub->add_option("--epochs", a->epochs, "epochs (default 1)");
  sub->add_option("--steps", a->steps, "stop after this many steps (overrides --epochs)");
  sub->add_option("--batch", a->batch, "batch size (default 32)");
  sub->add_option("--lr", a->lr, "learning rate (default 0.01)");
  sub->add_option("--optimizer", a->optimizer, "sgd (with --momentum) or adam");
  sub->add_option("--momentum", a->momentum, "SGD momentum (default 0.9)");
  sub->add_option("--weight-decay", a->weight_decay, "L2 weight decay on weights (rank >= 2)");
  sub->add_option("--lr-schedule", a->schedule, "constant, step or cosine");
  sub->add_option("--lr-step", a->lr_step, "step schedule: steps between decays (default: one epoch)");
  sub->add_option("--lr-gamma", a->lr_gamma, "step schedule: decay factor (default 0.1)");
  sub->add_option("--scale", a->scale, "multiply integer (e.g. uint8) data by this (e.g. 0.00392156862745098)");
  sub->add_option("--trainable", a->trainable, "parameter node (repeatable; default: discovered)");
  sub->add_option("--seed", a->seed, "shuffling seed");
  sub->add_option("--threads", a->threads, "worker threads");
  sub->add_option("--log-every", a->log_every, "progress line every N steps");
  sub->add_option("--log-json", a->log_json, "write a JSON log (epochs and every step) here");
  sub->add_flag("--calibrate-only", a->calibrate_only, "forward passes + update ops only (collect ranges)");
  sub->add_flag("--quiet", a->quiet, "no progress output");
  sub->add_flag("--json", a->json, "print the summary as JSON");
  sub->callback([a, exit_code] {
    absl::Status st = RunTrain(*a);
    *exit_code = st.ok() ? kExitOk : ReportError("train", st);
  });
}

}  // namespace tfqat::cli

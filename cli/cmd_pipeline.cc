// tfqat pipeline: the whole retrain -> freeze -> convert -> verify workflow in one command.
#include <iostream>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "workflow/pipeline.h"

namespace tfqat::cli {

void AddPipelineCommand(CLI::App& app, int* exit_code) {
  auto* sub = app.add_subcommand(
      "pipeline",
      "Float GraphDef in, quantized .tflite out, with proof: inspect -> rewrite (train mode) -> "
      "fine-tune with fake quant (or calibrate) -> freeze -> audit -> convert -> verify on the "
      "validation set -> bench. Every artefact is kept in --work-dir; rerunning resumes.");
  auto o = std::make_shared<workflow::PipelineOptions>();
  auto json_out = std::make_shared<bool>(false);
  sub->add_option("graph", o->float_graph, "float GraphDef (.pb/.pbtxt)")->required();
  sub->add_option("--data", o->data, "training inputs .npy (N x H x W x C, float or uint8)")->required();
  sub->add_option("--labels", o->labels, "training labels .npy (integer class ids)")->required();
  sub->add_option("--val-data", o->val_data, "validation inputs .npy (default: the training data)");
  sub->add_option("--val-labels", o->val_labels, "validation labels .npy");
  sub->add_option("--outputs", o->output_node, "the logits node (classifier output before softmax)")->required();
  sub->add_option("--input", o->input_node, "input placeholder (default: the only one)");
  sub->add_option("-o,--output", o->output_tflite, "the quantized .tflite to write")->required();
  sub->add_option("--work-dir", o->work_dir, "artefacts folder (default: OUTPUT.work)");
  sub->add_option("--epochs", o->epochs, "fake-quant fine-tuning epochs (default 1)");
  sub->add_option("--steps", o->steps, "fine-tuning steps (overrides --epochs)");
  sub->add_flag("--calibrate-only", o->calibrate_only, "no training: forward passes collect the ranges");
  sub->add_option("--calibration-batches", o->calibration_batches, "with --calibrate-only (default: one epoch)");
  sub->add_option("--inference-type", o->inference_type, "int8 (per-channel weights) or uint8 (legacy)")
      ->check(CLI::IsMember({"int8", "uint8"}));
  sub->add_option("--batch", o->batch, "batch size (default 64)");
  sub->add_option("--lr", o->lr, "fine-tuning learning rate (default 1e-4)");
  sub->add_option("--optimizer", o->optimizer, "adam (default) or sgd")->check(CLI::IsMember({"adam", "sgd"}));
  sub->add_option("--scale", o->scale, "multiply input data by this (default: 1/255 for uint8 data)");
  sub->add_option("--quant-delay", o->quant_delay, "steps before activations are quantized (default 0)");
  sub->add_option("--threads", o->threads, "threads for training and evaluation (default 2)");
  sub->add_option("--seed", o->seed, "shuffling seed (default 1)");
  sub->add_flag("--force", o->force, "rerun every stage even if its outputs are up to date");
  sub->add_flag("--quiet", o->quiet, "only the final table");
  sub->add_flag("--json", *json_out, "print the final report as JSON instead of the table");
  sub->callback([o, json_out, exit_code] {
    auto report = workflow::RunPipeline(*o);
    if (!report.ok()) {
      *exit_code = ReportError("pipeline", report.status());
      return;
    }
    if (*json_out) {
      std::cout << report->dump(2) << "\n";
    } else {
      std::cout << workflow::FormatPipelineTable(*report);
    }
    *exit_code = kExitOk;
  });
}

}  // namespace tfqat::cli

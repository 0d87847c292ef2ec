// `tfqat pipeline`: float GraphDef in, quantized .tflite out, with proof.
// Stages (each is the tfqat subcommand a user would run by hand, with every artefact kept in
// the work dir): inspect -> rewrite (train mode) -> train or calibrate -> freeze -> audit
// (refuses to continue if anything lacks a range) -> convert (+ a float .tflite for reference)
// -> verify (float graph, fake-quant graph and the integer model on the validation set).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tfqat::workflow {

struct PipelineOptions {
  std::string float_graph;
  std::string data, labels, val_data, val_labels;
  std::string output_node;  // logits (the classifier's pre-softmax output)
  std::string input_node;   // placeholder; "" = the graph's only placeholder
  std::string output_tflite;
  std::string work_dir;     // "" = <output_tflite>.work
  int epochs = 1;
  int steps = 0;            // > 0 overrides epochs
  bool calibrate_only = false;
  int calibration_batches = 0;  // calibrate-only: number of batches (0 = one epoch)
  std::string inference_type = "int8";
  int batch = 64;
  double lr = 1e-4;
  std::string optimizer = "adam";
  double scale = 0;          // 0 = auto (1/255 for uint8 data, 1 otherwise)
  int threads = 2;
  int seed = 1;
  int quant_delay = 0;
  bool force = false;        // rerun stages whose outputs are up to date
  bool quiet = false;
};

// Runs the pipeline; returns the final report (also written to <work_dir>/pipeline.json).
absl::StatusOr<nlohmann::json> RunPipeline(const PipelineOptions& options);

// The human-readable final table.
std::string FormatPipelineTable(const nlohmann::json& report);

}  // namespace tfqat::workflow

// The `tfqat rewrite` pipeline, an explicit ordered list of passes:
//   1. FoldBatchNorms   (rewriter/fold_batch_norms.h; eval: exact folding, train: correction scheme)
//   2. InsertFakeQuant  (rewriter/quantize.h)
// plus the rewrite report (JSON and the human summary).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/arena.h"
#include "nlohmann/json.hpp"
#include "proto/graph.pb.h"
#include "rewriter/fold_batch_norms.h"
#include "rewriter/quantize.h"

namespace tfqat {

// The batch-norm folding step (FoldBatchNorms from rewriter/fold_batch_norms.h).
using FoldBatchNormsPass = std::function<absl::StatusOr<FoldBatchNormsResult>(
    const tensorflow::GraphDef&, const FoldBatchNormsOptions&)>;

// The folding pass the pipeline uses by default: FoldBatchNorms.
FoldBatchNormsPass DefaultFoldBatchNormsPass();

struct RewriteOptions {
  QuantizeOptions quantize;
  bool fold_batch_norms = true;
  // Step 1 of the pipeline; DefaultFoldBatchNormsPass() unless a test injects another.
  FoldBatchNormsPass fold_pass = DefaultFoldBatchNormsPass();
  int64_t freeze_bn_delay = 0;  // train mode: batch norm switches to moving statistics here
};

struct RewriteResult {
  tensorflow::GraphDef graph;
  std::vector<FoldedLayer> folded;
  std::vector<std::string> fold_notes;
  QuantizeResult quantize;  // its .graph is moved into `graph`
  int input_nodes = 0;
  int output_nodes = 0;
};

absl::StatusOr<RewriteResult> Rewrite(const tensorflow::GraphDef& graph, const RewriteOptions& options);

// The same pipeline rewriting *graph in place (the result's .graph stays empty): no copy of
// the input, one GraphView shared by passes that change nothing. *graph may live on a
// protobuf Arena (the CLI and the large-graph bench allocate it there: every emitted node
// then comes from the arena). On error *graph is left partly rewritten.
absl::StatusOr<RewriteResult> RewriteInPlace(tensorflow::GraphDef* graph, const RewriteOptions& options);

// The same pipeline writing the rewritten graph serialized into *out (InsertFakeQuantSerialized:
// emitted nodes first, then the input's nodes; the result's .graph stays empty). The input is
// not modified. For graphs of millions of nodes (`tfqat rewrite` writes it to the file as is).
absl::StatusOr<RewriteResult> RewriteSerialized(const tensorflow::GraphDef& graph, const RewriteOptions& options,
                                                SerializedGraph* out);

// Arena block sizes for rewriting a graph of `serialized_bytes` (small graphs: small blocks;
// otherwise blocks just under the malloc mmap threshold).
google::protobuf::ArenaOptions GraphArenaOptions(size_t serialized_bytes);

// The --report JSON: options, batch-norm folds, one entry per layer, totals.
nlohmann::json RewriteReportJson(const RewriteResult& result, const RewriteOptions& options);
// The human summary printed on stderr.
std::string RewriteSummary(const RewriteResult& result, const RewriteOptions& options);

}  // namespace tfqat

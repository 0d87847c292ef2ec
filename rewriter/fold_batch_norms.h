// Batch-norm folding: merges a batch norm that follows a weighted op (Conv2D,
// DepthwiseConv2dNative, MatMul; optionally with a BiasAdd in between) into that op.
//
// Eval mode:  Conv2D(x, w) [+ b] -> BN(γ, β, μ, σ²)  =>  Conv2D(x, w·γ/σ) + (β + (b − μ)·γ/σ)
//             with σ = sqrt(σ² + ε), per output channel (Conv2D / MatMul: last dim of w;
//             depthwise [kh, kw, in, mult]: channel in·mult + m).
// Train mode: the correction scheme of tf.contrib.quantize (ARITHMETIC.md "Batch-norm
//             folding during training"): weights folded with the moving σ (what the
//             converter will quantize), batch statistics computed in the graph, the output
//             corrected by c = σ_batch/σ_moving until global_step ≥ freeze_bn_delay, moving
//             averages updated by Assign ops grouped under the NoOp `tfqat/update_ops`.
//             The exact node structure is documented in docs/batchnorm.md.
//
// Both FusedBatchNorm/FusedBatchNormV3 and the unfused Rsqrt/Mul/Sub/Add chains that slim
// and Keras emit are recognised by structure (not by node names).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"

namespace tfqat {

struct FoldBatchNormsOptions {
  enum class Mode {
    kEval,   // fold moving statistics into weights and bias, exactly
    kTrain,  // correction scheme with batch statistics and freeze_bn_delay
  };
  Mode mode = Mode::kEval;
  // Train mode: from this global_step on, the batch norm uses its moving statistics and the
  // moving averages stop updating (tf.contrib.quantize's freeze_batch_norm_delay).
  int64_t freeze_bn_delay = 0;
  // Train mode: decay of the moving mean/variance update, used when the batch norm itself
  // carries none (FusedBatchNormV3's `exponential_avg_factor` is 1 − decay when present).
  float bn_decay = 0.999f;
  // Only fold batch norms whose weighted op's name starts with this prefix (empty: all).
  std::string scope;
  // Name of the int64 step-counter variable (created in train mode if missing).
  std::string global_step = "global_step";
  // Name of the NoOp grouping every update op (train mode; created if missing).
  std::string update_ops = "tfqat/update_ops";
  // Fetched graph outputs ("node" or "node:port"): a chain with one of these in its middle
  // is not folded (the fetched value would change).
  std::vector<std::string> outputs;
};

// One folded batch norm.
struct FoldedLayer {
  enum class Form { kFused, kUnfused };
  std::string weighted_op;   // the Conv2D / DepthwiseConv2dNative / MatMul node
  std::string weighted_type; // its op type
  std::string batch_norm;    // the FusedBatchNorm* node, or the final Add of an unfused chain
  Form form = Form::kFused;
  bool had_bias = false;     // a BiasAdd sat between the weighted op and the batch norm
  bool batch_statistics = false;  // the batch norm was is_training=true (train-mode folding only)
  int64_t channels = 0;
  // The node whose output replaces the batch norm's output (consumers are rewired to it).
  std::string output;
  // The node now feeding the weighted op's filter / weights input (folded weights).
  std::string folded_weights;
};

struct FoldBatchNormsResult {
  tensorflow::GraphDef graph;
  std::vector<FoldedLayer> folded;
  // One line per batch norm that was left alone, and why (names the node).
  std::vector<std::string> notes;
};

// Pure pass: returns the folded graph; the input is not modified. Errors only on a graph
// that cannot be indexed (duplicate names, dangling inputs); batch norms that cannot be
// folded are left alone with a note.
absl::StatusOr<FoldBatchNormsResult> FoldBatchNorms(const tensorflow::GraphDef& graph,
                                                    const FoldBatchNormsOptions& options);

}  // namespace tfqat

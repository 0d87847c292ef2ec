// The layer patterns: what the rewriter quantizes and the audit checks. One definition,
// shared by `tfqat rewrite` and `tfqat audit`.
//
//   activation?( residual_add?( batch_norm?( bias | add_fold ?( correction_mult?(
//       weighted_op(input, weights) ))))))
//
//   weighted_op  Conv2D / DepthwiseConv2dNative / MatMul (input 0, weights 1), or
//                Conv2DBackpropInput (input_sizes 0, weights 1, input 2)
//   weights      Const | Identity(/read of VariableV2 or Const) | ReadVariableOp  ("weights_source")
//                | Mul(param, scale) = folded batch norm "mul_fold"
//                | an existing FakeQuant* or SelectV2(.., FakeQuant, ..) on those ("weights_quant":
//                  the layer is already rewritten)
//   correction_mult  Mul named */correction_mult or */post_conv_mul (train-mode BN folding)
//   bias         BiasAdd(x, param) or Add/AddV2(x, param) with param a constant/variable read
//   add_fold     Add/AddV2 named */add_fold (train-mode BN folding's offset)
//   batch_norm   FusedBatchNorm / FusedBatchNormV3 (output 0), unfolded
//   residual_add Add/AddV2(x, other) with `other` not a constant ("residual_input")
//   activation   Relu, Relu6, Identity, LeakyRelu, Elu, Tanh, Sigmoid
#pragma once

#include <string>
#include <vector>

#include "graph/graph_view.h"
#include "patterns/matcher.h"
#include "patterns/pattern.h"

namespace tfqat::patterns {

// Capture names of the layer pattern.
namespace cap {
inline constexpr char kInput[] = "input";
inline constexpr char kInputSizes[] = "input_sizes";
inline constexpr char kWeighted[] = "weighted";
inline constexpr char kWeights[] = "weights";              // what the weighted op consumes
inline constexpr char kWeightsSource[] = "weights_source";  // Const / read of the variable
inline constexpr char kMulFold[] = "mul_fold";
inline constexpr char kFoldScale[] = "fold_scale";
inline constexpr char kWeightsQuant[] = "weights_quant";  // existing FakeQuant / SelectV2
inline constexpr char kCorrectionMult[] = "correction_mult";
inline constexpr char kBias[] = "bias";
inline constexpr char kBiasParam[] = "bias_param";
inline constexpr char kAddFold[] = "add_fold";
inline constexpr char kBatchNorm[] = "batch_norm";
inline constexpr char kResidual[] = "residual_add";
inline constexpr char kResidualInput[] = "residual_input";
inline constexpr char kActivation[] = "activation";
}  // namespace cap

inline constexpr char kLayerPatternName[] = "layer";

// The layer pattern (see the file comment).
const Pattern& LayerPattern();

// The weights sub-pattern alone (rooted at the tensor a weighted op consumes as weights).
Pat WeightsPattern();

// A layer match decoded into node indices (-1 = absent).
struct LayerMatch {
  int weighted = -1;
  Captured input;            // data input of the weighted op
  Captured weights;          // tensor consumed as weights
  int weights_input_slot = 1;  // index of the weights input on the weighted op
  int weights_source = -1;
  int mul_fold = -1;
  int weights_quant = -1;  // already quantized weights
  int correction_mult = -1;
  int bias = -1;
  int bias_param = -1;
  int add_fold = -1;
  int batch_norm = -1;
  int residual = -1;
  Captured residual_input;  // node -1 when absent
  int activation = -1;
  int output = -1;  // the match root: the node whose output 0 is the layer's output
};

LayerMatch DecodeLayer(const Match& match);

// "Conv2D+BiasAdd+Relu" style summary of a layer's structure.
std::string LayerKind(const GraphView& view, const LayerMatch& layer);

// All layer matches of a graph (non-overlapping, deterministic), with failures recorded.
absl::StatusOr<MatchSet> FindLayers(const GraphView& view, const MatchOptions& options = {});

}  // namespace tfqat::patterns

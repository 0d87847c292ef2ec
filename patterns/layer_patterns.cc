#include "patterns/layer_patterns.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"

namespace tfqat::patterns {

namespace {

Pat ParamRead() {
  return Pat::OneOf({
                        Pat::Op(ops::kConst).Boundary(),
                        Pat::Op(ops::kIdentity).Boundary().Where(pred::IsConstOrVariableRead()),
                        Pat::Op(ops::kReadVariableOp).Boundary(),
                    })
      .Capture(cap::kWeightsSource)
      .Role("a constant or variable read");
}

// Mul(param, scale): weights scaled by a folded batch norm (any name).
Pat MulFold() {
  return Pat::Op(ops::kMul)
      .Capture(cap::kMulFold)
      .Commutative()
      .Inputs({ParamRead(), Pat::Any(cap::kFoldScale)});
}

Pat UnquantizedWeights() {
  return Pat::OneOf({ParamRead(), MulFold()})
      .Role("weights (a constant, a variable read or a folded Mul of one)");
}

}  // namespace

Pat WeightsPattern() {
  Pat fq = Pat::Op(ops::kFakeQuant).Boundary().Capture(cap::kWeightsQuant).Inputs({Pat::Any()});
  Pat delayed = Pat::Op(ops::kSelectV2)
                    .Boundary()
                    .Capture(cap::kWeightsQuant)
                    .Inputs({Pat::Any(), Pat::Op(ops::kFakeQuant).Boundary(), Pat::Any()});
  // Depthwise per-channel weights are quantized as [h, w, 1, in*mult] between two Reshapes.
  Pat reshaped = Pat::Op(OpSet{"Reshape"})
                     .Boundary()
                     .Capture(cap::kWeightsQuant)
                     .Inputs({Pat::OneOf({Pat::Op(ops::kFakeQuant).Boundary(),
                                          Pat::Op(ops::kSelectV2).Boundary().Inputs(
                                              {Pat::Any(), Pat::Op(ops::kFakeQuant).Boundary(),
                                               Pat::Any()})}),
                              Pat::Any()});
  return Pat::OneOf({UnquantizedWeights(), fq, delayed, reshaped})
      .Capture(cap::kWeights)
      .Role("weights (a constant, a variable read, a folded Mul of one, or a FakeQuant)");
}

namespace {

Pattern MakeLayerPattern() {
  Pat weighted = Pat::OneOf({
      Pat::Op(ops::kWeightedInput1)
          .Capture(cap::kWeighted)
          .Inputs({Pat::Any(cap::kInput), WeightsPattern()}),
      Pat::Op(ops::kConv2DBackpropInput)
          .Capture(cap::kWeighted)
          .Inputs({Pat::Any(cap::kInputSizes), WeightsPattern(), Pat::Any(cap::kInput)}),
  }).Role("a weighted op (Conv2D, DepthwiseConv2dNative, MatMul, Conv2DBackpropInput)");

  Pat correction = Pat::Op(ops::kMul)
                       .Capture(cap::kCorrectionMult)
                       .Where(Predicate{"named */correction_mult or */post_conv_mul",
                                        [](const GraphView& v, int n) {
                                          const std::string& name = v.node(n).name();
                                          return absl::EndsWith(name, "/correction_mult") ||
                                                 absl::EndsWith(name, "/post_conv_mul");
                                        }})
                       .Commutative()
                       .Inputs({weighted, Pat::Any()})
                       .Optional();

  Pat param_op = Pat::Op(OpSet{"Const", "Identity", "ReadVariableOp"})
                     .Boundary()
                     .Capture(cap::kBiasParam)
                     .Port(-1)
                     .Where(pred::IsConstOrVariableRead());
  Pat bias = Pat::OneOf({
                            Pat::Op(ops::kBiasAdd).Capture(cap::kBias).Inputs({correction, param_op}),
                            Pat::Op(ops::kAdd)
                                .Capture(cap::kBias)
                                .Commutative()
                                .Inputs({correction, param_op}),
                            Pat::Op(ops::kAdd)
                                .Capture(cap::kAddFold)
                                .Where(pred::NameEndsWith("/add_fold"))
                                .Commutative()
                                .Inputs({correction, Pat::Any()}),
                        })
                 .Role("a bias add")
                 .Inputs({correction})
                 .Optional();

  Pat bn = Pat::Op(ops::kFusedBatchNorm)
               .Capture(cap::kBatchNorm)
               .Inputs({bias, Pat::Any(), Pat::Any(), Pat::Any(), Pat::Any()})
               .Optional();

  Pat residual_other = Pat::Any(cap::kResidualInput).Port(-1);
  Pat residual = Pat::Op(ops::kAdd)
                     .Capture(cap::kResidual)
                     .Where(Predicate{"an Add of the layer and a non-constant tensor",
                                      [](const GraphView& v, int n) {
                                        // Neither operand may be a parameter (that is a bias).
                                        const auto& fanin = v.fanin(n);
                                        if (fanin.size() < 2) return false;
                                        auto is_param = pred::IsConstOrVariableRead().test;
                                        return !is_param(v, fanin[0].node) &&
                                               !is_param(v, fanin[1].node);
                                      }})
                     .Where(pred::Not(pred::NameEndsWith("/add_fold")))
                     .Commutative()
                     .Inputs({bn, residual_other})
                     .Optional();

  Pat activation =
      Pat::Op(ops::kActivation).Capture(cap::kActivation).Inputs({residual}).Optional();
  return Pattern(kLayerPatternName, activation);
}

}  // namespace

const Pattern& LayerPattern() {
  static const Pattern* const kPattern = new Pattern(MakeLayerPattern());
  return *kPattern;
}

LayerMatch DecodeLayer(const Match& match) {
  LayerMatch l;
  l.output = match.root;
  for (const auto& [name, c] : match.captures) {
    if (name == cap::kWeighted) l.weighted = c.node;
    else if (name == cap::kInput) l.input = c;
    else if (name == cap::kWeights) l.weights = c;
    else if (name == cap::kWeightsSource) l.weights_source = c.node;
    else if (name == cap::kMulFold) l.mul_fold = c.node;
    else if (name == cap::kWeightsQuant) l.weights_quant = c.node;
    else if (name == cap::kCorrectionMult) l.correction_mult = c.node;
    else if (name == cap::kBias) l.bias = c.node;
    else if (name == cap::kBiasParam) l.bias_param = c.node;
    else if (name == cap::kAddFold) l.add_fold = c.node;
    else if (name == cap::kBatchNorm) l.batch_norm = c.node;
    else if (name == cap::kResidual) l.residual = c.node;
    else if (name == cap::kResidualInput) l.residual_input = c;
    else if (name == cap::kActivation) l.activation = c.node;
  }
  if (!match.Has(cap::kResidualInput)) l.residual_input = Captured{-1, 0};
  if (!match.Has(cap::kInput)) l.input = Captured{-1, 0};
  if (!match.Has(cap::kWeights)) l.weights = Captured{-1, 0};
  l.weights_input_slot = 1;
  return l;
}

std::string LayerKind(const GraphView& view, const LayerMatch& l) {
  std::string kind;  // the parts joined with '+'
  auto add = [&](absl::string_view prefix, absl::string_view part) {
    absl::StrAppend(&kind, kind.empty() ? "" : "+", prefix, part);
  };
  auto add_op = [&](int n) {
    if (n >= 0) add("", view.node(n).op());
  };
  add_op(l.weighted);
  add_op(l.correction_mult);
  add_op(l.bias);
  if (l.add_fold >= 0) add("", "add_fold");
  add_op(l.batch_norm);
  if (l.residual >= 0) add("residual ", view.node(l.residual).op());
  add_op(l.activation);
  return kind;
}

absl::StatusOr<MatchSet> FindLayers(const GraphView& view, const MatchOptions& options) {
  return FindMatches(view, {LayerPattern()}, options);
}

}  // namespace tfqat::patterns

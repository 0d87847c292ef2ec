// Typed sets of TensorFlow op types for patterns (instead of "A|B" strings), and the op-type
// constants the matcher and the rewrites share.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace tfqat::patterns {

// A small, ordered set of op type names. Order is kept for messages ("{Conv2D, MatMul}").
class OpSet {
 public:
  OpSet() = default;
  OpSet(std::initializer_list<const char*> ops);
  explicit OpSet(std::vector<std::string> ops);

  bool Contains(absl::string_view op) const;
  bool empty() const { return ops_.empty(); }
  const std::vector<std::string>& ops() const { return ops_; }
  // Union, keeping this set's order first.
  OpSet operator|(const OpSet& other) const;
  // "{Conv2D, MatMul}".
  std::string ToString() const;

 private:
  std::vector<std::string> ops_;
};

// The op sets of the layer patterns (one definition each, used by rewrite and audit alike).
namespace ops {
extern const OpSet kConv2D;                 // Conv2D
extern const OpSet kDepthwiseConv2dNative;  // DepthwiseConv2dNative
extern const OpSet kMatMul;                 // MatMul
extern const OpSet kConv2DBackpropInput;    // Conv2DBackpropInput (transpose conv)
// Weighted ops whose weights are input 1 and data input 0: Conv2D, DepthwiseConv2dNative, MatMul.
extern const OpSet kWeightedInput1;
// Every weighted op (the above + Conv2DBackpropInput).
extern const OpSet kWeighted;
extern const OpSet kBiasAdd;         // BiasAdd
extern const OpSet kAdd;             // Add, AddV2
extern const OpSet kMul;             // Mul
extern const OpSet kFusedBatchNorm;  // FusedBatchNorm, FusedBatchNormV3
extern const OpSet kActivation;      // Relu, Relu6, Identity, LeakyRelu, Elu, Tanh, Sigmoid
extern const OpSet kConst;           // Const
extern const OpSet kIdentity;        // Identity
extern const OpSet kVariable;        // VariableV2, Variable
extern const OpSet kReadVariableOp;  // ReadVariableOp
extern const OpSet kVarHandleOp;     // VarHandleOp
extern const OpSet kFakeQuant;       // FakeQuantWithMinMaxVars, ...PerChannel, ...Args
extern const OpSet kSelectV2;        // SelectV2
extern const OpSet kPassThrough;     // AvgPool, MaxPool, Reshape, Squeeze, Pad
extern const OpSet kConcat;          // ConcatV2
}  // namespace ops

}  // namespace tfqat::patterns

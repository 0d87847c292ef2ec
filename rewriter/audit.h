// Fake-quant placement audit (`tfqat audit`): what the converter will need to quantize, where
// each tensor gets its range from, and every misplacement, all at once (see docs/audit.md).
//
// The layer structure comes from the shared layer patterns (patterns/layer_patterns.h): the
// audit and `tfqat rewrite` agree on what a layer is by construction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/graph.pb.h"

namespace tfqat {

enum class AuditSeverity { kError, kWarning, kInfo };

// "error", "warning", "info".
const char* AuditSeverityName(AuditSeverity s);

// Stable rule identifiers (the `rule` field of a finding; documented in docs/audit.md).
namespace audit_rule {
inline constexpr char kMissingRange[] = "missing-range";
inline constexpr char kInputRange[] = "input-range";
inline constexpr char kUnquantizedWeights[] = "unquantized-weights";
inline constexpr char kUnmatchedWeightedOp[] = "unmatched-weighted-op";
inline constexpr char kFakeQuantBeforeBias[] = "fake-quant-before-bias";
inline constexpr char kFakeQuantBeforeActivation[] = "fake-quant-before-activation";
inline constexpr char kBiasQuantized[] = "bias-quantized";
inline constexpr char kRangeExcludesZero[] = "range-excludes-zero";
inline constexpr char kEmptyRange[] = "empty-range";
inline constexpr char kConcatRanges[] = "concat-ranges-differ";
inline constexpr char kPerChannelAxis[] = "per-channel-axis";
inline constexpr char kBitWidth[] = "bit-width";
inline constexpr char kMixedBitWidths[] = "mixed-bit-widths";
inline constexpr char kLegacyQuantized[] = "legacy-quantized-graph";
inline constexpr char kLegacyWeights[] = "legacy-quantized-weights";
inline constexpr char kNoFakeQuant[] = "no-fake-quant";
}  // namespace audit_rule

struct AuditFinding {
  AuditSeverity severity = AuditSeverity::kError;
  std::string rule;     // audit_rule::k*
  std::string node;     // the node the finding is about
  std::string op;       // its op
  std::string message;  // what is wrong, in words (names the node and op)
  std::string fix;      // what to do
  std::vector<std::string> related;  // other nodes involved (drawn highlighted)
};

// Where a tensor's range comes from.
enum class RangeSource {
  kFakeQuant,    // a FakeQuant on the tensor (its own output, or a FakeQuant consuming it)
  kPassThrough,  // same range as another tensor (pool, reshape, squeeze, pad, concat, relu)
  kFixed,        // fixed by the op (Softmax, Sigmoid, Tanh)
  kInput,        // a model input without FakeQuant: --mean-values/--std-dev-values
  kMissing,      // nothing: the converter reports "lacking min/max data"
};

// "fake_quant", "pass_through", "fixed", "input", "missing".
const char* RangeSourceName(RangeSource s);

// One tensor the converter will quantize (a non-constant float tensor on the inference path
// that is not the interior of a fused layer).
struct AuditTensor {
  std::string tensor;  // "node" or "node:port"
  std::string node;
  std::string op;
  RangeSource source = RangeSource::kMissing;
  std::string from;  // node that provides the range (FakeQuant, pass-through origin, op)
  // Effective (nudged) range when known: Const ranges, fixed-range ops.
  bool has_values = false;
  float min = 0;
  float max = 0;
  int num_bits = 8;
  std::string rule;  // for kMissing: the rule that should have covered it
};

// One layer found by the shared layer pattern.
struct AuditLayer {
  std::string weighted_op;
  std::string op;     // Conv2D, MatMul, ...
  std::string kind;   // "Conv2D+BiasAdd+Relu6"
  std::string output;  // the layer's output node (its range is the layer's output range)
  std::string weights_quant;  // the weights' FakeQuant node, empty if none
  bool per_channel = false;
  std::vector<std::string> interior;  // fused nodes (no tensor of their own after conversion)
};

struct AuditOptions {
  // Fetched outputs (node names); empty: the graph's sinks.
  std::vector<std::string> outputs;
  // Validate the graph first (structural validation; errors make AuditGraph fail).
  bool validate = true;
};

struct AuditReport {
  int num_nodes = 0;
  int num_fake_quant = 0;
  std::vector<AuditFinding> findings;  // errors first, then warnings, then infos; graph order
  std::vector<AuditTensor> tensors;    // in topological order
  std::vector<AuditLayer> layers;      // in graph order of the weighted op
  bool legacy_quantized = false;

  int Count(AuditSeverity s) const;
  // Errors or warnings present (exit code 1).
  bool HasProblems() const;
};

// Errors: InvalidArgument when the graph cannot be indexed or validated (exit code 2).
absl::StatusOr<AuditReport> AuditGraph(const tensorflow::GraphDef& graph, const AuditOptions& options);

// Effective range of FakeQuant after TensorFlow's nudge (fake_quant_ops_functor.h), float32
// arithmetic in the kernel's order. For min >= max the scale is not positive and the result is
// degenerate (NaN or a collapsed range); callers report it as such.
struct NudgedRange {
  float min = 0;
  float max = 0;
  float scale = 0;
  float zero_point = 0;
};
NudgedRange NudgeRange(float min, float max, int num_bits, bool narrow_range);

// Renderers (audit_render.cc).
struct AuditRenderOptions {
  // DOT: draw only nodes within `depth` data edges of `around` (empty: whole graph).
  std::string around;
  int depth = 3;
};
std::string RenderAuditText(const AuditReport& report);
// Stable schema "tfqat.audit/1" (docs/audit.md).
std::string RenderAuditJson(const AuditReport& report);
absl::StatusOr<std::string> RenderAuditDot(const tensorflow::GraphDef& graph, const AuditReport& report,
                                           const AuditRenderOptions& options);

}  // namespace tfqat

// Patterns are data: a tree of pattern nodes rooted at the node that produces the match's
// output, with inputs toward the graph inputs (like TF graph_transforms' OpTypePattern).
//
//   // Relu?(BiasAdd?(Conv2D(x, w)))
//   Pattern p("conv_layer",
//       Pat::Op(ops::kActivation).Capture("activation").Optional().Inputs({
//         Pat::Op(ops::kBiasAdd).Capture("bias").Optional().Inputs({
//           Pat::Op(ops::kConv2D).Capture("conv").Inputs({Pat::Any("input"), weights})})}));
//
// One generic matcher (matcher.h) applies any pattern. A pattern node is one of
//   - Op(set):     a graph node whose op type is in `set`;
//   - Any():       any producer (a wildcard, never owned by the match);
//   - OneOf(alts): the first alternative that matches (ordered, deterministic).
// and may carry: a named capture, predicates, `Optional()` (absent: its pass-through input's
// pattern is matched at the same graph node instead), `Commutative()` (inputs 0 and 1 may be
// matched in either order; for Add/AddV2/Mul), `Boundary()` (matched and captured but not
// owned: a shared weight or an input, not checked for fan-out and never claimed) and
// `AllowEscape()` (an owned interior node whose output may have consumers outside the match).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph_view.h"
#include "patterns/op_set.h"

namespace tfqat::patterns {

// A named test on a candidate graph node, e.g. "attr data_format is NHWC".
struct Predicate {
  std::string description;
  std::function<bool(const GraphView& view, int node)> test;
};

struct PatternNode;
using PatternPtr = std::shared_ptr<const PatternNode>;

struct PatternNode {
  enum class Kind { kOp, kAny, kOneOf };
  Kind kind = Kind::kAny;
  OpSet ops;                           // kOp: accepted op types
  std::vector<PatternPtr> alternatives;  // kOneOf: tried in order
  std::string capture;                 // "" = not captured
  // Patterns of the node's data inputs 0..n-1 (further inputs are unconstrained). For kOneOf
  // only inputs[pass_through] is used: the pattern matched when an Optional() OneOf is absent.
  std::vector<PatternPtr> inputs;
  // The node must have exactly inputs.size() data inputs (when set).
  bool exact_inputs = false;
  bool commutative = false;  // inputs 0 and 1 in either order
  bool optional = false;     // absent => inputs[pass_through] is matched here instead
  int pass_through = 0;
  bool boundary = false;      // matched/captured, not owned (no fan-out check, not claimed)
  bool allow_escape = false;  // owned, but its output may be consumed outside the match
  // Output port of the producer when this pattern is matched as an input: -1 = any port.
  int port = 0;
  std::vector<Predicate> predicates;
  // A short role used in failure messages ("bias", "activation"); defaults to the capture.
  std::string role;

  std::string Describe() const;  // "BiasAdd 'bias'", "one of {...}", "any"
};

// Value-type builder for pattern nodes.
class Pat {
 public:
  static Pat Op(const OpSet& ops);
  static Pat Any(std::string capture = "");
  static Pat OneOf(std::vector<Pat> alternatives);

  Pat& Capture(std::string name);
  Pat& Inputs(std::vector<Pat> inputs);
  Pat& ExactInputs();
  Pat& Commutative();
  Pat& Optional(int pass_through = 0);
  Pat& Boundary();
  Pat& AllowEscape();
  Pat& Port(int port);
  Pat& Where(Predicate predicate);
  Pat& Role(std::string role);

  PatternPtr Build() const { return std::make_shared<const PatternNode>(node_); }
  const PatternNode& node() const { return node_; }

 private:
  PatternNode node_;
};

// A named pattern (the name appears in matches, reports and failure reasons).
struct Pattern {
  Pattern() = default;
  Pattern(std::string name, const Pat& root) : name(std::move(name)), root(root.Build()) {}
  std::string name;
  PatternPtr root;
};

// Op types a root candidate can have for `pattern` to possibly match there (looking through
// optional nodes and alternatives); `*any` is set when a wildcard can be the root.
OpSet RootOps(const PatternNode& pattern, bool* any);

// Common predicates.
namespace pred {
// The node's attribute `name` is the string `value` (absent attribute: `absent_default`).
Predicate AttrStringIs(std::string name, std::string value, std::string absent_default = "");
// Node name ends with `suffix` (used for nodes this toolchain emits itself, e.g. "/add_fold").
Predicate NameEndsWith(std::string suffix);
// Const, Identity(/read) of a VariableV2/Const, or ReadVariableOp: a parameter tensor.
Predicate IsConstOrVariableRead();
// The negation of a predicate.
Predicate Not(Predicate p);
}  // namespace pred

}  // namespace tfqat::patterns

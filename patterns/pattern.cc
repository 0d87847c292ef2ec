#include "patterns/pattern.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tfqat::patterns {

std::string PatternNode::Describe() const {
  std::string what;
  switch (kind) {
    case Kind::kAny:
      what = "any";
      break;
    case Kind::kOneOf:
      if (!role.empty()) return role;
      what = absl::StrCat("one of ", alternatives.size(), " alternatives");
      break;
    case Kind::kOp:
      what = ops.ops().size() == 1 ? ops.ops()[0] : ops.ToString();
      break;
  }
  const std::string& r = role.empty() ? capture : role;
  if (!r.empty()) absl::StrAppend(&what, " '", r, "'");
  return what;
}

Pat Pat::Op(const OpSet& ops) {
  Pat p;
  p.node_.kind = PatternNode::Kind::kOp;
  p.node_.ops = ops;
  return p;
}

Pat Pat::Any(std::string capture) {
  Pat p;
  p.node_.kind = PatternNode::Kind::kAny;
  p.node_.capture = std::move(capture);
  p.node_.boundary = true;
  return p;
}

Pat Pat::OneOf(std::vector<Pat> alternatives) {
  Pat p;
  p.node_.kind = PatternNode::Kind::kOneOf;
  for (const Pat& a : alternatives) p.node_.alternatives.push_back(a.Build());
  return p;
}

Pat& Pat::Capture(std::string name) {
  node_.capture = std::move(name);
  return *this;
}
Pat& Pat::Inputs(std::vector<Pat> inputs) {
  node_.inputs.clear();
  for (const Pat& i : inputs) node_.inputs.push_back(i.Build());
  return *this;
}
Pat& Pat::ExactInputs() {
  node_.exact_inputs = true;
  return *this;
}
Pat& Pat::Commutative() {
  node_.commutative = true;
  return *this;
}
Pat& Pat::Optional(int pass_through) {
  node_.optional = true;
  node_.pass_through = pass_through;
  return *this;
}
Pat& Pat::Boundary() {
  node_.boundary = true;
  return *this;
}
Pat& Pat::AllowEscape() {
  node_.allow_escape = true;
  return *this;
}
Pat& Pat::Port(int port) {
  node_.port = port;
  return *this;
}
Pat& Pat::Where(Predicate predicate) {
  node_.predicates.push_back(std::move(predicate));
  return *this;
}
Pat& Pat::Role(std::string role) {
  node_.role = std::move(role);
  return *this;
}

namespace {
void CollectRootOps(const PatternNode& p, std::vector<std::string>* out, bool* any) {
  switch (p.kind) {
    case PatternNode::Kind::kAny:
      *any = true;
      break;
    case PatternNode::Kind::kOp:
      for (const std::string& o : p.ops.ops()) out->push_back(o);
      break;
    case PatternNode::Kind::kOneOf:
      for (const PatternPtr& a : p.alternatives) CollectRootOps(*a, out, any);
      break;
  }
  if (p.optional && p.pass_through >= 0 && p.pass_through < static_cast<int>(p.inputs.size())) {
    CollectRootOps(*p.inputs[p.pass_through], out, any);
  }
}
}  // namespace

OpSet RootOps(const PatternNode& pattern, bool* any) {
  std::vector<std::string> out;
  bool a = false;
  CollectRootOps(pattern, &out, &a);
  if (any != nullptr) *any = a;
  return OpSet(std::move(out));
}

namespace pred {

Predicate AttrStringIs(std::string name, std::string value, std::string absent_default) {
  std::string desc = absl::StrCat("attr ", name, " is ", value);
  return Predicate{std::move(desc), [name, value, absent_default](const GraphView& view, int n) {
                     const auto& attrs = view.node(n).attr();
                     auto it = attrs.find(name);
                     if (it == attrs.end()) return absent_default == value;
                     return it->second.value_case() == tensorflow::AttrValue::kS &&
                            it->second.s() == value;
                   }};
}

Predicate NameEndsWith(std::string suffix) {
  std::string desc = absl::StrCat("name ends with '", suffix, "'");
  return Predicate{std::move(desc), [suffix](const GraphView& view, int n) {
                     return absl::EndsWith(view.node(n).name(), suffix);
                   }};
}

namespace {
bool IsParamNode(const GraphView& view, int n, int depth) {
  const std::string& op = view.node(n).op();
  if (op == "Const" || op == "VariableV2" || op == "Variable" || op == "ReadVariableOp") return true;
  if (op == "Identity" && depth < 4) {
    const auto& fanin = view.fanin(n);
    if (fanin.empty() || fanin[0].is_control) return false;
    return IsParamNode(view, fanin[0].node, depth + 1);
  }
  return false;
}
}  // namespace

Predicate IsConstOrVariableRead() {
  return Predicate{"a constant or a variable read", [](const GraphView& view, int n) {
                     return IsParamNode(view, n, 0);
                   }};
}

Predicate Not(Predicate p) {
  std::string desc = absl::StrCat("not ", p.description);
  auto test = p.test;
  return Predicate{std::move(desc),
                   [test](const GraphView& view, int n) { return !test(view, n); }};
}

}  // namespace pred

}  // namespace tfqat::patterns

#include "graph/validate.h"

#include <cmath>
#include "absl/strings/string_view.h"
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "graph/attrs.h"
#include "graph/graph_view.h"
#include "graph/tensor.h"

namespace tfqat {
namespace {

// The kind each well-known attribute must have, whatever the op.
const absl::flat_hash_map<absl::string_view, absl::string_view>& KnownAttrKinds() {
  static const auto* kinds = new absl::flat_hash_map<absl::string_view, absl::string_view>{
      {"strides", "list(int)"}, {"dilations", "list(int)"}, {"ksize", "list(int)"},
      {"explicit_paddings", "list(int)"}, {"padding", "string"}, {"data_format", "string"},
      {"T", "type"}, {"dtype", "type"}, {"Tidx", "type"}, {"Tshape", "type"},
      {"value", "tensor"}, {"num_bits", "int"}, {"narrow_range", "bool"},
      {"transpose_a", "bool"}, {"transpose_b", "bool"}, {"adj_x", "bool"}, {"adj_y", "bool"},
      {"epsilon", "float"}, {"is_training", "bool"}, {"keep_dims", "bool"}, {"N", "int"},
      {"alpha", "float"}, {"use_cudnn_on_gpu", "bool"}, {"shape", "shape"}};
  return *kinds;
}

// Ops whose "T" is a list of types (TensorFlow's OpDefs: `T: list(type)`), not a single type.
bool TypeListOp(absl::string_view op) {
  return op == "IdentityN" || op == "Assert" || op == "Save" || op == "SaveSlices" || op == "StringFormat" ||
         op == "Batch";
}

bool KindMatches(absl::string_view want, const tensorflow::AttrValue& v) {
  std::string got = AttrKindName(v);
  if (got == want) return true;
  return got == "list (empty)" && want.substr(0, 5) == "list(";
}

std::string Where(const tensorflow::NodeDef& n) { return absl::StrCat("node '", n.name(), "' (", n.op(), ")"); }

}  // namespace

std::vector<absl::Status> ValidateGraphAll(const tensorflow::GraphDef& graph, const ValidateOptions& options) {
  std::vector<absl::Status> problems;
  auto add = [&](absl::Status s) {
    if (static_cast<int>(problems.size()) < options.max_problems) problems.push_back(std::move(s));
  };
  // Per-node checks that do not need the index.
  absl::flat_hash_map<absl::string_view, int> seen;
  for (int i = 0; i < graph.node_size(); ++i) {
    const auto& node = graph.node(i);
    if (node.name().empty()) {
      add(absl::InvalidArgumentError(absl::StrCat("node #", i, " (", node.op(), ") has an empty name")));
      continue;
    }
    if (node.op().empty()) add(absl::InvalidArgumentError(absl::StrCat(Where(node), ": empty op type")));
    auto [it, inserted] = seen.emplace(node.name(), i);
    if (!inserted) {
      add(absl::InvalidArgumentError(absl::StrCat(Where(node), ": duplicate node name (also node #",
                                                  it->second, "); node names must be unique")));
    }
    bool saw_control = false;
    for (int s = 0; s < node.input_size(); ++s) {
      const std::string& in = node.input(s);
      auto ref = ParseTensorRef(in);
      if (!ref.ok()) {
        add(absl::InvalidArgumentError(absl::StrCat(Where(node), ": input ", s, ": ", ref.status().message())));
        continue;
      }
      if (ref->is_control) {
        saw_control = true;
      } else if (saw_control) {
        add(absl::InvalidArgumentError(absl::StrCat(
            Where(node), ": data input ", s, " '", in,
            "' comes after a control input; control inputs (^name) must come last")));
      }
    }
    if (options.check_attr_types) {
      for (const auto& [name, value] : node.attr()) {
        auto k = KnownAttrKinds().find(name);
        if (k == KnownAttrKinds().end()) continue;
        // "shape" is a list(shape) on some ops (e.g. *Stack, Iterator); only Placeholder-like
        // and variable ops use a single shape.
        if (name == "shape" && node.op() != "Placeholder" && node.op() != "VariableV2" &&
            node.op() != "PlaceholderWithDefault" && node.op() != "VarHandleOp") {
          continue;
        }
        const absl::string_view want = name == "T" && TypeListOp(node.op()) ? "list(type)" : k->second;
        if (!KindMatches(want, value)) {
          add(absl::InvalidArgumentError(absl::StrCat(Where(node), ": attribute '", name, "' must be ",
                                                      want, ", got ", AttrKindName(value))));
        }
      }
    }
    if (options.check_const_tensors && node.op() == "Const") {
      auto v = node.attr().find("value");
      if (v == node.attr().end()) {
        add(absl::InvalidArgumentError(absl::StrCat(Where(node), ": Const without a 'value' attribute")));
      } else if (v->second.value_case() == tensorflow::AttrValue::kTensor) {
        auto st = ValidateTensorProto(v->second.tensor(), Where(node));
        if (!st.ok()) {
          add(st);
        } else if (options.reject_nonfinite_constants &&
                   BaseType(v->second.tensor().dtype()) == tensorflow::DT_FLOAT) {
          auto t = DecodeTensor<float>(v->second.tensor(), Where(node));
          if (t.ok()) {
            for (size_t j = 0; j < t->values.size(); ++j) {
              if (!std::isfinite(t->values[j])) {
                add(absl::InvalidArgumentError(absl::StrCat(Where(node), ": value ", j, " is ",
                                                            t->values[j],
                                                            "; weights must be finite numbers")));
                break;
              }
            }
          }
        }
      }
    }
  }
  if (!problems.empty()) return problems;
  // Index-level checks: dangling inputs, then cycles.
  auto view = GraphView::Create(graph);
  if (!view.ok()) {
    add(view.status());
    // Report every dangling input, not only the first.
    for (const auto& node : graph.node()) {
      for (int s = 0; s < node.input_size(); ++s) {
        absl::string_view target = NodeNameOf(node.input(s));
        if (!seen.contains(target)) {
          auto st = absl::InvalidArgumentError(absl::StrCat(
              Where(node), ": input ", s, " '", node.input(s),
              "' names a node that does not exist (dangling input)"));
          if (st != problems.front()) add(st);
        }
      }
    }
    return problems;
  }
  auto order = view->TopologicalOrder();
  if (!order.ok()) add(order.status());
  return problems;
}

absl::Status ValidateGraph(const tensorflow::GraphDef& graph, const ValidateOptions& options) {
  ValidateOptions one = options;
  one.max_problems = 1;
  auto problems = ValidateGraphAll(graph, one);
  return problems.empty() ? absl::OkStatus() : problems.front();
}

}  // namespace tfqat

// Renderers of an AuditReport: text grouped by severity, JSON (schema "tfqat.audit/1") and a
// Graphviz DOT drawing with quantized tensors, missing ranges and violations coloured.
#include <algorithm>
#include <deque>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/graph_view.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "rewriter/audit.h"

namespace tfqat {

namespace {

std::string Fmt(float v) { return absl::StrFormat("%.4g", v); }

}  // namespace

std::string RenderAuditText(const AuditReport& report) {
  int missing = 0;
  for (const auto& t : report.tensors) missing += t.source == RangeSource::kMissing ? 1 : 0;
  std::string out = absl::StrCat("tfqat audit: ", report.num_nodes, " nodes, ", report.num_fake_quant,
                                 " FakeQuant, ", report.layers.size(), " layers, ", report.tensors.size(),
                                 " tensors to quantize (", missing, " lacking min/max data)\n");
  for (AuditSeverity sev : {AuditSeverity::kError, AuditSeverity::kWarning, AuditSeverity::kInfo}) {
    int count = report.Count(sev);
    if (count == 0) continue;
    absl::StrAppend(&out, "\n", sev == AuditSeverity::kError     ? "errors"
                                : sev == AuditSeverity::kWarning ? "warnings"
                                                                 : "info",
                    " (", count, "):\n");
    for (const auto& f : report.findings) {
      if (f.severity != sev) continue;
      if (f.node.empty()) {
        absl::StrAppend(&out, "  [", f.rule, "] ", f.message, "\n");
      } else {
        absl::StrAppend(&out, "  node '", f.node, "' (", f.op, ") [", f.rule, "]: ", f.message, "\n");
      }
      absl::StrAppend(&out, "    fix: ", f.fix, "\n");
    }
  }
  int errors = report.Count(AuditSeverity::kError), warnings = report.Count(AuditSeverity::kWarning);
  absl::StrAppend(&out, "\nresult: ", errors, " error", errors == 1 ? "" : "s", ", ", warnings, " warning",
                  warnings == 1 ? "" : "s", report.HasProblems() ? ": problems found\n" : ": clean\n");
  return out;
}

std::string RenderAuditJson(const AuditReport& report) {
  using nlohmann::json;
  int missing = 0;
  for (const auto& t : report.tensors) missing += t.source == RangeSource::kMissing ? 1 : 0;
  json j;
  j["schema"] = "tfqat.audit/1";
  j["summary"] = {
      {"nodes", report.num_nodes},
      {"fake_quant", report.num_fake_quant},
      {"layers", report.layers.size()},
      {"tensors", report.tensors.size()},
      {"missing_ranges", missing},
      {"errors", report.Count(AuditSeverity::kError)},
      {"warnings", report.Count(AuditSeverity::kWarning)},
      {"infos", report.Count(AuditSeverity::kInfo)},
      {"legacy_quantized", report.legacy_quantized},
      {"clean", !report.HasProblems()},
  };
  json findings = json::array();
  for (const auto& f : report.findings) {
    findings.push_back({{"severity", AuditSeverityName(f.severity)},
                        {"rule", f.rule},
                        {"node", f.node},
                        {"op", f.op},
                        {"message", f.message},
                        {"fix", f.fix},
                        {"related", f.related}});
  }
  j["findings"] = findings;
  json tensors = json::array();
  for (const auto& t : report.tensors) {
    json e = {{"tensor", t.tensor}, {"node", t.node},     {"op", t.op},
              {"source", RangeSourceName(t.source)},     {"from", t.from},
              {"num_bits", t.num_bits}, {"rule", t.rule}};
    e["min"] = t.has_values ? json(t.min) : json(nullptr);
    e["max"] = t.has_values ? json(t.max) : json(nullptr);
    tensors.push_back(e);
  }
  j["tensors"] = tensors;
  json layers = json::array();
  for (const auto& l : report.layers) {
    layers.push_back({{"weighted_op", l.weighted_op},
                      {"op", l.op},
                      {"kind", l.kind},
                      {"output", l.output},
                      {"weights_quant", l.weights_quant},
                      {"per_channel", l.per_channel},
                      {"interior", l.interior}});
  }
  j["layers"] = layers;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

namespace {

std::string DotEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

bool IsConstantLike(const GraphView& v, int n, std::vector<int>* memo) {
  int& m = (*memo)[n];
  if (m >= 0) return m == 1;
  m = 0;  // cycle guard
  const std::string& op = v.node(n).op();
  bool result;
  if (op == "Const" || op == "VariableV2" || op == "VarHandleOp" || op == "ReadVariableOp") {
    result = true;
  } else if (op == "Placeholder" || op == "PlaceholderWithDefault") {
    result = false;
  } else {
    bool any = false, all = true;
    for (const Producer& p : v.fanin(n)) {
      if (p.is_control) continue;
      any = true;
      all = all && IsConstantLike(v, p.node, memo);
    }
    result = any && all;
  }
  m = result ? 1 : 0;
  return result;
}

}  // namespace

absl::StatusOr<std::string> RenderAuditDot(const tensorflow::GraphDef& graph, const AuditReport& report,
                                           const AuditRenderOptions& options) {
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(graph));
  const int num = view.num_nodes();
  // Which nodes to draw.
  std::vector<bool> draw(num, true);
  if (!options.around.empty()) {
    auto center = view.index(options.around);
    if (!center) {
      return absl::InvalidArgumentError(absl::StrCat("--around: node '", options.around, "' is not in the graph"));
    }
    std::vector<int> dist(num, -1);
    std::deque<int> q{*center};
    dist[*center] = 0;
    while (!q.empty()) {
      int n = q.front();
      q.pop_front();
      if (dist[n] >= options.depth) continue;
      auto visit = [&](int m) {
        if (dist[m] < 0) {
          dist[m] = dist[n] + 1;
          q.push_back(m);
        }
      };
      for (const Producer& p : view.fanin(n)) {
        if (!p.is_control) visit(p.node);
      }
      for (const Consumer& c : view.fanout(n)) {
        if (!c.is_control) visit(c.node);
      }
    }
    for (int i = 0; i < num; ++i) draw[i] = dist[i] >= 0;
  }
  // Constant subgraphs are drawn only when a finding names them (they would drown the picture).
  std::vector<int> memo(num, -1);
  absl::flat_hash_map<std::string, AuditSeverity> worst;
  absl::flat_hash_map<std::string, std::vector<std::string>> rules;
  absl::flat_hash_set<std::string> related;
  for (const auto& f : report.findings) {
    if (f.node.empty()) continue;
    auto it = worst.find(f.node);
    if (it == worst.end() || f.severity < it->second) worst[f.node] = f.severity;
    rules[f.node].push_back(f.rule);
    for (const auto& r : f.related) related.insert(r);
  }
  absl::flat_hash_map<std::string, const AuditTensor*> tensor_of;
  for (const auto& t : report.tensors) tensor_of[t.node] = &t;
  absl::flat_hash_map<std::string, const AuditLayer*> layer_of_weighted, layer_of_output;
  absl::flat_hash_set<std::string> interior;
  for (const auto& l : report.layers) {
    layer_of_weighted[l.weighted_op] = &l;
    layer_of_output[l.output] = &l;
    for (const auto& i : l.interior) interior.insert(i);
  }
  for (int i = 0; i < num; ++i) {
    const std::string& name = view.node(i).name();
    if (draw[i] && IsConstantLike(view, i, &memo) && !worst.contains(name) && !related.contains(name)) {
      draw[i] = false;
    }
  }

  std::string out =
      "digraph audit {\n"
      "  graph [rankdir=TB, fontname=\"Helvetica\", fontsize=12, nodesep=0.25, ranksep=0.35];\n"
      "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, "
      "fillcolor=\"#f2f2f2\", color=\"#999999\"];\n"
      "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#666666\"];\n";
  // Legend.
  absl::StrAppend(
      &out,
      "  subgraph cluster_legend {\n    label=\"legend\"; fontsize=10; color=\"#cccccc\";\n"
      "    legend_fq [label=\"FakeQuant\", fillcolor=\"#cfe2ff\", color=\"#3d6bb3\"];\n"
      "    legend_ok [label=\"tensor with range\", fillcolor=\"#d4edda\", color=\"#3c8d50\"];\n"
      "    legend_missing [label=\"lacking min/max\", fillcolor=\"#f8d7da\", color=\"#c0392b\"];\n"
      "    legend_fused [label=\"fused into layer\", fillcolor=\"#ffffff\", style=\"rounded,dashed,filled\"];\n"
      "    legend_err [label=\"error\", fillcolor=\"#ffffff\", color=\"#c0392b\", penwidth=3];\n"
      "    legend_warn [label=\"warning\", fillcolor=\"#ffffff\", color=\"#e67e22\", penwidth=3];\n"
      "    legend_fq -> legend_ok -> legend_missing [style=invis];\n"
      "    legend_fused -> legend_err -> legend_warn [style=invis];\n  }\n");
  for (int i = 0; i < num; ++i) {
    if (!draw[i]) continue;
    const auto& node = view.node(i);
    const std::string& name = node.name();
    std::string label = absl::StrCat(name, "\n", node.op());
    std::string fill = "#f2f2f2", color = "#999999", style = "rounded,filled";
    double pen = 1.0;
    if (node.op().rfind("FakeQuant", 0) == 0) {
      fill = "#cfe2ff";
      color = "#3d6bb3";
    }
    if (auto it = layer_of_weighted.find(name); it != layer_of_weighted.end()) {
      absl::StrAppend(&label, "\nlayer ", it->second->kind,
                      it->second->weights_quant.empty() ? "\nweights: float" : "\nweights: FakeQuant");
    }
    if (interior.contains(name)) style = "rounded,dashed,filled", fill = "#ffffff";
    if (auto it = tensor_of.find(name); it != tensor_of.end()) {
      const AuditTensor& t = *it->second;
      if (t.source == RangeSource::kMissing) {
        fill = "#f8d7da";
        color = "#c0392b";
        absl::StrAppend(&label, "\nNO min/max");
      } else {
        fill = "#d4edda";
        color = "#3c8d50";
        absl::StrAppend(&label, "\n", RangeSourceName(t.source));
        if (t.has_values) absl::StrAppend(&label, " [", Fmt(t.min), ", ", Fmt(t.max), "]");
      }
    }
    if (auto it = worst.find(name); it != worst.end()) {
      pen = 3.0;
      color = it->second == AuditSeverity::kError ? "#c0392b" : it->second == AuditSeverity::kWarning ? "#e67e22" : "#3d6bb3";
      absl::StrAppend(&label, "\n", absl::StrJoin(rules[name], ", "));
    }
    absl::StrAppend(&out, "  n", i, " [label=\"", DotEscape(label), "\", fillcolor=\"", fill, "\", color=\"", color,
                    "\", style=\"", style, "\", penwidth=", pen, ", tooltip=\"", DotEscape(name), "\"];\n");
  }
  for (int i = 0; i < num; ++i) {
    if (!draw[i]) continue;
    for (const Producer& p : view.fanin(i)) {
      if (p.is_control || !draw[p.node]) continue;
      std::string attrs;
      if (auto it = tensor_of.find(view.node(p.node).name()); it != tensor_of.end() && p.port == 0) {
        if (it->second->source == RangeSource::kMissing) attrs = " [color=\"#c0392b\", penwidth=2]";
      }
      absl::StrAppend(&out, "  n", p.node, " -> n", i, attrs, ";\n");
    }
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace tfqat

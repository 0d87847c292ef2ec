// `tfqat audit GRAPH`: explain fake-quant placement before conversion fails (docs/audit.md).
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "rewriter/audit.h"

extern char** environ;

namespace tfqat::cli {

namespace {

struct AuditArgs {
  std::string input;
  std::string outputs;
  bool json = false;
  std::string dot;
  std::string svg;
  std::string around;
  int depth = 3;
};

// Runs Graphviz `dot -Tsvg` on `dot_text`, writing `svg_path` atomically.
absl::Status WriteSvg(const std::string& dot_text, const std::string& svg_path) {
  std::string dot_tmp = absl::StrCat(svg_path, ".tmp.dot");
  std::string svg_tmp = absl::StrCat(svg_path, ".tmp.svg");
  absl::Status st = WriteFileAtomically(dot_tmp, dot_text);
  if (!st.ok()) return st;
  std::vector<std::string> argv_s = {"dot", "-Tsvg", "-o", svg_tmp, dot_tmp};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    std::remove(dot_tmp.c_str());
    return absl::FailedPreconditionError(
        "--svg: could not run Graphviz's `dot` (install graphviz, or use --dot FILE and render it elsewhere)");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::remove(dot_tmp.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::remove(svg_tmp.c_str());
    return absl::InternalError(absl::StrCat("--svg: `dot -Tsvg` failed (exit status ",
                                            WIFEXITED(status) ? WEXITSTATUS(status) : -1, ")"));
  }
  if (std::rename(svg_tmp.c_str(), svg_path.c_str()) != 0) {
    std::remove(svg_tmp.c_str());
    return absl::InternalError(absl::StrCat("--svg: cannot write '", svg_path, "'"));
  }
  return absl::OkStatus();
}

int Run(const AuditArgs& args) {
  auto graph = LoadGraphDef(args.input);
  if (!graph.ok()) return ReportError("audit", graph.status());
  AuditOptions options;
  for (absl::string_view s : absl::StrSplit(args.outputs, ',', absl::SkipEmpty())) {
    options.outputs.emplace_back(s);
  }
  auto report = AuditGraph(*graph, options);
  if (!report.ok()) return ReportError("audit", report.status());
  if (!args.dot.empty() || !args.svg.empty()) {
    AuditRenderOptions ro;
    ro.around = args.around;
    ro.depth = args.depth;
    auto dot = RenderAuditDot(*graph, *report, ro);
    if (!dot.ok()) return ReportError("audit", dot.status());
    if (!args.dot.empty()) {
      absl::Status st = WriteFileAtomically(args.dot, *dot);
      if (!st.ok()) return ReportError("audit", st);
    }
    if (!args.svg.empty()) {
      absl::Status st = WriteSvg(*dot, args.svg);
      if (!st.ok()) return ReportError("audit", st);
    }
  }
  std::cout << (args.json ? RenderAuditJson(*report) : RenderAuditText(*report));
  return report->HasProblems() ? kExitFindings : kExitOk;
}

}  // namespace

void AddAuditCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<AuditArgs>();
  auto* sub = app.add_subcommand(
      "audit",
      "Explain fake-quant placement before conversion fails: every tensor the converter must "
      "quantize and where its range comes from, every array lacking min/max data, misplaced or "
      "broken FakeQuant nodes, unquantized weights, legacy quantize_nodes graphs. "
      "Exit 0 clean, 1 problems found, 2 unreadable graph.");
  sub->add_option("graph", args->input, "GraphDef to audit (.pb or .pbtxt; usually the frozen one)")->required();
  sub->add_option("--outputs", args->outputs, "comma-separated fetched output nodes (default: the graph's sinks)");
  sub->add_flag("--json", args->json, "print the report as JSON (schema tfqat.audit/1, docs/audit.md)");
  sub->add_option("--dot", args->dot, "write a Graphviz drawing (quantized tensors, missing ranges, violations coloured)");
  sub->add_option("--svg", args->svg, "write the drawing as SVG (runs Graphviz `dot -Tsvg`)");
  sub->add_option("--around", args->around, "draw only the neighbourhood of this node (big graphs)");
  sub->add_option("--depth", args->depth, "with --around: how many edges away to draw")->default_val(3);
  sub->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace tfqat::cli

// tfqat inspect GRAPH [--json]: what a GraphDef holds (inputs, outputs, ops, parameters, layout,
// quantization), like TensorFlow's summarize_graph. Validates the graph first: a broken graph
// is an error (exit 2) that names the node.
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "graph/summary.h"
#include "graph/validate.h"

namespace tfqat::cli {
namespace {

struct InspectArgs {
  std::string graph;
  bool json = false;
  bool no_validate = false;
  int max_lines = 20;
};

// Binary .pb files hold control bytes near the start; text files do not.
std::string FormatOf(const std::string& bytes) {
  for (size_t i = 0; i < bytes.size() && i < 4096; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return "binary";
  }
  return "text";
}

int RunInspect(const InspectArgs& a) {
  auto bytes = ReadFileToString(a.graph);
  if (!bytes.ok()) return ReportError("inspect", bytes.status());
  auto graph = ParseGraphDef(*bytes, a.graph);
  if (!graph.ok()) return ReportError("inspect", graph.status());
  if (!a.no_validate) {
    auto st = ValidateGraph(*graph);
    if (!st.ok()) {
      return ReportError("inspect", absl::InvalidArgumentError(
                                        absl::StrCat(a.graph, ": invalid graph: ", st.message())));
    }
  }
  auto summary = SummarizeGraph(*graph);
  if (!summary.ok()) {
    return ReportError("inspect", absl::InvalidArgumentError(
                                      absl::StrCat(a.graph, ": ", summary.status().message())));
  }
  summary->origin = a.graph;
  summary->file_format = FormatOf(*bytes);
  if (a.json) {
    std::cout << SummaryToJson(*summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    SummaryTextOptions options;
    options.max_fake_quant_lines = a.max_lines;
    options.max_output_lines = a.max_lines;
    std::cout << SummaryToText(*summary, options);
  }
  return kExitOk;
}

}  // namespace

void AddInspectCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<InspectArgs>();
  auto* sub = app.add_subcommand(
      "inspect",
      "Summarize a TensorFlow GraphDef (.pb or .pbtxt): possible inputs (Placeholders with dtype "
      "and shape), possible outputs, op histogram, constant parameters, variables, control edges, "
      "data format, FakeQuant nodes (bits, narrow_range, constant ranges), and whether the graph "
      "was quantized the legacy way (which TFLite cannot convert). Exit 0 ok, 2 unreadable or "
      "invalid graph.");
  sub->add_option("graph", args->graph, "GraphDef file, binary or text (format detected from content)")
      ->required();
  sub->add_flag("--json", args->json, "Print the summary as JSON (every FakeQuant node listed)");
  sub->add_flag("--no-validate", args->no_validate,
                "Skip the structural validation (cycles, control-input order, attribute kinds, "
                "tensor sizes); dangling inputs and duplicate names are still errors");
  sub->add_option("--max-lines", args->max_lines, "Outputs and FakeQuant nodes listed in the text report")
      ->check(CLI::NonNegativeNumber);
  sub->callback([args, exit_code] { *exit_code = RunInspect(*args); });
}

}  // namespace tfqat::cli

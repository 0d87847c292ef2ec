// `tfqat compare --float FLOAT.pb --fake-quant FROZEN.pb --tflite MODEL.tflite --input [NAME=]X.npy
//   [--examples N] [--tolerance-lsb T] [--json] [--plot FILE.png|.svg] [--threads N]`
// Layer by layer, the float graph, the fake-quant eval graph and the integer model on the same
// inputs (workflow/compare.h, docs/compare.md). Exit 1 when fake-quant and integer diverge.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/graph_io.h"
#include "graph/npy.h"
#include "graph/status_macros.h"
#include "workflow/compare.h"

namespace tfqat::cli {
namespace {

struct CompareArgs {
  std::string float_graph, fake_quant_graph, tflite, input, plot;
  int64_t examples = 100;
  double tolerance_lsb = 0;
  int threads = 1;
  bool json = false;
};

absl::StatusOr<int> RunCompare(const CompareArgs& a) {
  TFQAT_ASSIGN_OR_RETURN(tensorflow::GraphDef fg, LoadGraphDef(a.float_graph));
  TFQAT_ASSIGN_OR_RETURN(tensorflow::GraphDef qg, LoadGraphDef(a.fake_quant_graph));
  workflow::CompareOptions o;
  std::string file = a.input;
  const auto eq = a.input.find('=');
  if (eq != std::string::npos) {
    o.input_name = a.input.substr(0, eq);
    file = a.input.substr(eq + 1);
  }
  TFQAT_ASSIGN_OR_RETURN(NpyArray x, ReadNpy(file));
  o.max_examples = a.examples;
  o.tolerance_lsb = a.tolerance_lsb;
  o.threads = a.threads;
  TFQAT_ASSIGN_OR_RETURN(workflow::CompareReport r, workflow::CompareModels(fg, qg, a.tflite, x, o));
  if (!a.plot.empty()) TFQAT_RETURN_IF_ERROR(workflow::PlotCompareReport(r, a.plot));
  if (a.json) {
    std::cout << workflow::CompareReportToJson(r) << "\n";
  } else {
    std::cout << workflow::CompareReportToText(r);
    if (!a.plot.empty()) std::cout << "plot: " << a.plot << "\n";
  }
  return r.first_divergence < 0 ? kExitOk : kExitFindings;
}

}  // namespace

void AddCompareCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand(
      "compare", "Layer-by-layer float vs fake-quant vs integer (.tflite): SQNR, errors in LSBs, first divergence");
  sub->add_option("--float", args->float_graph, "float GraphDef (.pb/.pbtxt)")->required();
  sub->add_option("--fake-quant", args->fake_quant_graph, "annotated frozen fake-quant graph (tfqat freeze)")->required();
  sub->add_option("--tflite", args->tflite, "integer model (.tflite)")->required();
  sub->add_option("--input", args->input, "NAME=X.npy or X.npy: float examples along dim 0")->required();
  sub->add_option("--examples", args->examples, "examples to run (0 = all; default 100)");
  sub->add_option("--tolerance-lsb", args->tolerance_lsb,
                  "fake-quant vs integer error (LSB) above which a layer diverges (default 0)");
  sub->add_option("--threads", args->threads, "threads for each engine");
  sub->add_flag("--json", args->json, "print a JSON report");
  sub->add_option("--plot", args->plot, "write SQNR per layer with gnuplot (.png or .svg)");
  sub->callback([args, exit_code] {
    auto r = RunCompare(*args);
    *exit_code = r.ok() ? *r : ReportError("compare", r.status());
  });
}

}  // namespace tfqat::cli

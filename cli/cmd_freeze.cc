// `tfqat freeze GRAPH -o FROZEN.pb --outputs NODE,... [--values-from G.pb] [--json]`
// Trained graph -> annotated frozen graph (rewriter/freeze.h, docs/freeze.md).
#include <iostream>
#include <memory>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/attrs.h"
#include "graph/graph_io.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "rewriter/freeze.h"

namespace tfqat::cli {
namespace {

struct FreezeArgs {
  std::string graph;
  std::string output;
  std::vector<std::string> outputs;
  std::string values_from;
  std::string global_step = "global_step";
  bool no_fold = false;
  bool json = false;
};

absl::Status RunFreeze(const FreezeArgs& a) {
  TFQAT_ASSIGN_OR_RETURN(tensorflow::GraphDef g, LoadGraphDef(a.graph));
  FreezeOptions o;
  for (const auto& s : a.outputs) {
    for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) o.outputs.emplace_back(part);
  }
  o.global_step = a.global_step;
  o.fold_constants = !a.no_fold;
  if (!a.values_from.empty()) {
    TFQAT_ASSIGN_OR_RETURN(tensorflow::GraphDef v, LoadGraphDef(a.values_from));
    for (const auto& n : v.node()) {
      if (n.op() != "Const") continue;
      TFQAT_ASSIGN_OR_RETURN(o.values[n.name()], GetAttr<tensorflow::TensorProto>(n, "value"));
    }
  }
  TFQAT_ASSIGN_OR_RETURN(FreezeResult r, Freeze(g, o));
  TFQAT_RETURN_IF_ERROR(SaveGraphDef(r.graph, a.output));
  if (a.json) {
    nlohmann::json j;
    j["output"] = a.output;
    j["nodes_in"] = g.node_size();
    j["nodes_out"] = r.graph.node_size();
    j["removed_nodes"] = r.removed_nodes;
    j["frozen_variables"] = r.frozen_variables;
    j["resolved_switches"] = r.resolved_switches;
    j["removed_corrections"] = r.removed_corrections;
    j["folded_constants"] = r.folded_constants;
    j["training_only_ops_remaining"] = 0;
    j["notes"] = r.notes;
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cerr << "tfqat freeze: " << g.node_size() << " -> " << r.graph.node_size() << " nodes; "
              << r.frozen_variables.size() << " variables frozen, " << r.resolved_switches.size()
              << " step switches resolved, " << r.removed_corrections.size() << " batch-norm corrections removed, "
              << r.folded_constants << " constants folded; no training-only op remains\n";
    for (const auto& n : r.notes) std::cerr << "  note: " << n << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

void AddFreezeCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<FreezeArgs>();
  auto* sub = app.add_subcommand(
      "freeze", "Trained graph -> annotated frozen graph (variables to Const, training-only nodes removed)");
  sub->add_option("graph", args->graph, "trained GraphDef (.pb or .pbtxt)")->required();
  sub->add_option("-o,--output", args->output, "frozen GraphDef to write (.pb, or .pbtxt for text)")->required();
  sub->add_option("--outputs", args->outputs, "output nodes NODE[,NODE...] to keep")->required();
  sub->add_option("--values-from", args->values_from,
                  "a GraphDef whose Consts give variables' values by name (e.g. a frozen twin)");
  sub->add_option("--global-step", args->global_step, "name of the step counter variable");
  sub->add_flag("--no-fold", args->no_fold, "keep constant arithmetic (folded batch norms) unfolded");
  sub->add_flag("--json", args->json, "print a JSON report");
  sub->callback([args, exit_code] {
    absl::Status st = RunFreeze(*args);
    *exit_code = st.ok() ? kExitOk : ReportError("freeze", st);
  });
}

}  // namespace tfqat::cli

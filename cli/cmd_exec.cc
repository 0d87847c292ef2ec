// `tfqat exec GRAPH --input NAME=FILE.npy ... --output NODE[:port] ... --out-dir DIR`
// Runs a GraphDef with the reference executor and writes each output as DIR/<node>[_port].npy
// ('/' in node names becomes '_').
#include <filesystem>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/graph_io.h"
#include "graph/npy.h"
#include "graph/tensor.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "trainer/executor.h"

namespace tfqat::cli {
namespace {

struct ExecArgs {
  std::string graph;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::string> targets;
  std::string out_dir = ".";
  int threads = 1;
  bool json = false;
};

std::string OutputFileName(const std::string& fetch) {
  auto [node, port] = ParseFetchName(fetch);
  std::string base = absl::StrReplaceAll(node, {{"/", "_"}, {":", "_"}});
  if (port != 0) absl::StrAppend(&base, "_", port);
  return base + ".npy";
}

absl::Status RunExec(const ExecArgs& a) {
  TFQAT_ASSIGN_OR_RETURN(auto graph, LoadGraphDef(a.graph));
  std::map<std::string, Tensor> feeds;
  for (const auto& in : a.inputs) {
    auto eq = in.find('=');
    if (eq == std::string::npos) return absl::InvalidArgumentError(absl::StrCat("--input '", in, "' must be NAME=FILE.npy"));
    TFQAT_ASSIGN_OR_RETURN(NpyArray arr, ReadNpy(in.substr(eq + 1)));
    TFQAT_ASSIGN_OR_RETURN(Tensor t, TensorFromNpy(arr));
    feeds[in.substr(0, eq)] = std::move(t);
  }
  ExecutorOptions opts;
  opts.num_threads = a.threads;
  opts.check_all_ops = false;  // only the nodes the outputs need must be supported
  TFQAT_ASSIGN_OR_RETURN(Executor ex, Executor::Create(graph, opts));
  TFQAT_ASSIGN_OR_RETURN(auto values, ex.Run(feeds, a.outputs, a.targets));
  std::filesystem::create_directories(a.out_dir);
  nlohmann::json report = nlohmann::json::array();
  for (size_t k = 0; k < values.size(); ++k) {
    std::string path = (std::filesystem::path(a.out_dir) / OutputFileName(a.outputs[k])).string();
    TFQAT_RETURN_IF_ERROR(WriteNpy(path, TensorToNpy(values[k])));
    report.push_back({{"output", a.outputs[k]}, {"file", path}, {"shape", values[k].shape},
                      {"dtype", DataTypeName(values[k].dtype)}});
    if (!a.json) std::cout << a.outputs[k] << " " << values[k].ShapeString() << " -> " << path << "\n";
  }
  if (a.json) std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddExecCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ExecArgs>();
  auto* sub = app.add_subcommand("exec", "Run a GraphDef with the reference executor (.npy in, .npy out)");
  sub->add_option("graph", args->graph, "GraphDef (.pb or .pbtxt)")->required();
  sub->add_option("--input,-i", args->inputs, "NAME[:port]=FILE.npy (repeatable)");
  sub->add_option("--output,-o", args->outputs, "NODE[:port] to write (repeatable)")->required();
  sub->add_option("--target", args->targets, "node to run for its effect (repeatable)");
  sub->add_option("--out-dir", args->out_dir, "folder for the output .npy files");
  sub->add_option("--threads", args->threads, "worker threads");
  sub->add_flag("--json", args->json, "print a JSON report");
  sub->callback([args, exit_code] {
    absl::Status st = RunExec(*args);
    *exit_code = st.ok() ? kExitOk : ReportError("exec", st);
  });
}

}  // namespace tfqat::cli

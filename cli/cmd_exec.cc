// `tfqat exec GRAPH --input NAME=FILE.npy ... --output NODE[:port] ... --out-dir DIR`
// Runs a GraphDef with the reference executor and writes each output as DIR/<node>[_port].npy
// ('/' in node names becomes '_').
#include <algorithm>
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
  int64_t batch = 0;  // rows per run along dimension 0 (0: all at once)
  bool json = false;
};

std::string OutputFileName(const std::string& fetch) {
  auto [node, port] = ParseFetchName(fetch);
  std::string base = absl::StrReplaceAll(node, {{"/", "_"}, {":", "_"}});
  if (port != 0) absl::StrAppend(&base, "_", port);
  return base + ".npy";
}

// Rows [begin, end) of `t` along dimension 0.
Tensor SliceRows(const Tensor& t, int64_t begin, int64_t end) {
  Tensor r;
  r.dtype = t.dtype;
  r.shape = t.shape;
  r.shape[0] = end - begin;
  const int64_t row = t.shape[0] == 0 ? 0 : t.num_elements() / t.shape[0];
  if (t.is_float()) r.f.assign(t.f.begin() + begin * row, t.f.begin() + end * row);
  else r.i.assign(t.i.begin() + begin * row, t.i.begin() + end * row);
  return r;
}

// Appends the rows of `part` (the output of one chunk) to `all`.
absl::Status AppendRows(const std::string& fetch, int64_t rows, Tensor part, Tensor* all) {
  if (part.rank() == 0 || part.shape[0] != rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "output '", fetch, "' has shape ", part.ShapeString(), " for a chunk of ", rows,
        " rows: it is not batched along dimension 0; run without --batch"));
  }
  if (all->shape.empty()) {
    *all = std::move(part);
    return absl::OkStatus();
  }
  if (!std::equal(all->shape.begin() + 1, all->shape.end(), part.shape.begin() + 1, part.shape.end())) {
    return absl::InvalidArgumentError(absl::StrCat("output '", fetch, "' changes shape between chunks (",
                                                   all->ShapeString(), " vs ", part.ShapeString(), ")"));
  }
  all->shape[0] += rows;
  all->f.insert(all->f.end(), part.f.begin(), part.f.end());
  all->i.insert(all->i.end(), part.i.begin(), part.i.end());
  return absl::OkStatus();
}

// Runs the graph on the feeds in chunks of `batch` rows along dimension 0 (every feed must have
// the same number of rows) and concatenates each output's rows.
absl::StatusOr<std::vector<Tensor>> RunInChunks(Executor& ex, const std::map<std::string, Tensor>& feeds,
                                                const ExecArgs& a) {
  if (!a.targets.empty()) {
    return absl::InvalidArgumentError("--batch runs the graph once per chunk: it cannot be combined with --target");
  }
  int64_t rows = -1;
  std::string first;
  for (const auto& [name, t] : feeds) {
    if (t.rank() == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--batch: input '", name, "' is a scalar; it has no rows to split"));
    }
    if (rows >= 0 && t.shape[0] != rows) {
      return absl::InvalidArgumentError(absl::StrCat("--batch: inputs '", first, "' (", rows, " rows) and '", name,
                                                     "' (", t.shape[0], " rows) differ in dimension 0"));
    }
    rows = t.shape[0];
    first = name;
  }
  if (rows < 0) return absl::InvalidArgumentError("--batch needs at least one --input to split");
  std::vector<Tensor> all(a.outputs.size());
  for (int64_t begin = 0; begin < rows; begin += a.batch) {
    const int64_t end = std::min(rows, begin + a.batch);
    std::map<std::string, Tensor> chunk;
    for (const auto& [name, t] : feeds) chunk[name] = SliceRows(t, begin, end);
    TFQAT_ASSIGN_OR_RETURN(auto part, ex.Run(chunk, a.outputs));
    for (size_t k = 0; k < part.size(); ++k) {
      TFQAT_RETURN_IF_ERROR(AppendRows(a.outputs[k], end - begin, std::move(part[k]), &all[k]));
    }
  }
  return all;
}

absl::Status RunExec(const ExecArgs& a) {
  if (a.batch < 0) return absl::InvalidArgumentError(absl::StrCat("--batch must be >= 0, got ", a.batch));
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
  std::vector<Tensor> values;
  if (a.batch > 0) {
    TFQAT_ASSIGN_OR_RETURN(values, RunInChunks(ex, feeds, a));
  } else {
    TFQAT_ASSIGN_OR_RETURN(values, ex.Run(feeds, a.outputs, a.targets));
  }
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
  sub->add_option("--batch", args->batch,
                  "run the inputs in chunks of this many rows along dimension 0 and concatenate the outputs "
                  "(bounds memory on large inputs; 0 = all at once)");
  sub->add_flag("--json", args->json, "print a JSON report");
  sub->callback([args, exit_code] {
    absl::Status st = RunExec(*args);
    *exit_code = st.ok() ? kExitOk : ReportError("exec", st);
  });
}

}  // namespace tfqat::cli

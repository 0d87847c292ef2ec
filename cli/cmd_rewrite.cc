// `tfqat rewrite GRAPH -o OUT [--mode train|eval] [options] [--report FILE.json] [--json]`
// Folds batch norms, then inserts FakeQuant nodes (rewriter/rewrite.h). The human summary goes
// to stderr; --report writes the per-layer JSON report; --json prints it on stdout.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "graph/status_macros.h"
#include "rewriter/rewrite.h"
#include "rewriter/serialized_graph.h"

namespace tfqat::cli {
namespace {

// Wall and process CPU seconds since construction (the phases of the summary and the report).
class PhaseClock {
 public:
  PhaseClock() : wall_(Wall()), cpu_(Cpu()) {}
  nlohmann::json Elapsed() const {
    return {{"wall_s", Round(Wall() - wall_)}, {"cpu_s", Round(Cpu() - cpu_)}};
  }

 private:
  static double Seconds(clockid_t id) {
    timespec t{};
    ::clock_gettime(id, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
  }
  static double Wall() { return Seconds(CLOCK_MONOTONIC); }
  static double Cpu() { return Seconds(CLOCK_PROCESS_CPUTIME_ID); }
  static double Round(double s) { return static_cast<double>(static_cast<int64_t>(s * 1e4 + 0.5)) / 1e4; }
  double wall_, cpu_;
};

// SaveGraphDef's rule: these endings are written as text.
bool IsTextGraphPath(const std::string& path) {
  return absl::EndsWith(path, ".pbtxt") || absl::EndsWith(path, ".txt") || absl::EndsWith(path, ".prototxt");
}

struct RewriteArgs {
  std::string graph;
  std::string out;
  std::string mode = "train";
  std::string report;
  bool json = false;
  bool quiet = false;
  bool no_fold = false;
  RewriteOptions options;
};

// RewriteSerialized into a temp file beside a.out (fsynced, renamed over it on success,
// removed on failure), so a failure never leaves a partial output. *timing gets the phases
// "rewrite" (the rewrite, full chunks written to the file as they fill) and "write" (the rest
// of the file, fsync, rename).
absl::StatusOr<RewriteResult> RewriteToFile(const tensorflow::GraphDef& graph, const RewriteArgs& a,
                                            nlohmann::json* timing) {
  const std::string tmp = absl::StrCat(a.out, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create '", tmp, "': ", std::strerror(errno)));
  }
  auto fail = [&](absl::Status st) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  };
  SerializedGraph bytes;
  bytes.set_deterministic(true);  // same graph, same bytes, as SaveGraphDef
  bytes.SpillTo(fd);
  const PhaseClock rewrite_clock;
  absl::StatusOr<RewriteResult> result = RewriteSerialized(graph, a.options, &bytes);
  if (!result.ok()) return fail(result.status());
  (*timing)["rewrite"] = rewrite_clock.Elapsed();
  const PhaseClock finish_clock;
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return fail(absl::InvalidArgumentError(absl::StrCat("the rewritten graph serializes to ", bytes.size(),
                                                        " bytes, over protobuf's 2 GiB limit")));
  }
  if (const int err = bytes.FinishSpill(); err != 0) {
    return fail(absl::DataLossError(absl::StrCat("cannot write '", tmp, "': ", std::strerror(err))));
  }
  if (::fsync(fd) != 0) return fail(absl::DataLossError(absl::StrCat("cannot flush '", tmp, "': ", std::strerror(errno))));
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::DataLossError(absl::StrCat("cannot flush '", tmp, "': ", std::strerror(err)));
  }
  if (::rename(tmp.c_str(), a.out.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return absl::PermissionDeniedError(absl::StrCat("cannot rename '", tmp, "' to '", a.out, "': ", std::strerror(err)));
  }
  (*timing)["write"] = finish_clock.Elapsed();
  return result;
}

absl::Status RunRewrite(RewriteArgs& a) {
  if (a.mode == "train") {
    a.options.quantize.mode = QuantizeOptions::Mode::kTrain;
  } else if (a.mode == "eval") {
    a.options.quantize.mode = QuantizeOptions::Mode::kEval;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--mode must be train or eval, got '", a.mode, "'"));
  }
  a.options.fold_batch_norms = !a.no_fold;
  nlohmann::json timing = nlohmann::json::object();
  const PhaseClock load_clock;
  // The input on an arena: a 1M-node graph parses ~1.5x faster there and is freed in
  // milliseconds instead of seconds (one free per block, not one per string and map node).
  std::optional<google::protobuf::Arena> arena;
  tensorflow::GraphDef* graph_ptr = nullptr;
  {
    TFQAT_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(a.graph));
    arena.emplace(GraphArenaOptions(bytes.size()));
    graph_ptr = google::protobuf::Arena::CreateMessage<tensorflow::GraphDef>(&*arena);
    TFQAT_RETURN_IF_ERROR(ParseGraphDefInto(bytes, a.graph, graph_ptr));
  }
  tensorflow::GraphDef& graph = *graph_ptr;
  timing["load"] = load_clock.Elapsed();
  RewriteResult result;
  if (IsTextGraphPath(a.out)) {
    // In place: the input is not needed afterwards, so it is not copied.
    const PhaseClock rewrite_clock;
    TFQAT_ASSIGN_OR_RETURN(result, RewriteInPlace(&graph, a.options));
    timing["rewrite"] = rewrite_clock.Elapsed();
    const PhaseClock write_clock;
    TFQAT_RETURN_IF_ERROR(SaveGraphDef(graph, a.out));
    timing["write"] = write_clock.Elapsed();
  } else {
    // Binary: the rewritten graph streamed as bytes (emitted nodes first, then the input's),
    // never held as NodeDefs, and written to a temp file beside the output as it is made (full
    // chunks leave memory: rewriter/serialized_graph.h), then renamed over it.
    TFQAT_ASSIGN_OR_RETURN(result, RewriteToFile(graph, a, &timing));
  }
  nlohmann::json report;  // built only when asked for (~1 KB per layer)
  if (!a.report.empty() || a.json) {
    report = RewriteReportJson(result, a.options);
    report["input"] = a.graph;
    report["output"] = a.out;
    report["timing"] = timing;
  }
  if (!a.report.empty()) {
    TFQAT_RETURN_IF_ERROR(WriteFileAtomically(a.report, report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  }
  if (!a.quiet) {
    std::cerr << RewriteSummary(result, a.options);
    auto secs = [&timing](const char* phase) {
      return absl::StrFormat("%.2f", timing[phase]["wall_s"].get<double>());
    };
    std::cerr << "  time: load " << secs("load") << " s, rewrite " << secs("rewrite")
              << " s, write " << secs("write") << " s\n";
  }
  if (a.json) std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddRewriteCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<RewriteArgs>();
  QuantizeOptions& q = a->options.quantize;
  auto* sub = app.add_subcommand(
      "rewrite", "Fold batch norms and insert FakeQuant nodes (training or eval graph)");
  sub->add_option("graph", a->graph, "input GraphDef (.pb or .pbtxt)")->required();
  sub->add_option("-o,--out", a->out, "output GraphDef (.pbtxt paths are written as text)")->required();
  sub->add_option("--mode", a->mode, "train (ranges updated, quant delay) or eval (ranges read only)")
      ->check(CLI::IsMember({"train", "eval"}));
  sub->add_option("--weight-bits", q.weight_bits, "weight bits (2..16)")->check(CLI::Range(2, 16));
  sub->add_option("--activation-bits", q.activation_bits, "activation bits (2..16)")->check(CLI::Range(2, 16));
  sub->add_flag("--symmetric", q.symmetric, "symmetric weight ranges");
  sub->add_flag("--narrow-range-weights,!--no-narrow-range-weights", q.narrow_range_weights,
                "weights use [1, 2^b-1] (default on)");
  sub->add_flag("--per-channel", q.per_channel, "per-output-channel weight ranges");
  sub->add_option("--quant-delay", q.quant_delay, "train: quantize from this global_step on");
  sub->add_option("--freeze-bn-delay", a->options.freeze_bn_delay,
                  "train: batch norms use moving statistics from this global_step on");
  sub->add_option("--ema-decay", q.ema_decay, "activation range EMA decay (default 0.999)");
  sub->add_flag("--quantize-inputs", q.quantize_inputs, "also quantize float Placeholder inputs");
  sub->add_option("--scope", q.scope, "only layers whose weighted op's name starts with this prefix");
  sub->add_option("--exclude", q.exclude, "glob of node names (or scopes) to leave in float (repeatable)");
  sub->add_option("--output-node", q.outputs,
                  "fetched graph output that must stay a layer boundary (repeatable)");
  sub->add_flag("--no-fold-batch-norms", a->no_fold, "skip batch-norm folding");
  sub->add_option("--report", a->report, "write the per-layer JSON report here");
  sub->add_flag("--json", a->json, "print the JSON report on stdout");
  sub->add_flag("-q,--quiet", a->quiet, "no summary on stderr");
  sub->callback([a, exit_code] {
    absl::Status st = RunRewrite(*a);
    *exit_code = st.ok() ? kExitOk : ReportError("rewrite", st);
  });
}

}  // namespace tfqat::cli

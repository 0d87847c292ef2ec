// `tfqat bench MODEL.tflite [--threads N] [--runs N] [--warmup N] [--json]`
// Times Invoke() on zero inputs: median/min latency, per-operator time table, arena size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "graph/status_macros.h"
#include "nlohmann/json.hpp"
#include "runtime/interpreter.h"

namespace tfqat::cli {
namespace {

struct BenchArgs {
  std::string model;
  int threads = 1;
  int runs = 20;
  int warmup = 3;
  bool json = false;
  std::string kernels = "auto";
  int top = 20;
};

absl::Status DoBench(const BenchArgs& a) {
  if (a.runs < 1 || a.warmup < 0 || a.threads < 1)
    return absl::InvalidArgumentError("--runs and --threads must be >= 1, --warmup >= 0");
  runtime::InterpreterOptions opts;
  opts.num_threads = a.threads;
  opts.profile = true;
  if (a.kernels == "reference") opts.kernels = runtime::KernelChoice::kReference;
  else if (a.kernels == "optimized") opts.kernels = runtime::KernelChoice::kOptimized;
  else if (a.kernels != "auto") return absl::InvalidArgumentError("--kernels must be auto, reference or optimized");
  TFQAT_ASSIGN_OR_RETURN(auto interp, runtime::Interpreter::Create(a.model, opts));
  for (int i = 0; i < interp->num_inputs(); ++i) {
    const auto& t = interp->input(i);
    // Zero in real terms: the zero point for quantized inputs.
    if (t.type == runtime::ElementType::kUint8) std::memset(interp->input_data(i), t.zero_point, t.bytes);
    else if (t.type == runtime::ElementType::kInt8) std::memset(interp->input_data(i), static_cast<int8_t>(t.zero_point), t.bytes);
    else std::memset(interp->input_data(i), 0, t.bytes);
  }
  for (int i = 0; i < a.warmup; ++i) TFQAT_RETURN_IF_ERROR(interp->Invoke());
  interp->ResetProfile();
  std::vector<double> times;
  for (int i = 0; i < a.runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    TFQAT_RETURN_IF_ERROR(interp->Invoke());
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double mn = sorted.front();
  const auto& prof = interp->profile();
  double total_op = 0, total_flops = 0;
  for (const auto& p : prof) {
    total_op += p.total_seconds;
    total_flops += p.ops;
  }
  std::vector<int> order(prof.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return prof[x].total_seconds > prof[y].total_seconds; });
  if (a.json) {
    nlohmann::json j = {{"model", a.model}, {"threads", a.threads}, {"runs", a.runs}, {"warmup", a.warmup},
                        {"kernels", interp->kernel_set_name()}, {"median_ms", median * 1e3}, {"min_ms", mn * 1e3},
                        {"arena_bytes", interp->arena_bytes()}, {"scratch_bytes", interp->scratch_bytes()},
                        {"gops_median", total_flops / median * 1e-9}, {"ops", nlohmann::json::array()}};
    for (size_t i = 0; i < prof.size(); ++i) {
      const double avg = prof[i].calls ? prof[i].total_seconds / prof[i].calls : 0;
      j["ops"].push_back({{"index", i}, {"op", prof[i].op}, {"output", prof[i].output}, {"avg_ms", avg * 1e3},
                          {"share", total_op > 0 ? prof[i].total_seconds / total_op : 0},
                          {"gops", avg > 0 && prof[i].ops > 0 ? prof[i].ops / avg * 1e-9 : 0}});
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat("model %s\nkernels %s, threads %d, runs %d (warmup %d)\n", a.model,
                               interp->kernel_set_name(), a.threads, a.runs, a.warmup);
  std::cout << absl::StrFormat("latency median %.3f ms, min %.3f ms; %.2f GOPS (median)\n", median * 1e3, mn * 1e3,
                               total_flops / median * 1e-9);
  std::cout << absl::StrFormat("arena %zu bytes (unshared %zu), scratch %zu bytes, %d operators\n",
                               interp->arena_bytes(), interp->activation_bytes_unshared(), interp->scratch_bytes(),
                               interp->num_operators());
  std::cout << absl::StrFormat("%5s  %-20s %10s %7s %8s  %s\n", "index", "op", "avg ms", "share", "GOPS", "output");
  int shown = 0;
  for (int i : order) {
    if (shown++ >= a.top) break;
    const double avg = prof[i].calls ? prof[i].total_seconds / prof[i].calls : 0;
    std::cout << absl::StrFormat("%5d  %-20s %10.4f %6.1f%% %8.2f  %s\n", i, prof[i].op, avg * 1e3,
                                 total_op > 0 ? 100.0 * prof[i].total_seconds / total_op : 0.0,
                                 avg > 0 && prof[i].ops > 0 ? prof[i].ops / avg * 1e-9 : 0.0, prof[i].output);
  }
  return absl::OkStatus();
}

}  // namespace

void AddBenchCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<BenchArgs>();
  auto* sub = app.add_subcommand("bench", "Time a .tflite model on the integer runtime");
  sub->add_option("model", args->model, ".tflite model")->required();
  sub->add_option("--threads", args->threads, "threads (including the caller)");
  sub->add_option("--runs", args->runs, "timed runs");
  sub->add_option("--warmup", args->warmup, "untimed runs first");
  sub->add_option("--kernels", args->kernels, "auto, reference or optimized");
  sub->add_option("--top", args->top, "rows of the per-op table");
  sub->add_flag("--json", args->json, "print a JSON report");
  sub->callback([args, exit_code] {
    absl::Status st = DoBench(*args);
    *exit_code = st.ok() ? kExitOk : ReportError("bench", st);
  });
}

}  // namespace tfqat::cli

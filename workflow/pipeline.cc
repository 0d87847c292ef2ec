#include "workflow/pipeline.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "graph/file_util.h"
#include "graph/graph_io.h"
#include "graph/graph_view.h"
#include "graph/npy.h"
#include "graph/status_macros.h"
#include "workflow/metrics.h"
#include "workflow/model_runner.h"
#include "workflow/subprocess.h"

namespace tfqat::workflow {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? -1 : static_cast<int64_t>(n);
}

// A stage is skipped when its stamp (the exact command lines it ran plus the sizes and
// modification times of its inputs) matches and its outputs exist.
std::string Fingerprint(const std::vector<std::vector<std::string>>& commands,
                        const std::vector<std::string>& inputs) {
  std::string s;
  for (const auto& c : commands) absl::StrAppend(&s, CommandLine(c), "\n");
  for (const auto& in : inputs) {
    struct stat st;
    if (::stat(in.c_str(), &st) == 0) {
      absl::StrAppend(&s, in, " ", static_cast<int64_t>(st.st_size), " ",
                      static_cast<int64_t>(st.st_mtim.tv_sec), ".", static_cast<int64_t>(st.st_mtim.tv_nsec), "\n");
    } else {
      absl::StrAppend(&s, in, " missing\n");
    }
  }
  return s;
}

class StageRunner {
 public:
  StageRunner(const PipelineOptions& o, std::string work) : o_(o), work_(std::move(work)) {}

  // Runs `commands` (in order) unless up to date. stdout of command k goes to stdout_files[k]
  // when non-empty. Returns an error naming the stage when a command exits non-zero, except
  // for exit codes listed in `allowed` (returned via *last_exit).
  absl::Status Run(const std::string& name, const std::vector<StageCommand>& commands,
                   const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
                   json* report, std::vector<int> allowed = {}, int* last_exit = nullptr) {
    ++index_;
    std::vector<std::vector<std::string>> lines;
    for (const auto& c : commands) lines.push_back(c.args);
    const std::string stamp_path = absl::StrCat(work_, "/stages/", name, ".stamp");
    const std::string fp = Fingerprint(lines, inputs);
    bool up_to_date = !o_.force;
    for (const auto& out : outputs) up_to_date = up_to_date && fs::exists(out);
    if (up_to_date) {
      auto old = ReadFileToString(stamp_path);
      up_to_date = old.ok() && *old == fp;
    }
    json stage = {{"stage", name}, {"commands", json::array()}};
    for (const auto& l : lines) stage["commands"].push_back(CommandLine(l));
    if (up_to_date) {
      Log(absl::StrFormat("[%d/8] %-9s up to date (resumed; --force reruns it)", index_, name));
      stage["skipped"] = true;
      stage["seconds"] = 0;
      (*report)["stages"].push_back(stage);
      if (last_exit) *last_exit = 0;
      return absl::OkStatus();
    }
    Log(absl::StrFormat("[%d/8] %-9s %s", index_, name, CommandLine(lines.front())));
    auto t0 = Clock::now();
    int exit_code = 0;
    int k = 0;
    for (StageCommand c : commands) {
      // A stage's own stdout goes to a log beside its artefacts, so that the pipeline's stdout
      // carries only its table (or JSON).
      if (c.stdout_path.empty()) c.stdout_path = absl::StrCat(work_, "/logs/", name, ".", k, ".stdout");
      ++k;
      TFQAT_ASSIGN_OR_RETURN(exit_code, RunTfqat(c));
      bool ok = exit_code == 0 ||
                std::find(allowed.begin(), allowed.end(), exit_code) != allowed.end();
      if (!ok) {
        return absl::AbortedError(absl::StrCat("stage '", name, "' failed (exit ", exit_code, "): ",
                                               CommandLine(c.args),
                                               "\nfix the problem above and rerun: finished stages are kept in ",
                                               work_));
      }
    }
    stage["seconds"] = Seconds(t0);
    stage["exit_code"] = exit_code;
    (*report)["stages"].push_back(stage);
    if (last_exit) *last_exit = exit_code;
    if (exit_code == 0) {
      TFQAT_RETURN_IF_ERROR(WriteFileAtomically(stamp_path, fp));
    }
    return absl::OkStatus();
  }

  void Log(const std::string& line) const {
    if (!o_.quiet) std::cerr << "pipeline: " << line << "\n";
  }

 private:
  const PipelineOptions& o_;
  std::string work_;
  int index_ = 0;
};

absl::StatusOr<json> ReadJson(const std::string& path) {
  TFQAT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::DataLossError(absl::StrCat(path, ": not valid JSON"));
  return j;
}

// The float input array the graphs take: data converted to float32 and multiplied by scale.
absl::Status WriteScaledFloat(const std::string& in, const std::string& out, double scale) {
  TFQAT_ASSIGN_OR_RETURN(NpyArray a, ReadNpy(in));
  std::vector<float> v = a.ToFloat();
  for (float& x : v) x = static_cast<float>(x * scale);
  return WriteNpy(out, NpyArray::FromFloat(a.shape, v));
}

std::string Pct(double x) { return absl::StrFormat("%.2f%%", 100.0 * x); }
std::string Mb(int64_t bytes) { return bytes < 0 ? "-" : absl::StrFormat("%.1f KB", bytes / 1024.0); }

}  // namespace

absl::StatusOr<json> RunPipeline(const PipelineOptions& o) {
  const auto start = Clock::now();
  if (o.inference_type != "int8" && o.inference_type != "uint8") {
    return absl::InvalidArgumentError("--inference-type must be int8 or uint8");
  }
  if (o.output_node.empty()) return absl::InvalidArgumentError("--outputs names the logits node; it is required");
  const std::string work = o.work_dir.empty() ? o.output_tflite + ".work" : o.work_dir;
  std::error_code ec;
  fs::create_directories(work + "/stages", ec);
  fs::create_directories(work + "/eval", ec);
  fs::create_directories(work + "/logs", ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create work dir '", work, "': ", ec.message()));

  // Find the input placeholder and the data scale before running anything.
  TFQAT_ASSIGN_OR_RETURN(tensorflow::GraphDef float_graph, LoadGraphDef(o.float_graph));
  TFQAT_ASSIGN_OR_RETURN(GraphView view, GraphView::Create(float_graph));
  if (!view.FindNode(o.output_node)) {
    return absl::InvalidArgumentError(absl::StrCat("--outputs '", o.output_node, "' is not a node of ", o.float_graph));
  }
  std::string input = o.input_node;
  if (input.empty()) {
    auto ph = view.Placeholders();
    if (ph.size() != 1) {
      return absl::InvalidArgumentError(absl::StrCat(o.float_graph, " has ", ph.size(),
                                                     " placeholders; name the input with --input"));
    }
    input = view.node(ph[0]).name();
  }
  TFQAT_ASSIGN_OR_RETURN(NpyArray data_head, ReadNpy(o.data));
  double scale = o.scale;
  if (scale == 0) scale = data_head.dtype == NpyDType::kUInt8 ? 1.0 / 255.0 : 1.0;
  std::vector<int64_t> sample_shape(data_head.shape.begin(), data_head.shape.end());
  if (sample_shape.empty()) return absl::InvalidArgumentError(absl::StrCat(o.data, ": needs a batch dimension"));
  sample_shape[0] = 1;
  const std::string val_data = o.val_data.empty() ? o.data : o.val_data;
  const std::string val_labels = o.val_labels.empty() ? o.labels : o.val_labels;

  const std::string threads = absl::StrCat(o.threads);
  const std::string p_inspect = work + "/inspect.json";
  const std::string p_train_graph = work + "/qat_train.pb";
  const std::string p_rewrite_report = work + "/rewrite_report.json";
  const std::string p_trained = work + "/qat_trained.pb";
  const std::string p_train_log = work + "/train_log.json";
  const std::string p_frozen = work + "/frozen.pb";
  const std::string p_audit = work + "/audit.json";
  const std::string p_convert = work + "/convert.json";
  const std::string p_float_tflite = work + "/float.tflite";
  const std::string p_val = work + "/eval/val_input.npy";

  json report = {{"float_graph", o.float_graph}, {"model", o.output_tflite}, {"work_dir", work},
                 {"inference_type", o.inference_type}, {"input", input}, {"output", o.output_node},
                 {"data_scale", scale}, {"stages", json::array()}};
  StageRunner stages(o, work);

  // 1. inspect
  TFQAT_RETURN_IF_ERROR(stages.Run("inspect", {{{"inspect", o.float_graph, "--json"}, p_inspect}},
                                   {o.float_graph}, {p_inspect}, &report));
  // 2. rewrite (train mode)
  std::vector<std::string> rewrite = {"rewrite", o.float_graph, "-o", p_train_graph, "--mode", "train",
                                      "--report", p_rewrite_report, "--quant-delay", absl::StrCat(o.quant_delay),
                                      "--quantize-inputs"};
  if (o.inference_type == "int8") {
    rewrite.push_back("--per-channel");
    rewrite.push_back("--symmetric");
  }
  TFQAT_RETURN_IF_ERROR(stages.Run("rewrite", {{rewrite}}, {o.float_graph}, {p_train_graph}, &report));
  // The rewrite quantizes the logits layer's output with a FakeQuant that consumes the logits
  // node: train on, freeze to and convert that quantized tensor, as integer inference sees it.
  std::string qoutput = o.output_node;
  {
    TFQAT_ASSIGN_OR_RETURN(tensorflow::GraphDef train_graph, LoadGraphDef(p_train_graph));
    TFQAT_ASSIGN_OR_RETURN(GraphView tv, GraphView::Create(train_graph));
    if (auto idx = tv.index(o.output_node)) {
      for (const Consumer& c : tv.consumers(*idx, 0)) {
        const auto& op = tv.node(c.node).op();
        if (c.input_slot == 0 && (op == "FakeQuantWithMinMaxVars" || op == "FakeQuantWithMinMaxArgs")) {
          qoutput = tv.node(c.node).name();
          break;
        }
      }
    }
    // In train mode the FakeQuant may sit behind the quant-delay switch; its consumer then is a
    // SelectV2 — the frozen graph resolves it, the FakeQuant node itself stays the output.
  }
  report["quantized_output"] = qoutput;
  // 3. train (or calibrate)
  std::vector<std::string> train = {"train", p_train_graph, "--data", o.data, "--labels", o.labels,
                                    "--logits", qoutput, "--input", input, "-o", p_trained,
                                    "--batch", absl::StrCat(o.batch), "--lr", absl::StrCat(o.lr),
                                    "--optimizer", o.optimizer, "--seed", absl::StrCat(o.seed),
                                    "--threads", threads, "--scale", absl::StrFormat("%.17g", scale),
                                    "--log-json", p_train_log};
  if (o.calibrate_only) {
    train.push_back("--calibrate-only");
    if (o.calibration_batches > 0) {
      train.push_back("--steps");
      train.push_back(absl::StrCat(o.calibration_batches));
    }
  } else if (o.steps > 0) {
    train.push_back("--steps");
    train.push_back(absl::StrCat(o.steps));
  } else {
    train.push_back("--epochs");
    train.push_back(absl::StrCat(o.epochs));
  }
  // Per-epoch validation shows progress over several epochs; after the last epoch the verify
  // stage measures the fake-quant accuracy on the same set anyway, so a single epoch skips it.
  if (!o.val_data.empty() && !o.calibrate_only && o.steps == 0 && o.epochs > 1) {
    train.insert(train.end(), {"--val-data", o.val_data, "--val-labels", val_labels});
  }
  if (o.quiet) train.push_back("--quiet");
  TFQAT_RETURN_IF_ERROR(stages.Run(o.calibrate_only ? "calibrate" : "train", {{train}},
                                   {p_train_graph, o.data, o.labels}, {p_trained}, &report));
  // 4. freeze
  TFQAT_RETURN_IF_ERROR(stages.Run("freeze", {{{"freeze", p_trained, "-o", p_frozen, "--outputs", qoutput}}},
                                   {p_trained}, {p_frozen}, &report));
  // 5. audit: refuse to convert when anything lacks a range.
  int audit_exit = 0;
  TFQAT_RETURN_IF_ERROR(stages.Run("audit", {{{"audit", p_frozen, "--json"}, p_audit}}, {p_frozen}, {p_audit},
                                   &report, {1}, &audit_exit));
  if (audit_exit == 1) {
    (void)RunTfqat({{"audit", p_frozen}, "", false});
    fs::remove(work + "/stages/audit.stamp", ec);
    return absl::FailedPreconditionError(absl::StrCat(
        "the audit of ", p_frozen, " found problems (full report above and in ", p_audit,
        "); not converting. Fix the graph (usually: rerun `tfqat rewrite` on the float graph) and rerun."));
  }
  // 6. convert (+ the float model for the size/latency comparison)
  std::string shape = absl::StrJoin(sample_shape, ",");
  std::vector<std::string> convert = {"convert", p_frozen, "-o", o.output_tflite, "--input-arrays", input,
                                      "--output-arrays", qoutput, "--input-shapes", shape,
                                      "--inference-type", o.inference_type, "--json"};
  std::vector<std::string> convert_float = {"convert", o.float_graph, "-o", p_float_tflite, "--input-arrays", input,
                                            "--output-arrays", o.output_node, "--input-shapes", shape,
                                            "--inference-type", "float"};
  TFQAT_RETURN_IF_ERROR(stages.Run("convert", {{convert, p_convert}, {convert_float}}, {p_frozen, o.float_graph},
                                   {o.output_tflite, p_float_tflite, p_convert}, &report));
  // 7. verify on the validation set: float graph, fake-quant graph, integer model.
  auto t_verify = Clock::now();
  stages.Log(absl::StrFormat("[7/8] verify    %s on %s", o.output_tflite, val_data));
  TFQAT_RETURN_IF_ERROR(WriteScaledFloat(val_data, p_val, scale));
  const std::string d_float = work + "/eval/float", d_fq = work + "/eval/fake_quant", d_int = work + "/eval/int8";
  for (const auto& d : {d_float, d_fq, d_int}) fs::create_directories(d, ec);
  struct View { std::string name, dir; std::vector<std::string> args; };
  // The two graphs are independent: with 2+ threads they run side by side, sharing the threads.
  const bool side_by_side = o.threads >= 2;
  const std::string view_threads = side_by_side ? absl::StrCat(std::max(1, o.threads / 2)) : threads;
  std::vector<View> views = {
      {"float", d_float, {"exec", o.float_graph, "--input", input + "=" + p_val, "--output", o.output_node,
                          "--out-dir", d_float, "--threads", view_threads, "--batch", "256"}},
      {"fake_quant", d_fq, {"exec", p_frozen, "--input", input + "=" + p_val, "--output", qoutput,
                            "--out-dir", d_fq, "--threads", view_threads, "--batch", "256"}},
  };
  std::vector<absl::StatusOr<int>> rcs(views.size(), absl::UnknownError("not run"));
  {
    std::vector<std::thread> running;
    for (size_t k = 0; k < views.size(); ++k) {
      auto run = [&, k] {
        rcs[k] = RunTfqat({views[k].args, absl::StrCat(work, "/logs/verify_", views[k].name, ".stdout"), o.quiet});
      };
      if (side_by_side) running.emplace_back(run); else run();
    }
    for (auto& t : running) t.join();
  }
  for (size_t k = 0; k < views.size(); ++k) {
    TFQAT_ASSIGN_OR_RETURN(int rc, std::move(rcs[k]));
    if (rc != 0) {
      return absl::AbortedError(absl::StrCat("verify: ", CommandLine(views[k].args), " failed (exit ", rc, ")"));
    }
  }
  auto find_npy = [](const std::string& dir) -> absl::StatusOr<std::string> {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".npy") return e.path().string();
    }
    return absl::NotFoundError(absl::StrCat("no .npy output in ", dir));
  };
  TFQAT_ASSIGN_OR_RETURN(NpyArray labels_arr, ReadNpy(val_labels));
  TFQAT_ASSIGN_OR_RETURN(std::vector<int64_t> labels, Labels(labels_arr));
  std::map<std::string, NpyArray> outs;
  for (const auto& v : views) {
    TFQAT_ASSIGN_OR_RETURN(std::string path, find_npy(v.dir));
    TFQAT_ASSIGN_OR_RETURN(outs[v.name], ReadNpy(path));
  }
  // The integer model, example by example, in tfqat's runtime.
  TFQAT_ASSIGN_OR_RETURN(NpyArray val_input, ReadNpy(p_val));
  TFQAT_ASSIGN_OR_RETURN(BatchRunResult int_run, RunTfliteOverBatch(o.output_tflite, val_input, {o.threads}));
  outs["int8"] = int_run.output;
  TFQAT_RETURN_IF_ERROR(WriteNpy(d_int + "/output_dequantized.npy", int_run.output));
  TFQAT_RETURN_IF_ERROR(WriteNpy(d_int + "/output_raw.npy", int_run.raw_output));
  std::map<std::string, std::vector<int64_t>> preds;
  for (const char* name : {"float", "fake_quant", "int8"}) {
    TFQAT_ASSIGN_OR_RETURN(preds[name], ArgMaxRows(outs[name]));
    if (preds[name].size() != labels.size()) {
      return absl::InternalError(absl::StrCat("verify: ", name, " gave ", preds[name].size(),
                                              " predictions for ", labels.size(), " labels"));
    }
    report["accuracy"][name] = Accuracy(preds[name], labels);
  }
  const double out_scale = int_run.output_scale;
  TFQAT_ASSIGN_OR_RETURN(ErrorStats diff, CompareArrays(outs["fake_quant"].ToFloat(), outs["int8"].ToFloat(), out_scale));
  int64_t agree = 0;
  for (size_t i = 0; i < labels.size(); ++i) agree += preds["fake_quant"][i] == preds["int8"][i];
  report["agreement_fake_quant_int8"] = Agreement(preds["fake_quant"], preds["int8"]);
  report["agreement_count"] = agree;
  report["validation_examples"] = labels.size();
  report["max_output_diff"] = {{"abs", diff.max_abs}, {"lsb", diff.max_lsb}, {"output_scale", out_scale},
                               {"sqnr_db", std::isinf(diff.sqnr_db) ? json("inf") : json(diff.sqnr_db)}};
  report["model_size_bytes"] = {{"float_tflite", FileSize(p_float_tflite)}, {"quantized_tflite", FileSize(o.output_tflite)},
                                {"float_graphdef", FileSize(o.float_graph)}};
  report["stages"].push_back({{"stage", "verify"}, {"seconds", Seconds(t_verify)}});
  // 8. latency of both models in our runtime (batch 1).
  auto t_bench = Clock::now();
  stages.Log("[8/8] bench     float and quantized models, batch 1");
  for (const auto& [name, model] : std::vector<std::pair<std::string, std::string>>{
           {"float", p_float_tflite}, {"quantized", o.output_tflite}}) {
    const std::string out = absl::StrCat(work, "/eval/bench_", name, ".json");
    TFQAT_ASSIGN_OR_RETURN(int rc, RunTfqat({{"bench", model, "--runs", "100", "--warmup", "10", "--threads", "1", "--json"},
                                             out, true}));
    if (rc != 0) return absl::AbortedError(absl::StrCat("bench of ", model, " failed (exit ", rc, ")"));
    TFQAT_ASSIGN_OR_RETURN(json b, ReadJson(out));
    double median = 0;
    if (b.contains("median_ms")) median = b["median_ms"].get<double>();
    report["latency_ms"][name] = median;
  }
  report["stages"].push_back({{"stage", "bench"}, {"seconds", Seconds(t_bench)}});
  report["total_seconds"] = Seconds(start);
  TFQAT_RETURN_IF_ERROR(WriteFileAtomically(work + "/pipeline.json", report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)));
  return report;
}

std::string FormatPipelineTable(const json& r) {
  auto num = [&](const json& j, const char* k) { return j.contains(k) ? j[k].get<double>() : 0.0; };
  std::string s;
  absl::StrAppend(&s, absl::StrFormat("\n%-28s %14s %14s %14s\n", "", "float", "fake-quant",
                                      absl::StrCat(r.value("inference_type", std::string("int8")), " (tfqat)")));
  const json& acc = r["accuracy"];
  absl::StrAppend(&s, absl::StrFormat("%-28s %14s %14s %14s\n", "accuracy", Pct(num(acc, "float")),
                                      Pct(num(acc, "fake_quant")), Pct(num(acc, "int8"))));
  absl::StrAppend(&s, absl::StrFormat("%-28s %14s %14s %14s\n", "fake-quant vs int8 agreement", "", "",
                                      absl::StrFormat("%s (%d/%d)", Pct(r["agreement_fake_quant_int8"].get<double>()),
                                                      r["agreement_count"].get<int64_t>(),
                                                      r["validation_examples"].get<int64_t>())));
  const json& d = r["max_output_diff"];
  absl::StrAppend(&s, absl::StrFormat("%-28s %14s %14s %14s\n", "largest output difference", "", "",
                                      absl::StrFormat("%.3g LSB", d["lsb"].get<double>())));
  const json& size = r["model_size_bytes"];
  absl::StrAppend(&s, absl::StrFormat("%-28s %14s %14s %14s\n", "model size (.tflite)", Mb(size["float_tflite"].get<int64_t>()),
                                      "", Mb(size["quantized_tflite"].get<int64_t>())));
  const json& lat = r["latency_ms"];
  absl::StrAppend(&s, absl::StrFormat("%-28s %14s %14s %14s\n", "latency, batch 1 (median)",
                                      absl::StrFormat("%.3f ms", num(lat, "float")), "",
                                      absl::StrFormat("%.3f ms", num(lat, "quantized"))));
  absl::StrAppend(&s, absl::StrFormat("\nstages:"));
  for (const auto& st : r["stages"]) {
    absl::StrAppend(&s, absl::StrFormat(" %s %.2fs%s", st["stage"].get<std::string>(), st["seconds"].get<double>(),
                                        st.value("skipped", false) ? " (resumed)" : ""));
  }
  absl::StrAppend(&s, absl::StrFormat("\ntotal %.1f s; artefacts in %s\n", r["total_seconds"].get<double>(),
                                      r["work_dir"].get<std::string>()));
  return s;
}

}  // namespace tfqat::workflow

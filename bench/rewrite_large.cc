// One rewrite per process, for numbers Google Benchmark cannot give cleanly: the peak RSS
// growth of rewriting a 10k / 100k / 1M-node graph against the input GraphDef's size, and
// per-call CPU time (median of --iters calls) for the ResNet-50-sized graph.
//
//   rewrite_large --graph chain --nodes 1000000 --mode train --api inplace
//   rewrite_large --graph resnet --mode train --api arena --iters 200
//
// --api copy:    Rewrite(const GraphDef&): the input stays, the result is a new GraphDef.
// --api inplace: RewriteInPlace on the caller's heap GraphDef (what `tfqat rewrite` does).
// --api arena:   RewriteInPlace on a GraphDef allocated on a protobuf Arena.
// --api stream:  RewriteSerialized: the rewritten graph as serialized bytes (in memory).
// Memory: the peak RSS (VmHWM, reset through /proc/self/clear_refs) during the call minus the
// RSS just before it, with the input graph already in memory (for inplace/arena the input is
// the object being rewritten). CPU: thread CPU time of the call, including the destruction of
// its result (as in rewrite_bench); process_cpu_s adds the helper threads' (the output's next
// chunk faulted in meanwhile, rewriter/serialized_graph.h), wall_s is what a caller waits.
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_graphs.h"
#include "google/protobuf/arena.h"
#include "graph/graph_io.h"
#include "rewriter/rewrite.h"

namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Minor page faults of the calling thread so far (each maps and zeroes a fresh page).
long ThreadMinorFaults() {
  rusage u;
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt;
}

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A "VmRSS:"-style field of /proc/self/status, in bytes.
double StatusBytes(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(f, line)) {
    if (line.compare(0, n, field) == 0) return std::atof(line.c_str() + n) * 1024.0;
  }
  return 0;
}

void ResetPeakRss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Args {
  std::string graph = "chain";
  int64_t nodes = 100000;
  std::string mode = "train";
  std::string api = "inplace";
  int iters = 1;
  std::string save;  // --save PATH: write the generated input GraphDef there and exit
};

std::optional<Args> Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--graph") a.graph = v;
    else if (k == "--nodes") a.nodes = std::atoll(v.c_str());
    else if (k == "--mode") a.mode = v;
    else if (k == "--api") a.api = v;
    else if (k == "--iters") a.iters = std::atoi(v.c_str());
    else if (k == "--save") a.save = v;
    else return std::nullopt;
  }
  if ((argc - 1) % 2 != 0 || (a.graph != "chain" && a.graph != "resnet") ||
      (a.mode != "train" && a.mode != "eval") || (a.api != "copy" && a.api != "inplace" && a.api != "arena" && a.api != "stream") ||
      a.iters < 1) {
    return std::nullopt;
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  auto args = Parse(argc, argv);
  if (!args) {
    std::fprintf(stderr,
                 "usage: rewrite_large [--graph chain|resnet] [--nodes N] [--mode train|eval] "
                 "[--api copy|inplace|arena|stream] [--iters K] [--save GRAPH.pb]\n");
    return 2;
  }
  const Args& a = *args;
  tfqat::RewriteOptions options;
  options.quantize.mode = a.mode == "train" ? tfqat::QuantizeOptions::Mode::kTrain : tfqat::QuantizeOptions::Mode::kEval;

  const double t_gen = WallSeconds();
  const tensorflow::GraphDef input = a.graph == "resnet" ? tfqat::bench::ResNet50Like() : tfqat::bench::LayerChain(a.nodes);
  const double gen_s = WallSeconds() - t_gen;
  if (!a.save.empty()) {  // an input for `tfqat rewrite` (bench/rewrite_large.sh)
    const absl::Status st = tfqat::SaveGraphDef(input, a.save);
    if (!st.ok()) std::fprintf(stderr, "%s\n", std::string(st.message()).c_str());
    return st.ok() ? 0 : 1;
  }
  const size_t serialized = input.ByteSizeLong();
  const size_t in_memory = input.SpaceUsedLong();
  const google::protobuf::ArenaOptions arena_options = tfqat::GraphArenaOptions(serialized);

  std::vector<double> cpu, wall;
  double rss_before = 0, peak_growth = 0, rss_after_growth = 0;
  int nodes_out = 0;
  size_t output_bytes = 0;
  long faults = 0;
  std::vector<double> process_cpu;  // CPU of all threads (helpers that fault memory in)
  for (int it = 0; it < a.iters; ++it) {
    // The working graph: the input itself for copy, a heap or arena copy for inplace/arena
    // (counted as the input, like a graph just parsed from a file).
    std::optional<tensorflow::GraphDef> heap;
    std::optional<google::protobuf::Arena> arena;
    tensorflow::GraphDef* work = nullptr;
    if (a.api == "inplace") {
      heap.emplace(input);
      work = &*heap;
    } else if (a.api == "arena") {
      arena.emplace(arena_options);
      work = google::protobuf::Arena::CreateMessage<tensorflow::GraphDef>(&*arena);
      *work = input;
    }
    if (a.iters == 1) {
      // Memory is measured on single runs only (trimming the heap between timed calls would
      // add page faults the calls do not have in a warm process).
      malloc_trim(0);
      ResetPeakRss();
    }
    rss_before = StatusBytes("VmRSS:");
    const double w0 = WallSeconds();
    const double c0 = ThreadCpuSeconds();
    const long f0 = ThreadMinorFaults();
    const double p0 = ProcessCpuSeconds();
    {
      tfqat::SerializedGraph bytes;
      absl::StatusOr<tfqat::RewriteResult> r = a.api == "copy"     ? tfqat::Rewrite(input, options)
                                               : a.api == "stream" ? tfqat::RewriteSerialized(input, options, &bytes)
                                                                   : tfqat::RewriteInPlace(work, options);
      if (!r.ok()) {
        std::fprintf(stderr, "rewrite failed: %s\n", std::string(r.status().message()).c_str());
        return 1;
      }
      nodes_out = r->output_nodes;
      if (a.api == "stream") output_bytes = bytes.size();
      rss_after_growth = StatusBytes("VmRSS:") - rss_before;
      peak_growth = StatusBytes("VmHWM:") - rss_before;
      if (a.iters > 1) {
        // Timed like rewrite_bench: the result (and the rewritten graph) is destroyed inside.
        heap.reset();
        arena.reset();
      }
    }
    cpu.push_back(ThreadCpuSeconds() - c0);
    faults = ThreadMinorFaults() - f0;
    process_cpu.push_back(ProcessCpuSeconds() - p0);
    wall.push_back(WallSeconds() - w0);
  }
  std::vector<double> sorted = cpu;
  std::sort(sorted.begin(), sorted.end());
  const double cpu_med = sorted[sorted.size() / 2];
  if (std::getenv("REWRITE_LARGE_TIMES") != nullptr) {  // per-call CPU ms in call order
    for (double c : cpu) std::fprintf(stderr, "%.2f ", c * 1e3);
    std::fprintf(stderr, "\n");
  }
  std::sort(wall.begin(), wall.end());
  const double wall_med = wall[wall.size() / 2];
  std::sort(process_cpu.begin(), process_cpu.end());
  const double process_cpu_med = process_cpu[process_cpu.size() / 2];
  std::printf(
      "graph=%s mode=%s api=%s nodes_in=%d nodes_out=%d iters=%d generate_s=%.2f\n"
      "  cpu_s=%.4f (median; min %.4f) wall_s=%.4f process_cpu_s=%.4f cpu_per_input_node_us=%.3f cpu_per_output_node_us=%.3f\n"
      "  input_serialized_MB=%.1f input_in_memory_MB=%.1f rss_before_MB=%.1f\n"
      "  peak_rss_growth_MB=%.1f (%.2fx serialized, %.2fx in-memory) rss_growth_with_result_MB=%.1f\n"
      "  output_serialized_MB=%.1f (stream only) minor_faults=%ld (last call)\n"
      "  loadavg=%s\n",
      a.graph.c_str(), a.mode.c_str(), a.api.c_str(), input.node_size(), nodes_out, a.iters, gen_s, cpu_med,
      sorted.front(), wall_med, process_cpu_med, cpu_med * 1e6 / input.node_size(), cpu_med * 1e6 / std::max(nodes_out, 1),
      serialized / 1e6, in_memory / 1e6, rss_before / 1e6, peak_growth / 1e6, peak_growth / serialized,
      peak_growth / in_memory, rss_after_growth / 1e6, output_bytes / 1e6, faults, LoadAverage().c_str());
  return 0;
}

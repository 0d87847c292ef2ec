// Rewrite cost: a ResNet-50-sized generated GraphDef (53 conv + 1 matmul layers with batch
// norms; fold + fake quant, train and eval), and InsertFakeQuant on 10k / 100k / 1M-node
// graphs (one layer per 10 nodes) with peak-memory counters.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "bench/bench_graphs.h"
#include "rewriter/quantize.h"
#include "rewriter/rewrite.h"

namespace {

// Current resident set size in bytes (/proc/self/statm).
double RssBytes() {
  std::ifstream f("/proc/self/statm");
  long pages_total = 0, pages_rss = 0;
  f >> pages_total >> pages_rss;
  return static_cast<double>(pages_rss) * 4096.0;
}

void BM_RewriteResNet50(benchmark::State& state) {
  const auto graph = tfqat::bench::ResNet50Like();
  tfqat::RewriteOptions o;
  o.quantize.mode = state.range(0) ? tfqat::QuantizeOptions::Mode::kTrain : tfqat::QuantizeOptions::Mode::kEval;
  int out_nodes = 0, folded = 0;
  for (auto _ : state) {
    auto r = tfqat::Rewrite(graph, o);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    out_nodes = r->graph.node_size();
    folded = static_cast<int>(r->folded.size());
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(state.range(0) ? "train" : "eval");
  state.counters["nodes_in"] = graph.node_size();
  state.counters["nodes_out"] = out_nodes;
  state.counters["bn_folded"] = folded;
}
BENCHMARK(BM_RewriteResNet50)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// RewriteSerialized: the rewritten graph straight to GraphDef bytes (what a file needs), no
// NodeDefs kept for the emitted nodes.
void BM_RewriteResNet50Serialized(benchmark::State& state) {
  const auto graph = tfqat::bench::ResNet50Like();
  tfqat::RewriteOptions o;
  o.quantize.mode = state.range(0) ? tfqat::QuantizeOptions::Mode::kTrain : tfqat::QuantizeOptions::Mode::kEval;
  double bytes = 0;
  for (auto _ : state) {
    tfqat::SerializedGraph out;
    auto r = tfqat::RewriteSerialized(graph, o, &out);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    bytes = static_cast<double>(out.size());
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(state.range(0) ? "train" : "eval");
  state.counters["out_MB"] = bytes / 1e6;
}
BENCHMARK(BM_RewriteResNet50Serialized)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The graph on a protobuf Arena, rewritten in place (the copy of the input onto the arena is
// timed too). Slower than the heap with protobuf 3.21 (docs/PERFORMANCE.md).
void BM_RewriteResNet50Arena(benchmark::State& state) {
  const auto graph = tfqat::bench::ResNet50Like();
  tfqat::RewriteOptions o;
  o.quantize.mode = state.range(0) ? tfqat::QuantizeOptions::Mode::kTrain : tfqat::QuantizeOptions::Mode::kEval;
  int out_nodes = 0;
  for (auto _ : state) {
    google::protobuf::Arena arena(tfqat::GraphArenaOptions(graph.ByteSizeLong()));
    auto* g = google::protobuf::Arena::CreateMessage<tensorflow::GraphDef>(&arena);
    *g = graph;
    auto r = tfqat::RewriteInPlace(g, o);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    out_nodes = g->node_size();
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(state.range(0) ? "train" : "eval");
  state.counters["nodes_in"] = graph.node_size();
  state.counters["nodes_out"] = out_nodes;
}
BENCHMARK(BM_RewriteResNet50Arena)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_InsertFakeQuantResNet50(benchmark::State& state) {
  const auto graph = tfqat::bench::ResNet50Like();
  tfqat::QuantizeOptions o;
  o.mode = state.range(0) ? tfqat::QuantizeOptions::Mode::kTrain : tfqat::QuantizeOptions::Mode::kEval;
  for (auto _ : state) {
    auto r = tfqat::InsertFakeQuant(graph, o);
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(state.range(0) ? "train" : "eval");
  state.counters["nodes_in"] = graph.node_size();
}
BENCHMARK(BM_InsertFakeQuantResNet50)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// arg0: nodes, arg1: 1 = train, 0 = eval
void BM_InsertFakeQuantLarge(benchmark::State& state) {
  const auto graph = tfqat::bench::LayerChain(state.range(0));
  tfqat::QuantizeOptions o;
  o.mode = state.range(1) ? tfqat::QuantizeOptions::Mode::kTrain : tfqat::QuantizeOptions::Mode::kEval;
  const double input_bytes = static_cast<double>(graph.ByteSizeLong());
  const double input_mem = static_cast<double>(graph.SpaceUsedLong());
  double peak_extra = 0, out_nodes = 0;
  for (auto _ : state) {
    const double before = RssBytes();
    auto r = tfqat::InsertFakeQuant(graph, o);
    const double after = RssBytes();
    peak_extra = std::max(peak_extra, after - before);
    out_nodes = r->graph.node_size();
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(state.range(1) ? "train" : "eval");
  state.counters["nodes_in"] = graph.node_size();
  state.counters["nodes_out"] = out_nodes;
  state.counters["in_serialized_MB"] = input_bytes / 1e6;
  state.counters["in_memory_MB"] = input_mem / 1e6;
  // RSS growth while the result is alive (output graph + what the pass has not freed).
  state.counters["rss_growth_MB"] = peak_extra / 1e6;
  state.counters["time_per_node"] = benchmark::Counter(
      static_cast<double>(graph.node_size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_InsertFakeQuantLarge)
    ->Args({10000, 0})->Args({100000, 0})->Args({1000000, 0})
    ->Args({10000, 1})->Args({100000, 1})->Args({1000000, 1})
    ->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::fprintf(stderr, "peak RSS of the whole run: %.1f MB\n", ru.ru_maxrss / 1024.0);
  return 0;
}

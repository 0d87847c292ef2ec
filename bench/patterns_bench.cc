// Matcher cost on generated graphs of 10k / 100k / 1M nodes (one layer per 10 nodes):
// FindLayers alone (the GraphView is built outside the timed loop) and with the view; the
// GraphView alone (name index, fan-in/fan-out) and its topological order.
#include <benchmark/benchmark.h>

#include "bench/bench_graphs.h"
#include "graph/graph_view.h"
#include "patterns/layer_patterns.h"

namespace {

// The graph's node count and the seconds per node (printed with an SI prefix: "45n" = 45 ns).
void PerNodeCounters(const tensorflow::GraphDef& graph, benchmark::State& state) {
  state.counters["nodes"] = graph.node_size();
  state.counters["time_per_node"] = benchmark::Counter(
      static_cast<double>(graph.node_size()),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_FindLayers(benchmark::State& state) {
  const auto graph = tfqat::bench::LayerChain(state.range(0));
  auto view = tfqat::GraphView::Create(graph);
  if (!view.ok()) {
    state.SkipWithError("GraphView");
    return;
  }
  tfqat::patterns::MatchOptions opt;
  opt.record_failures = false;
  size_t matches = 0;
  for (auto _ : state) {
    auto ms = tfqat::patterns::FindLayers(*view, opt);
    matches = ms->matches.size();
    benchmark::DoNotOptimize(ms);
  }
  PerNodeCounters(graph, state);
  state.counters["layers"] = matches;
}
BENCHMARK(BM_FindLayers)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_FindLayersWithFailures(benchmark::State& state) {
  const auto graph = tfqat::bench::LayerChain(state.range(0));
  auto view = tfqat::GraphView::Create(graph);
  for (auto _ : state) {
    auto ms = tfqat::patterns::FindLayers(*view);
    benchmark::DoNotOptimize(ms);
  }
  state.counters["nodes"] = graph.node_size();
}
BENCHMARK(BM_FindLayersWithFailures)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_ViewAndFindLayers(benchmark::State& state) {
  const auto graph = tfqat::bench::LayerChain(state.range(0));
  tfqat::patterns::MatchOptions opt;
  opt.record_failures = false;
  for (auto _ : state) {
    auto view = tfqat::GraphView::Create(graph);
    auto ms = tfqat::patterns::FindLayers(*view, opt);
    benchmark::DoNotOptimize(ms);
  }
  PerNodeCounters(graph, state);
}
BENCHMARK(BM_ViewAndFindLayers)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_GraphViewCreate(benchmark::State& state) {
  const auto graph = tfqat::bench::LayerChain(state.range(0));
  for (auto _ : state) {
    auto view = tfqat::GraphView::Create(graph);
    benchmark::DoNotOptimize(view);
  }
  PerNodeCounters(graph, state);
}
BENCHMARK(BM_GraphViewCreate)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_TopologicalOrder(benchmark::State& state) {
  const auto graph = tfqat::bench::LayerChain(state.range(0));
  auto view = tfqat::GraphView::Create(graph);
  for (auto _ : state) {
    auto order = view->TopologicalOrder();
    benchmark::DoNotOptimize(order);
  }
  state.counters["nodes"] = graph.node_size();
}
BENCHMARK(BM_TopologicalOrder)->Arg(10000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

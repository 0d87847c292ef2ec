// One training epoch of the LeNet of the performance goal (tests/trainer/lenet.h), batch 64,
// 8000 images (MNIST from TFQAT_MNIST_DIR/train_images.npy + train_labels.npy when present,
// else synthetic digits), float and QAT (the rewriter's train-mode graph), 1 and 2 threads.
// Reports seconds per epoch and the process's peak RSS.
#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include "benchmark/benchmark.h"
#include "rewriter/quantize.h"
#include "tests/trainer/lenet.h"
#include "trainer/trainer.h"

namespace tfqat {
namespace {

const Dataset& EpochData() {
  static const Dataset* data = [] {
    auto* d = new Dataset;
    const char* dir = std::getenv("TFQAT_MNIST_DIR");
    if (dir != nullptr) {
      auto x = LoadDataTensor(std::string(dir) + "/train_images.npy", 1.f / 255.f);
      auto y = LoadLabels(std::string(dir) + "/train_labels.npy");
      if (x.ok() && y.ok()) {
        d->x = std::move(*x);
        d->labels = std::move(*y);
        const int64_t n = std::min<int64_t>(8000, d->x.shape[0]);
        d->x.shape = {n, 28, 28, 1};
        d->x.f.resize(n * 784);
        d->labels.resize(n);
        return d;
      }
    }
    *d = testing::SyntheticDigits(8000, 1);
    return d;
  }();
  return *data;
}

void BM_Epoch(benchmark::State& state) {
  const bool qat = state.range(0) != 0;
  const int threads = static_cast<int>(state.range(1));
  tensorflow::GraphDef g = testing::BuildLeNet();
  if (qat) {
    QuantizeOptions q;
    q.mode = QuantizeOptions::Mode::kTrain;
    g = InsertFakeQuant(g, q)->graph;
  }
  TrainOptions o;
  o.logits = "logits";
  o.epochs = 1;
  o.batch = 64;
  o.lr = 0.01f;
  o.threads = threads;
  float loss = 0;
  for (auto _ : state) {
    auto r = Train(g, EpochData(), nullptr, o);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    loss = r->epochs.back().train_loss;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  state.counters["peak_rss_MiB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
  state.counters["train_loss"] = loss;
  state.SetLabel(std::getenv("TFQAT_MNIST_DIR") ? "mnist" : "synthetic");
}
BENCHMARK(BM_Epoch)->ArgNames({"qat", "threads"})->Args({0, 1})->Args({1, 1})->Args({0, 2})->Args({1, 2})
    ->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace
}  // namespace tfqat

BENCHMARK_MAIN();

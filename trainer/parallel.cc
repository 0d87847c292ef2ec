#include "trainer/parallel.h"

#include <algorithm>

#define EIGEN_USE_THREADS
#include <unsupported/Eigen/CXX11/ThreadPool>

namespace tfqat {

Parallel::Parallel(int num_threads) : num_threads_(std::max(1, num_threads)) {
  if (num_threads_ > 1) pool_ = std::make_unique<Eigen::ThreadPool>(num_threads_ - 1);
}
Parallel::~Parallel() = default;

void Parallel::ForBlocks(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn) const {
  const int blocks = static_cast<int>(std::min<int64_t>(num_threads_, std::max<int64_t>(n, 1)));
  if (blocks <= 1 || !pool_) {
    for (int b = 0; b < num_threads_; ++b) {
      int64_t lo = n * b / num_threads_, hi = n * (b + 1) / num_threads_;
      if (hi > lo || b == 0) fn(b, lo, hi);
    }
    return;
  }
  Eigen::Barrier barrier(static_cast<unsigned>(num_threads_ - 1));
  for (int b = 1; b < num_threads_; ++b) {
    pool_->Schedule([&, b] {
      int64_t lo = n * b / num_threads_, hi = n * (b + 1) / num_threads_;
      fn(b, lo, hi);
      barrier.Notify();
    });
  }
  fn(0, 0, n / num_threads_);
  barrier.Wait();
}

void Parallel::For(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  if (num_threads_ == 1 || n < 2 || n * cost_per_item < 20000) {
    fn(0, n);
    return;
  }
  ForBlocks(n, [&](int, int64_t lo, int64_t hi) {
    if (hi > lo) fn(lo, hi);
  });
}

}  // namespace tfqat

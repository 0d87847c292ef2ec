// A fixed-size worker pool (Eigen's ThreadPool) with a deterministic ParallelFor: the range is
// split into the same contiguous blocks for a given thread count, so results that are summed
// per block are reproducible for a seed and thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace Eigen {
class ThreadPoolInterface;
}

namespace tfqat {

class Parallel {
 public:
  explicit Parallel(int num_threads);
  ~Parallel();
  int num_threads() const { return num_threads_; }
  // Calls fn(begin, end) on num_blocks(n) disjoint blocks covering [0, n). Blocks run on the
  // pool when `n * cost_per_item` is large enough to pay for it, else inline.
  void For(int64_t n, int64_t cost_per_item, const std::function<void(int64_t, int64_t)>& fn) const;
  // Like For but also passes the block index (0 .. num_threads-1), for per-block partial sums.
  void ForBlocks(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn) const;

 private:
  int num_threads_ = 1;
  std::unique_ptr<Eigen::ThreadPoolInterface> pool_;
};

}  // namespace tfqat

// Rows of a scratch image (the padded int16 or float copy of a conv input) built on demand by
// whichever thread first needs them, inside the same parallel region as the compute: one pool
// wake-up instead of two, and the copy shared by the threads. A row is claimed with a
// compare-and-swap; a thread that needs a row another thread is building waits for it (that
// thread is running, never queued behind the waiter, so this cannot deadlock).
#pragma once

#include <immintrin.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace tfqat::runtime::optimized {

class OnDemandRows {
 public:
  explicit OnDemandRows(int64_t rows) : state_(new std::atomic<int>[static_cast<size_t>(rows)]) {
    for (int64_t r = 0; r < rows; ++r) state_[r].store(kTodo, std::memory_order_relaxed);
  }
  // Makes rows [r0, r1) available; build(r) writes row r.
  template <typename F>
  void Ensure(int64_t r0, int64_t r1, F&& build) {
    for (int64_t r = r0; r < r1; ++r) {
      int s = state_[r].load(std::memory_order_acquire);
      if (s == kDone) continue;
      if (s == kTodo && state_[r].compare_exchange_strong(s, kBusy, std::memory_order_acq_rel)) {
        build(r);
        state_[r].store(kDone, std::memory_order_release);
        continue;
      }
      while (state_[r].load(std::memory_order_acquire) != kDone) _mm_pause();
    }
  }

 private:
  static constexpr int kTodo = 0, kBusy = 1, kDone = 2;
  std::unique_ptr<std::atomic<int>[]> state_;
};

}  // namespace tfqat::runtime::optimized

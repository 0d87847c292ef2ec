#include "runtime/thread_pool.h"

#include <chrono>

namespace tfqat::runtime {
namespace {

// How long the caller (waiting for the last task) and idle workers (waiting for the next Run)
// poll before blocking on the condition variable.
constexpr auto kSpin = std::chrono::microseconds(50);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Polls `done` for up to kSpin; returns whether it became true.
template <typename F>
bool SpinUntil(F&& done) {
  const auto end = std::chrono::steady_clock::now() + kSpin;
  for (int i = 0;; ++i) {
    if (done()) return true;
    CpuRelax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > end) return done();
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads < 1 ? 1 : num_threads) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Drain() {
  for (;;) {
    int task;
    TaskFn fn;
    void* ctx;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_task_ >= num_tasks_) return;
      task = next_task_++;
      fn = fn_;
      ctx = ctx_;
    }
    fn(ctx, task);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_all();
    }
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    SpinUntil([&] { return stop_.load(std::memory_order_acquire) || generation_.load() != seen; });
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    Drain();
  }
}

void ThreadPool::Run(int num_tasks, TaskFn fn, void* ctx) {
  if (num_tasks <= 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = fn;
    ctx_ = ctx;
    num_tasks_ = num_tasks;
    next_task_ = 0;
    pending_ = num_tasks;
    ++generation_;
  }
  work_cv_.notify_all();
  Drain();
  if (SpinUntil([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
    // The worker that finished the last task decremented pending_ under mu_; taking the lock
    // once orders its notify (and all its writes) before we return.
    std::lock_guard<std::mutex> lock(mu_);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
}

}  // namespace tfqat::runtime

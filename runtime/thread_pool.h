// A small fixed thread pool for kernels. Run() executes fn(ctx, task) for task in [0, n) on the
// caller and the workers, and returns when all tasks are done. No allocation per call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <type_traits>
#include <mutex>
#include <thread>
#include <vector>

namespace tfqat::runtime {

class ThreadPool {
 public:
  // num_threads includes the calling thread (1 = no worker threads).
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  using TaskFn = void (*)(void* ctx, int task);
  void Run(int num_tasks, TaskFn fn, void* ctx);

 private:
  void WorkerLoop();
  void Drain();

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int num_tasks_ = 0;
  int next_task_ = 0;
  // Written under mu_; atomics so that the caller and idle workers can spin on them briefly
  // before sleeping (a condition-variable sleep + wake-up costs 10-30 us on the shared VM,
  // more than a small conv layer).
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

// ParallelFor(pool, n, [&](int task) { ... }): runs inline when pool is null or has one thread.
template <typename F>
void ParallelFor(ThreadPool* pool, int num_tasks, F&& f) {
  if (pool == nullptr || pool->num_threads() <= 1 || num_tasks <= 1) {
    for (int i = 0; i < num_tasks; ++i) f(i);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  pool->Run(num_tasks, [](void* ctx, int task) { (*static_cast<Fn*>(ctx))(task); },
            const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace tfqat::runtime

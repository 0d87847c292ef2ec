// ThreadPool: every task runs exactly once per Run, its writes are visible when Run returns,
// both when the workers are still polling (back-to-back Runs) and when they have gone to sleep
// on the condition variable (Runs farther apart than the polling window), and the pool can be
// destroyed right after a Run while its workers poll.
#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace tfqat::runtime {
namespace {

void CheckRuns(ThreadPool& pool, int runs, std::chrono::microseconds pause) {
  for (int r = 0; r < runs; ++r) {
    const int tasks = 1 + r % 7;
    std::vector<int> hits(tasks, 0);  // plain ints: Run must order the tasks' writes
    ParallelFor(&pool, tasks, [&](int t) { hits[t] += 1 + t; });
    for (int t = 0; t < tasks; ++t) ASSERT_EQ(hits[t], 1 + t) << "run " << r << " task " << t;
    if (pause.count() > 0) std::this_thread::sleep_for(pause);
  }
}

TEST(ThreadPool, BackToBackRunsRunEveryTaskOnce) {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    CheckRuns(pool, 2000, std::chrono::microseconds(0));
  }
}

TEST(ThreadPool, RunsAfterWorkersSleepRunEveryTaskOnce) {
  ThreadPool pool(3);
  CheckRuns(pool, 20, std::chrono::microseconds(2000));  // well past the 50 us polling window
}

TEST(ThreadPool, TasksRunConcurrentlyOnWorkers) {
  ThreadPool pool(2);
  std::atomic<int> arrived{0};
  std::atomic<bool> both{false};
  // Task 0 waits (bounded) for task 1: only possible if another thread runs task 1.
  ParallelFor(&pool, 2, [&](int) {
    arrived.fetch_add(1);
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (arrived.load() < 2 && std::chrono::steady_clock::now() < end) std::this_thread::yield();
    if (arrived.load() == 2) both = true;
  });
  EXPECT_TRUE(both.load());
}

TEST(ThreadPool, DestroyedWhileWorkersPoll) {
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(4);
    std::atomic<int> n{0};
    ParallelFor(&pool, 8, [&](int) { n.fetch_add(1); });
    EXPECT_EQ(n.load(), 8);
  }
}

}  // namespace
}  // namespace tfqat::runtime

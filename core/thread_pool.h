// A fixed pool of worker threads for batch work (tokenizing a batch, scoring rewards).
// parallel_for splits [0, n) into contiguous chunks, one per thread, and waits; an exception in any
// chunk is rethrown in the caller after all chunks finish.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace r1 {

class ThreadPool {
 public:
  // threads == 0: one per hardware core.
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size(); }
  // Runs fn(begin, end) over chunks of [0, n) on the pool and the calling thread.
  void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn);

 private:
  void run();
  std::vector<std::thread> workers_;
  std::queue<std::function<void()>> tasks_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
};

// Number of hardware cores (at least 1).
size_t hardware_threads();

}  // namespace r1

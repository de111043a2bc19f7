#include "core/thread_pool.h"

#include <exception>
#include <latch>

namespace r1 {

size_t hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

ThreadPool::ThreadPool(size_t threads) {
  if (threads == 0) threads = hardware_threads();
  // The caller of parallel_for works too, so the pool holds threads - 1 workers.
  for (size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { run(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop();
    }
    task();
  }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  size_t chunks = std::min(n, workers_.size() + 1);
  std::vector<std::exception_ptr> errors(chunks);
  std::latch done(static_cast<std::ptrdiff_t>(chunks - 1));
  auto bounds = [&](size_t c) { return std::pair<size_t, size_t>{n * c / chunks, n * (c + 1) / chunks}; };
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t c = 1; c < chunks; ++c) {
      tasks_.push([&, c] {
        auto [b, e] = bounds(c);
        try {
          fn(b, e);
        } catch (...) {
          errors[c] = std::current_exception();
        }
        done.count_down();
      });
    }
  }
  wake_.notify_all();
  auto [b, e] = bounds(0);
  try {
    fn(b, e);
  } catch (...) {
    errors[0] = std::current_exception();
  }
  done.wait();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace r1

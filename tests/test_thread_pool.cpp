// core/thread_pool: every index is visited once, work is spread over threads, errors propagate.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <mutex>

#include "core/thread_pool.h"

TEST_CASE("thread pool: parallel_for covers every index exactly once", "[thread_pool]") {
  r1::ThreadPool pool(4);
  CHECK(pool.size() == 3);
  for (size_t n : {0, 1, 3, 4, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) hits[i]++;
    });
    for (size_t i = 0; i < n; ++i) CHECK(hits[i] == 1);
  }
}

TEST_CASE("thread pool: chunks run on more than one thread", "[thread_pool]") {
  r1::ThreadPool pool(2);
  std::set<std::thread::id> ids;
  std::mutex m;
  std::atomic<int> arrived{0};
  pool.parallel_for(2, [&](size_t, size_t) {
    arrived++;
    while (arrived < 2) std::this_thread::yield();  // both chunks must be running at once
    std::lock_guard<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
  });
  CHECK(ids.size() == 2);
}

TEST_CASE("thread pool: an exception in a chunk reaches the caller", "[thread_pool]") {
  r1::ThreadPool pool(3);
  CHECK_THROWS_WITH(pool.parallel_for(9, [](size_t b, size_t) {
    if (b > 0) throw std::runtime_error("chunk failed");
  }), "chunk failed");
  // The pool still works afterwards.
  std::atomic<int> sum{0};
  pool.parallel_for(10, [&](size_t b, size_t e) { sum += static_cast<int>(e - b); });
  CHECK(sum == 10);
}

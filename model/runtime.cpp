#include "model/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/ATen.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "core/error.h"

#include "core/thread_pool.h"

namespace r1::model {

int configure_threads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(hardware_threads());
  at::set_num_threads(n);
  return at::get_num_threads();
}

void configure_allocator(size_t mmap_threshold) {
  // Setting the threshold also turns off glibc's dynamic adjustment of it, and with it the trim
  // threshold's (glibc's rule: twice the mmap threshold), which would stay at 128 KiB: every free at
  // the top of a thread's arena then hands pages back (madvise) that the next allocation faults in
  // again. A gRPC thread receiving a weight update did that for every message: 4.2 s instead of 0.6 s
  // per gigabyte on loopback. So the trim threshold follows glibc's rule, at least 64 MiB (8 MiB was
  // not enough: up to 1.5 GB/s with 32-128 MiB, 0.3 GB/s with 8 MiB).
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold));
  ::mallopt(M_TRIM_THRESHOLD, static_cast<int>(std::max<size_t>(2 * mmap_threshold, size_t{64} << 20)));
}

MatmulRates matmul_rates() {
  static std::once_flag once;
  static MatmulRates rates;
  std::call_once(once, [] {
    at::NoGradGuard no_grad;
    const int64_t n = 1024;
    auto rate = [&](at::ScalarType dtype) {
      at::Tensor a = at::randn({n, n}).to(dtype), b = at::randn({n, n}).to(dtype);
      at::matmul(a, b);  // warm-up
      double best = 1e30;
      for (int i = 0; i < 3; ++i) {
        const auto t = std::chrono::steady_clock::now();
        at::matmul(a, b);
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
      }
      return 2.0 * n * n * n / best / 1e9;
    };
    rates.fp32 = rate(at::kFloat);
    rates.bf16 = rate(at::kBFloat16);
  });
  return rates;
}

ComputeDtype resolve_compute_dtype(ComputeDtype choice) {
  if (choice != ComputeDtype::kAuto) return choice;
  const MatmulRates r = matmul_rates();
  return r.bf16 > r.fp32 ? ComputeDtype::kBf16 : ComputeDtype::kFp32;
}

std::string describe_runtime() { return at::show_config() + at::get_parallel_info(); }

}  // namespace r1::model

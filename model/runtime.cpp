#include "model/runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/ATen.h>
#include <malloc.h>

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
  // Setting the threshold also turns off glibc's dynamic adjustment of it.
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold));
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

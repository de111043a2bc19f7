#include "bench/matmul_peak.h"

#include <algorithm>

#include "core/clock.h"
#include "model/device.h"

namespace r1::bench {

int64_t peak_size(const at::Device& device) { return device.is_cuda() ? 8192 : 2048; }

double matmul_peak_flops(at::ScalarType dtype, const at::Device& device) {
  at::NoGradGuard no_grad;
  const int64_t n = peak_size(device);
  at::Tensor a = at::randn({n, n}).to(device, dtype), b = at::randn({n, n}).to(device, dtype);
  at::matmul(a, b);
  model::synchronize(device);
  double best = 1e30;
  for (int i = 0; i < 3; ++i) {
    const auto t = Clock::now();
    at::matmul(a, b);
    model::synchronize(device);
    best = std::min(best, seconds_since(t));
  }
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / best;
}

}  // namespace r1::bench

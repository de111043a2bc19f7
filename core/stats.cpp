#include "core/stats.h"

#include <cmath>

namespace r1 {

MeanStd mean_std(const double* x, size_t n) {
  MeanStd out;
  if (n == 0) return out;
  for (size_t i = 0; i < n; ++i) out.mean += x[i];
  out.mean /= static_cast<double>(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (x[i] - out.mean) * (x[i] - out.mean);
  out.std = std::sqrt(var / static_cast<double>(n));
  return out;
}

}  // namespace r1

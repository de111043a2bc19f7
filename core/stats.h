// Summary statistics over plain arrays of doubles (no dependencies beyond the standard library).
#pragma once

#include <cstddef>
#include <vector>

namespace r1 {

struct MeanStd {
  double mean = 0;
  double std = 0;  // population standard deviation: sqrt(sum (x - mean)^2 / n)
};

// The mean and population standard deviation of x[0, n); {0, 0} when n is 0. GRPO's advantages
// divide by this std, and the step metrics report both.
MeanStd mean_std(const double* x, size_t n);
inline MeanStd mean_std(const std::vector<double>& x) { return mean_std(x.data(), x.size()); }

}  // namespace r1

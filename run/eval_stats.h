// The statistics an evaluation reports about its own noise (no LibTorch, no JSON: pure functions,
// unit-tested on hand-computed values). docs/recipes.md, "r1 eval", gives the formulas.
//
//   mean_ci95          n values (one per problem, e.g. its pass@1 p_i = correct samples / K): their mean
//                      and the half-width of its 95% interval, t_{0.975, n-1} * sd / sqrt(n), sd with
//                      n - 1 in the denominator; no interval for n < 2.
//   paired_difference  two models on the same problems in the same order: d_i = a_i - b_i, the mean of
//                      d_i and its interval as above (the paired t interval); "within noise" when the
//                      interval holds 0 (or there is none).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace r1::run {

// The p-quantile of Student's t distribution with `df` degrees of freedom (df > 0, 0 < p < 1; r1::Error
// otherwise): the CDF, 1 - I_x(df/2, 1/2) / 2 with x = df / (df + t^2), inverted by bisection to
// about 1e-12. t(0.975, 1) = 12.706, t(0.975, 9) = 2.262, t(0.975, 1e6) = 1.960.
double student_t_quantile(double p, double df);

struct MeanCI {
  double mean = 0;
  std::optional<double> ci95;  // the half-width; none for n < 2
  int64_t n = 0;
};

// The mean of `values` and its 95% interval (empty: mean 0, n 0, no interval).
MeanCI mean_ci95(const std::vector<double>& values);

struct PairedDifference {
  double difference = 0;       // mean of a_i - b_i
  std::optional<double> ci95;  // its half-width; none for n < 2
  int64_t n = 0;
  bool within_noise = true;    // the interval holds 0 (or there is none)
};

// a - b problem by problem: r1::Error unless the two lists have the same length.
PairedDifference paired_difference(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace r1::run

// Wall-clock intervals for timings and metrics: a monotonic clock (never jumps with the system
// time) and the seconds since a point on it.
#pragma once

#include <chrono>

namespace r1 {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace r1

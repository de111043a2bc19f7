// Timing marks for profiling r1-box: with R1_BOX_PROFILE set, each mark() prints on stderr the
// milliseconds since the previous one (the pool passes the variable on to the zygote).
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace r1::sandbox::box {

// Milliseconds on the monotonic clock.
inline double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline void mark(const char* what) {
  static const bool on = std::getenv("R1_BOX_PROFILE") != nullptr;
  static double last = now_ms();
  if (!on) return;
  double t = now_ms();
  std::fprintf(stderr, "[r1-box %d] %-24s +%.2f ms\n", ::getpid(), what, t - last);
  last = t;
}

}  // namespace r1::sandbox::box

// libFuzzer target: arbitrary bytes as a predicted math answer (and, split at the first newline, a
// gold answer). verify_math must return a verdict — never crash, hang or exhaust memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rewards/math.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string gold = nl == std::string::npos ? "\\frac{1}{2}" : input.substr(0, nl);
  std::string pred = nl == std::string::npos ? input : input.substr(nl + 1);
  auto deadline = r1::rewards::Deadline::in(std::chrono::milliseconds(500));
  r1::rewards::MathVerdict v = r1::rewards::verify_math(gold, pred, {}, deadline);
  if (v.correct && !v.reason.empty()) __builtin_trap();  // a correct verdict has no reason
  return 0;
}

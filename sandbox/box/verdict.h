// How a run becomes a verdict: what its ending says (TLE, MLE, OLE, RE, SE) and whether a stdin/stdout
// test's output matches the expected one.
#pragma once

#include <cstddef>
#include <string>

#include "sandbox/box/box.h"

namespace r1::sandbox::box {

bool contains(const std::string& s, const char* needle);
// The last n characters of s, "..." in front when cut.
std::string tail(const std::string& s, size_t n);

// What a run's ending says, when it did not simply exit 0: TLE, MLE, OLE, SE, RE, or "" (exited 0);
// *detail says why, naming the limit.
std::string abnormal(const RunOutcome& r, const RunLimits& l, std::string* detail);

// "" when the outputs match line by line (trailing blanks and blank lines ignored; with tolerance > 0,
// numbers within tolerance * max(1, |expected|) match); otherwise where they differ (never the
// expected text).
std::string compare_output(const std::string& got, const std::string& want, double tolerance);

}  // namespace r1::sandbox::box

#include "sandbox/box/verdict.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

namespace r1::sandbox::box {

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

std::string tail(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return "..." + s.substr(s.size() - n);
}

// Checked in this order because the causes overlap: a run killed for its output or its wall time also
// ends by SIGKILL, and one out of memory also exits non-zero or by a signal.
std::string abnormal(const RunOutcome& r, const RunLimits& l, std::string* detail) {
  if (r.output_exceeded) {
    *detail = "more than " + std::to_string(l.output_kb) + " KiB of output";
    return "OLE";
  }
  if (r.wall_timeout) {
    *detail = "wall-clock limit of " + std::to_string(l.wall_seconds).substr(0, 5) + " s";
    return "TLE";
  }
  if (r.signal == SIGXCPU || (r.signal == SIGKILL && r.cpu_ms >= l.cpu_seconds * 1000.0 * 0.95)) {
    *detail = "CPU limit of " + std::to_string(l.cpu_seconds).substr(0, 5) + " s";
    return "TLE";
  }
  if (r.oom_killed || r.exec_errno == ENOMEM ||
      ((r.signal != 0 || r.exit_code != 0) &&
       (contains(r.err, "MemoryError") || contains(r.err, "std::bad_alloc") ||
        contains(r.err, "Cannot allocate memory")))) {
    *detail = "memory limit of " + std::to_string(l.memory_mb) + " MiB";
    return "MLE";
  }
  if (r.signal == SIGXFSZ) {
    *detail = "a file larger than " + std::to_string(l.file_size_mb) + " MiB";
    return "OLE";
  }
  if (r.exec_errno != 0) {
    *detail = std::string("could not start the program: ") + std::strerror(r.exec_errno);
    return "SE";
  }
  if (r.signal != 0) {
    *detail = std::string("killed by signal ") + std::to_string(r.signal) + " (" + ::strsignal(r.signal) + ")";
    std::string e = tail(r.err, 300);
    if (!e.empty()) *detail += ": " + e;
    return "RE";
  }
  if (r.exit_code != 0) {
    *detail = "exit status " + std::to_string(r.exit_code);
    std::string e = tail(r.err, 300);
    if (!e.empty()) *detail += ": " + e;
    return "RE";
  }
  return "";
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  for (auto& l : lines) {
    size_t end = l.find_last_not_of(" \t\r\f\v");
    l.erase(end == std::string::npos ? 0 : end + 1);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

bool tokens_match(const std::string& got, const std::string& want, double tolerance) {
  std::istringstream a(got), b(want);
  std::string x, y;
  for (;;) {
    bool ha = static_cast<bool>(a >> x), hb = static_cast<bool>(b >> y);
    if (!ha || !hb) return ha == hb;
    if (x == y) continue;
    char* ex = nullptr;
    char* ey = nullptr;
    double dx = std::strtod(x.c_str(), &ex), dy = std::strtod(y.c_str(), &ey);
    if (*ex != 0 || *ey != 0 || x.empty() || y.empty()) return false;
    if (!std::isfinite(dx) || !std::isfinite(dy)) return false;
    if (std::fabs(dx - dy) > tolerance * std::max(1.0, std::fabs(dy))) return false;
  }
}

}  // namespace

std::string compare_output(const std::string& got, const std::string& want, double tolerance) {
  std::vector<std::string> g = lines_of(got), w = lines_of(want);
  size_t n = std::min(g.size(), w.size());
  for (size_t i = 0; i < n; ++i) {
    bool same = tolerance > 0 ? tokens_match(g[i], w[i], tolerance) : g[i] == w[i];
    if (!same) return "line " + std::to_string(i + 1) + " differs";
  }
  if (g.size() != w.size())
    return "the output has " + std::to_string(g.size()) + " lines, the expected output " + std::to_string(w.size());
  return "";
}

}  // namespace r1::sandbox::box

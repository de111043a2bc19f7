// The interface between rewards and the sandbox: run untrusted code against tests, get a verdict.
// The sandbox (isolation, languages, test harnesses, pool) implements Runner; the code reward and
// anything else that runs model-written code depend only on this header. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace r1::sandbox {

enum class Verdict { AC, WA, TLE, MLE, OLE, RE, CE, SE };  // accepted ... sandbox error
const char* to_string(Verdict v);

struct Limits {
  double cpu_seconds = 2.0;
  double wall_seconds = 10.0;
  int64_t memory_mb = 512;
  int64_t output_kb = 1024;
  int64_t disk_mb = 64;     // the work folder's size, and the largest file
  int64_t processes = 32;   // processes and threads
};

struct Job {
  std::string language;   // "python", "cpp", "c"
  std::string source;
  nlohmann::json tests;   // {"type": "stdio"|"function"|"assert-main"|"run", ...} (sandbox/sandbox.h)
  Limits limits;
};

struct TestResult {
  Verdict verdict = Verdict::SE;
  std::string detail;  // e.g. the first differing line; never the expected output itself
  double cpu_ms = 0, wall_ms = 0;
};

struct Result {
  Verdict verdict = Verdict::SE;  // the first failing test's verdict, or AC
  int passed = 0, total = 0;
  std::vector<TestResult> tests;
  double cpu_ms = 0, wall_ms = 0;
  int64_t max_rss_kb = 0;
  std::string message;            // compiler errors, sandbox errors
  // A "run" job's output: stdout then stderr, at most output_kb KiB (stdout's head and stderr's tail
  // when both do not fit), with a line saying what was cut; output_cut: something was.
  std::string output;
  bool output_cut = false;
};

class Runner {
 public:
  virtual ~Runner() = default;
  // Never throws for anything the code does; a sandbox failure is Verdict::SE with a message.
  virtual Result run(const Job& job) = 0;
};

inline const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::AC: return "AC";
    case Verdict::WA: return "WA";
    case Verdict::TLE: return "TLE";
    case Verdict::MLE: return "MLE";
    case Verdict::OLE: return "OLE";
    case Verdict::RE: return "RE";
    case Verdict::CE: return "CE";
    case Verdict::SE: return "SE";
  }
  return "SE";
}

}  // namespace r1::sandbox

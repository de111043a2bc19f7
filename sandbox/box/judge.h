// The test modes a job can ask for, judged in a box: stdio (stdin → stdout, compared), function
// (Python: judge.py calls the entry point per assert), assert-main (C, C++: the test's main() must
// return, proven through a token only its cleanup can pass on), and run (the program once, its output
// returned: what a tool call sees).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sandbox/box/box.h"
#include "sandbox/box/job.h"
#include "sandbox/box/languages.h"

namespace r1::sandbox::box {

// A run's output as a "run" job returns it: stdout then stderr, at most `cap` bytes. When both do not
// fit, stdout keeps its head and stderr its tail (the traceback's last lines), each cut marked;
// *cut says whether anything was left out.
std::string combined_output(const std::string& out, const std::string& err, size_t cap, bool stdout_overflowed, bool* cut);

// `bytes` random bytes from getrandom(2), as hex: per-run names and tokens the candidate cannot guess.
std::string random_hex(size_t bytes);

class Judge {
 public:
  Judge(Box& box, const Language& lang, const nlohmann::json& job, const JobLimits& limits)
      : box_(box), lang_(lang), job_(job), limits_(limits) {}

  // Judges the job's tests by their "type".
  Judged run();

 private:
  Judged error(const std::string& what);
  // Compiles the work folder's sources; false (with `out` filled as CE for every test) on failure.
  bool compile(const std::vector<std::string>& extra_args, int tests, Judged& out);
  RunSpec program_spec(const std::string& stdin_data) const;
  Judged stdio(const nlohmann::json& tests);
  Judged function(const nlohmann::json& tests);
  Judged assert_main(const nlohmann::json& tests);  // assert_main.cpp
  Judged run_program(const nlohmann::json& tests);

  Box& box_;
  const Language& lang_;
  const nlohmann::json& job_;
  const JobLimits& limits_;
};

}  // namespace r1::sandbox::box

// A job as r1-box reads it and its result as r1-box writes it (the JSON shapes of docs/sandbox.md):
// validation, the limits a job asks for, and the result object.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/box/run_child.h"

namespace r1::sandbox::box {

struct JobLimits {
  RunLimits run;
  RunLimits compile;
  int64_t disk_mb = 64;
};

struct TestOut {
  std::string verdict = "SE", detail;
  double cpu_ms = 0, wall_ms = 0;
};

// A judged job: its tests' verdicts, and a verdict and detail for the whole job when one applies
// (CE, SE); "" lets to_json() take the first failing test's.
struct Judged {
  std::vector<TestOut> tests;
  std::string verdict, detail;
  double cpu_ms = 0, wall_ms = 0;
  int64_t max_rss_kb = 0;
  int total = 0;
  // A "run" job's program output (stdout then stderr, cut to the output limit); has_output: the
  // result carries it (other test types never do).
  bool has_output = false, output_cut = false;
  std::string output;
};

// What is wrong with the job's shape (language, code, tests), or nullptr.
const char* validate(const nlohmann::json& job);
// The job's "limits", with the defaults for what it leaves out.
JobLimits read_limits(const nlohmann::json& job);
// The result object.
nlohmann::json to_json(const Judged& j);
// An SE result saying `why`.
nlohmann::json se(const std::string& why);

}  // namespace r1::sandbox::box

#include "sandbox/box/job.h"

#include <algorithm>
#include <cmath>

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

double num(const json& o, const char* key, double fallback) {
  auto it = o.find(key);
  return it != o.end() && it->is_number() ? it->get<double>() : fallback;
}

}  // namespace

const char* validate(const json& job) {
  if (!job.is_object()) return "a job must be a JSON object";
  if (!job.contains("language") || !job["language"].is_string()) return "the job has no \"language\"";
  if (!job.contains("code") || !job["code"].is_string()) return "the job has no \"code\" string";
  if (!job.contains("tests") || !job["tests"].is_object()) return "the job has no \"tests\" object";
  return nullptr;
}

JobLimits read_limits(const json& job) {
  JobLimits l;
  json lim = job.contains("limits") && job["limits"].is_object() ? job["limits"] : json::object();
  l.run.cpu_seconds = num(lim, "cpu_s", 2);
  l.run.wall_seconds = num(lim, "wall_s", std::max(10.0, 3 * l.run.cpu_seconds));
  l.run.memory_mb = static_cast<int64_t>(num(lim, "memory_mb", 256));
  l.run.output_kb = static_cast<int64_t>(num(lim, "output_kb", 1024));
  l.run.processes = static_cast<int64_t>(num(lim, "processes", 32));
  l.run.open_files = static_cast<int64_t>(num(lim, "open_files", 64));
  l.disk_mb = static_cast<int64_t>(num(lim, "disk_mb", 64));
  l.run.file_size_mb = l.disk_mb;
  l.compile = l.run;
  l.compile.cpu_seconds = num(lim, "compile_cpu_s", 10);
  l.compile.wall_seconds = num(lim, "compile_wall_s", std::max(20.0, 2 * l.compile.cpu_seconds));
  l.compile.memory_mb = static_cast<int64_t>(num(lim, "compile_memory_mb", 2048));
  l.compile.output_kb = 1024;
  l.compile.processes = std::max<int64_t>(l.run.processes, 16);
  return l;
}

json to_json(const Judged& j) {
  json out;
  int passed = 0;
  std::string verdict = j.verdict;
  json tests = json::array();
  for (const TestOut& t : j.tests) {
    if (t.verdict == "AC") ++passed;
    if (verdict.empty() && t.verdict != "AC" && t.verdict != "SK") verdict = t.verdict;
    json x = {{"verdict", t.verdict}, {"cpu_ms", std::round(t.cpu_ms * 10) / 10}, {"wall_ms", std::round(t.wall_ms * 10) / 10}};
    if (!t.detail.empty()) x["detail"] = t.detail;
    tests.push_back(x);
  }
  if (verdict.empty()) verdict = j.total > 0 ? "AC" : "SE";
  out["verdict"] = verdict;
  out["passed"] = passed;
  out["total"] = j.total;
  out["tests"] = tests;
  out["cpu_ms"] = std::round(j.cpu_ms * 10) / 10;
  out["wall_ms"] = std::round(j.wall_ms * 10) / 10;
  out["max_rss_kb"] = j.max_rss_kb;
  std::string detail = j.detail;
  if (detail.empty())
    for (const TestOut& t : j.tests)
      if (t.verdict != "AC" && !t.detail.empty()) {
        detail = t.detail;
        break;
      }
  if (j.total == 0 && detail.empty()) detail = "no tests";
  out["detail"] = detail;
  if (j.has_output) {
    out["output"] = j.output;
    out["output_cut"] = j.output_cut;
  }
  return out;
}

json se(const std::string& why) {
  return json{{"verdict", "SE"}, {"passed", 0}, {"total", 0}, {"tests", json::array()}, {"cpu_ms", 0},
              {"wall_ms", 0},    {"max_rss_kb", 0}, {"detail", why}};
}

}  // namespace r1::sandbox::box

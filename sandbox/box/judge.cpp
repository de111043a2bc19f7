#include "sandbox/box/judge.h"

#include <sys/random.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "sandbox/box/judge_py.h"
#include "sandbox/box/python_zygote.h"
#include "sandbox/box/verdict.h"

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

// What judge.py reported on its channel, one JSON object a line: {"total": N} first, {"i": k,
// "verdict": ..., "detail": ..., "ms": ...} per test, {"done": TOKEN, "total": N} when it finished.
struct Reports {
  int total = -1;     // -1: the tests never started
  bool done = false;  // the judge finished, with the run's token (not the candidate's imitation)
};

Reports read_reports(const RunOutcome& r, const std::string& token, const RunLimits& limits, Judged& out) {
  Reports rep;
  std::istringstream lines(r.channel);
  std::string line;
  while (std::getline(lines, line)) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (j.contains("total") && !j.contains("done")) {
      rep.total = j["total"].get<int>();
      out.tests.assign(static_cast<size_t>(std::max(rep.total, 0)), TestOut{"", "", 0, 0});
    } else if (j.contains("done")) {
      rep.done = j["done"].is_string() && j["done"].get<std::string>() == token && j.value("total", -2) == rep.total;
    } else if (j.contains("i") && rep.total >= 0) {
      int i = j["i"].get<int>();
      if (i < 0 || i >= rep.total) continue;
      TestOut& t = out.tests[static_cast<size_t>(i)];
      t.verdict = j.value("verdict", "RE");
      t.detail = j.value("detail", "");
      t.wall_ms = j.value("ms", 0.0);
      if (t.verdict == "KILLED") {  // SIGKILL: which limit, if any, says the candidate's CPU time
        double cpu = std::atof(t.detail.c_str());
        bool cpu_limit = cpu >= limits.cpu_seconds * 1000.0 * 0.95;
        t.verdict = r.oom_killed ? "MLE" : cpu_limit ? "TLE" : "RE";
        t.detail = r.oom_killed ? "memory limit" : cpu_limit ? "CPU limit" : "the candidate was killed by signal 9";
      }
    }
  }
  return rep;
}

// The tests judge.py did not report: after a run killed mid-way (time, memory, output) the first
// gets the reason and the rest did not run; after an output overflow every test is OLE.
void settle_unreported(const RunOutcome& r, const std::string& ab, std::string why, bool done, Judged& out) {
  if (!done) {
    std::string verdict = ab.empty() || ab == "SE" ? "RE" : ab;
    if (why.empty()) why = "the judge did not finish";
    bool first = true;
    for (TestOut& t : out.tests) {
      if (!t.verdict.empty()) continue;
      t.verdict = first ? verdict : "RE";
      t.detail = first ? why : "not run";
      first = false;
    }
  } else if (r.output_exceeded) {
    for (TestOut& t : out.tests) t = {"OLE", why, 0, 0};
  }
  for (TestOut& t : out.tests)
    if (t.verdict.empty()) t = {"RE", "not run", 0, 0};
}

// UTF-8-safe ends: never split a character (a continuation byte is 10xxxxxx).
std::string head_of(const std::string& s, size_t n) {
  if (n >= s.size()) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}
std::string tail_of(const std::string& s, size_t n) {
  if (n >= s.size()) return s;
  size_t at = s.size() - n;
  while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) ++at;
  return s.substr(at);
}

}  // namespace

std::string combined_output(const std::string& out, const std::string& err, size_t cap, bool stdout_overflowed, bool* cut) {
  *cut = stdout_overflowed;
  if (!stdout_overflowed && out.size() + err.size() <= cap) return out + err;
  *cut = true;
  // stderr (a traceback) keeps at least half the room, more when stdout leaves it.
  const size_t err_keep = std::min(err.size(), std::max(cap / 2, cap > out.size() ? cap - out.size() : 0));
  const size_t out_keep = std::min(out.size(), cap - err_keep);
  std::string text = head_of(out, out_keep);
  if (out_keep < out.size() || stdout_overflowed) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += "[output cut: more than " + std::to_string(out_keep) + " bytes]\n";
  }
  if (err_keep < err.size()) text += "[stderr cut: its last " + std::to_string(err_keep) + " bytes follow]\n" + tail_of(err, err_keep);
  else text += err;
  return text;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

Judged Judge::run() {
  const json& tests = job_["tests"];
  std::string type = tests.value("type", "stdio");
  if (type == "stdio") return stdio(tests);
  if (type == "function") return function(tests);
  if (type == "assert-main") return assert_main(tests);
  if (type == "run") return run_program(tests);
  return error("unknown test type '" + type + "'");
}

Judged Judge::error(const std::string& what) {
  Judged j;
  j.verdict = "SE";
  j.detail = what;
  return j;
}

bool Judge::compile(const std::vector<std::string>& extra_args, int tests, Judged& out) {
  if (lang_.compile.empty()) return true;
  RunSpec spec;
  spec.argv = lang_.compile;
  for (const auto& s : extra_args) spec.argv.push_back(s);
  for (const auto& s : lang_.link_flags) spec.argv.push_back(s);
  spec.limits = limits_.compile;
  RunOutcome r = box_.run(spec);
  out.cpu_ms += r.cpu_ms;
  out.wall_ms += r.wall_ms;
  out.max_rss_kb = std::max(out.max_rss_kb, r.max_rss_kb);
  std::string why;
  std::string ab = abnormal(r, spec.limits, &why);
  if (ab.empty()) return true;
  out.verdict = "CE";
  out.detail = ab == "RE" ? "compilation failed:\n" + tail(r.err, 2000)
                          : "compilation stopped (" + ab + ": " + why + ")";
  out.total = tests;
  for (int i = 0; i < tests; ++i) out.tests.push_back({"CE", "", 0, 0});
  return false;
}

// The compiled program (or the script, in the zygote's interpreter) run once on `stdin_data`.
RunSpec Judge::program_spec(const std::string& stdin_data) const {
  RunSpec spec;
  spec.argv = lang_.run;
  if (lang_.in_process) {
    spec.in_process_entry = static_cast<int>(PythonEntry::kScript);
    spec.in_process_argv = {box_.layout().work + "/" + lang_.source_file};
  }
  spec.stdin_data = stdin_data;
  spec.limits = limits_.run;
  return spec;
}

Judged Judge::stdio(const json& tests) {
  Judged out;
  if (!tests.contains("cases") || !tests["cases"].is_array()) return error("tests.cases must be an array");
  const json& cases = tests["cases"];
  double tolerance = tests.value("float_tolerance", 0.0);
  bool stop = tests.value("stop_on_failure", false);
  box_.write_work_file(lang_.source_file, job_["code"].get<std::string>());
  if (!compile({}, static_cast<int>(cases.size()), out)) return out;
  out.total = static_cast<int>(cases.size());
  bool failed = false;
  for (const json& c : cases) {
    TestOut t;
    if (failed && stop) {
      t.verdict = "SK";
      t.detail = "not run";
      out.tests.push_back(t);
      continue;
    }
    RunSpec spec = program_spec(c.value("input", ""));
    RunOutcome r = box_.run(spec);
    t.cpu_ms = r.cpu_ms;
    t.wall_ms = r.wall_ms;
    out.cpu_ms += r.cpu_ms;
    out.wall_ms += r.wall_ms;
    out.max_rss_kb = std::max(out.max_rss_kb, r.max_rss_kb);
    std::string ab = abnormal(r, spec.limits, &t.detail);
    if (!ab.empty()) {
      t.verdict = ab;
    } else {
      t.detail = compare_output(r.out, c.value("output", ""), tolerance);
      t.verdict = t.detail.empty() ? "AC" : "WA";
    }
    failed = failed || t.verdict != "AC";
    out.tests.push_back(t);
  }
  return out;
}

// The program once, with the given stdin; what it printed comes back. AC when it exits 0.
Judged Judge::run_program(const json& tests) {
  Judged out;
  out.has_output = true;
  if (tests.contains("stdin") && !tests["stdin"].is_string()) return error("tests.stdin must be a string");
  box_.write_work_file(lang_.source_file, job_["code"].get<std::string>());
  if (!compile({}, 1, out)) {
    out.output = out.detail;
    return out;
  }
  out.total = 1;
  RunSpec spec = program_spec(tests.value("stdin", ""));
  RunOutcome r = box_.run(spec);
  TestOut t;
  t.cpu_ms = out.cpu_ms = r.cpu_ms;
  t.wall_ms = out.wall_ms = r.wall_ms;
  out.max_rss_kb = r.max_rss_kb;
  std::string ab = abnormal(r, spec.limits, &t.detail);
  t.verdict = ab.empty() ? "AC" : ab;
  out.output = combined_output(r.out, r.err, static_cast<size_t>(spec.limits.output_kb) * 1024, r.output_exceeded,
                               &out.output_cut);
  out.tests.push_back(t);
  return out;
}

Judged Judge::function(const json& tests) {
  Judged out;
  if (lang_.name != "python") return error("function tests are for Python; use assert-main for " + lang_.name);
  if (!tests.contains("test") || !tests["test"].is_string()) return error("tests.test must be a string");
  if (!tests.contains("entry_point") || !tests["entry_point"].is_string())
    return error("tests.entry_point must be a string");
  box_.write_work_file(lang_.source_file, job_["code"].get<std::string>());
  box_.write_harness_file("judge.py", kJudgePy);
  const std::string token = random_hex(16);
  RunSpec spec;
  spec.argv = {lang_.run.at(0), "-I", "-S", "-B", box_.layout().harness + "/judge.py",
               box_.layout().work + "/" + lang_.source_file, std::to_string(box_.candidate_uid())};
  if (lang_.in_process) {
    spec.in_process_entry = static_cast<int>(PythonEntry::kJudge);
    spec.in_process_argv = {box_.layout().work + "/" + lang_.source_file, std::to_string(box_.candidate_uid())};
  }
  spec.limits = limits_.run;
  spec.limits.memory_mb += 64;  // the judge's own interpreter
  spec.drop_privileges = false;  // the judge drops to the candidate's uid in the child it forks
  const std::string entry = tests["entry_point"].get<std::string>();
  if (entry.empty() || entry.find_first_of("\n\r") != std::string::npos)
    return error("tests.entry_point must be a name on one line");
  spec.control = token + "\n" + entry + "\n" + tests["test"].get<std::string>();
  spec.result_channel = true;
  RunOutcome r = box_.run(spec);
  out.cpu_ms = r.cpu_ms;
  out.wall_ms = r.wall_ms;
  out.max_rss_kb = r.max_rss_kb;
  const Reports rep = read_reports(r, token, spec.limits, out);
  std::string why;
  std::string ab = abnormal(r, spec.limits, &why);
  if (rep.total < 0) {
    // The judge never started the tests: the box ran out of something, or the test code is broken.
    if (!ab.empty() && ab != "RE") {
      out.total = 1;
      out.tests.push_back({ab, why, r.cpu_ms, r.wall_ms});
      return out;
    }
    return error("the test code did not run: " + tail(r.err, 1500));
  }
  out.total = rep.total;
  settle_unreported(r, ab, why, rep.done, out);
  return out;
}

}  // namespace r1::sandbox::box

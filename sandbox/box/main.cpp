// r1-box: judges one job in a fresh sandbox. Reads the job (JSON) on stdin, writes the result (JSON)
// on stdout. `r1-box --probe` prints which protections this machine allows.
//
// The job's shape is the one `r1 sandbox run` takes (docs/sandbox.md), plus "isolation":
// "namespaces" (default) or "weak" (no namespaces; only when the user opted into it).
// The sandbox pool (sandbox/sandbox.h) keeps one `r1-box --serve` per slot, which execs its zygote
// (`r1-box --zygote`) and hands it each job's pipes. r1-box is single-threaded, so its fork()s are safe,
// and everything a job starts dies with the job's PID namespace.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/random.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>

#include "sandbox/box/isolation.h"
#include "sandbox/box/judge_py.h"
#include "sandbox/box/languages.h"
#include "sandbox/box/python_zygote.h"

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

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

struct JobLimits {
  RunLimits run;
  RunLimits compile;
  int64_t disk_mb = 64;
};

struct TestOut {
  std::string verdict = "SE", detail;
  double cpu_ms = 0, wall_ms = 0;
};

struct Judged {
  std::vector<TestOut> tests;
  std::string verdict, detail;
  double cpu_ms = 0, wall_ms = 0;
  int64_t max_rss_kb = 0;
  int total = 0;
};

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

std::string tail(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return "..." + s.substr(s.size() - n);
}

// What a run's ending says, when it did not simply exit 0: TLE, MLE, OLE, RE or "" (exited 0).
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

// ---- output comparison (stdin/stdout tests) ----------------------------------------------------------

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

// "" when the outputs match; otherwise where they differ (never the expected text).
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

// ---- the judge ------------------------------------------------------------------------------------

class Judge {
 public:
  Judge(Box& box, const Language& lang, const json& job, const JobLimits& limits)
      : box_(box), lang_(lang), job_(job), limits_(limits) {}

  Judged run() {
    const json& tests = job_["tests"];
    std::string type = tests.value("type", "stdio");
    if (type == "stdio") return stdio(tests);
    if (type == "function") return function(tests);
    if (type == "assert-main") return assert_main(tests);
    return error("unknown test type '" + type + "'");
  }

 private:
  Judged error(const std::string& what) {
    Judged j;
    j.verdict = "SE";
    j.detail = what;
    return j;
  }

  // Compiles the work folder's sources; false (with `out` filled as CE for every test) on failure.
  bool compile(const std::vector<std::string>& extra_args, int tests, Judged& out) {
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

  Judged stdio(const json& tests) {
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
      RunSpec spec;
      spec.argv = lang_.run;
      if (lang_.in_process) {
        spec.in_process_entry = static_cast<int>(PythonEntry::kScript);
        spec.in_process_argv = {box_.layout().work + "/" + lang_.source_file};
      }
      spec.stdin_data = c.value("input", "");
      spec.limits = limits_.run;
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

  Judged function(const json& tests) {
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
    int total = -1;
    bool done = false;
    std::istringstream lines(r.channel);
    std::string line;
    while (std::getline(lines, line)) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      if (j.contains("total") && !j.contains("done")) {
        total = j["total"].get<int>();
        out.tests.assign(static_cast<size_t>(std::max(total, 0)), TestOut{"", "", 0, 0});
      } else if (j.contains("done")) {
        done = j["done"].is_string() && j["done"].get<std::string>() == token && j.value("total", -2) == total;
      } else if (j.contains("i") && total >= 0) {
        int i = j["i"].get<int>();
        if (i < 0 || i >= total) continue;
        TestOut& t = out.tests[static_cast<size_t>(i)];
        t.verdict = j.value("verdict", "RE");
        t.detail = j.value("detail", "");
        t.wall_ms = j.value("ms", 0.0);
        if (t.verdict == "KILLED") {  // SIGKILL: which limit, if any, says the candidate's CPU time
          double cpu = std::atof(t.detail.c_str());
          bool cpu_limit = cpu >= spec.limits.cpu_seconds * 1000.0 * 0.95;
          t.verdict = r.oom_killed ? "MLE" : cpu_limit ? "TLE" : "RE";
          t.detail = r.oom_killed ? "memory limit" : cpu_limit ? "CPU limit" : "the candidate was killed by signal 9";
        }
      }
    }
    std::string why;
    std::string ab = abnormal(r, spec.limits, &why);
    if (total < 0) {
      // The judge never started the tests: the box ran out of something, or the test code is broken.
      if (!ab.empty() && ab != "RE") {
        out.total = 1;
        out.tests.push_back({ab, why, r.cpu_ms, r.wall_ms});
        return out;
      }
      return error("the test code did not run: " + tail(r.err, 1500));
    }
    out.total = total;
    if (!done) {
      // Killed mid-way (time, memory, output): the first unreported test gets the reason, the rest did not run.
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
    return out;
  }

  Judged assert_main(const json& tests) {
    Judged out;
    if (lang_.compile.empty()) return error("assert-main tests are for compiled languages (C, C++)");
    if (!tests.contains("test") || !tests["test"].is_string()) return error("tests.test must be a string");
    std::string test = tests["test"].get<std::string>();
    static const std::regex assert_include(R"(#\s*include\s*[<"](cassert|assert\.h)[>"])");
    test = std::regex_replace(test, assert_include, "/* assert.h: the sandbox's */");
    // The proof of success: a guard whose cleanup runs only when the test's main() returns normally
    // (exit(), quick_exit(), _exit() and abort() skip it). Its name and descriptors are drawn per run;
    // it reads the token from one socket and writes it to the other.
    //
    // On x86-64 both go through a gate: four moves and a syscall instruction in a section of their own,
    // linked at an address drawn per run, and the run's seccomp filter refuses any read, write, dup,
    // splice, ... of those two sockets made from anywhere else (RunSpec::gate_ip). A program that
    // scans its descriptors for the token gets EPERM.
    static const std::regex main_re(R"(\bmain\s*\([^)]*\)\s*\{)");
    std::smatch m;
    if (!std::regex_search(test, m, main_re)) return error("the test has no main() { ... }");
    const std::string fin = "r1_finish_" + random_hex(8);
    const std::string token = random_hex(16);
    unsigned char pick[4];
    while (::getrandom(pick, sizeof pick, 0) != sizeof pick) {
    }
    const int span = static_cast<int>(limits_.run.open_files) - 12;
    const int control_fd = 10 + pick[0] % std::max(span, 2);
    int channel_fd = 10 + pick[1] % std::max(span, 2);
    if (channel_fd == control_fd) channel_fd = control_fd + 1;
    // assert() is the sandbox's own: a macro defined after the candidate's code, calling a function
    // defined before it under a per-run name, so no macro of the candidate's (assert, NDEBUG,
    // __assert_fail, ...) reaches either. The test's own <assert.h> includes are dropped for it.
    const std::string fail = "r1_assert_failed_" + random_hex(8);
    const bool gated = gate_supported();
    const uint64_t gate_at = 0x10000000ull + (static_cast<uint64_t>(pick[2] << 8 | pick[3]) % 0x6000) * 0x10000;
    const std::string gate = "r1_gate_" + random_hex(8);
    std::string prelude = "#include <unistd.h>\n#include <stdlib.h>\n#include <string.h>\n";
    std::string io_read, io_write;
    if (gated) {
      // gate(nr, fd, buf, n): the system call nr. The instruction after `syscall` is at gate + 14.
      prelude += "__asm__(\".pushsection .r1gate,\\\"ax\\\",@progbits\\n.type " + gate + ",@function\\n" + gate +
                 ":\\nmov %rdi,%rax\\nmov %rsi,%rdi\\nmov %rdx,%rsi\\nmov %rcx,%rdx\\nsyscall\\nret\\n.popsection\\n\");\n"
                 "#ifdef __cplusplus\nextern \"C\"\n#endif\nlong " + gate + "(long, long, long, long);\n";
      io_read = gate + "(0, " + std::to_string(control_fd) + ", (long)t, (long)sizeof t)";
      io_write = gate + "(1, " + std::to_string(channel_fd) + ", (long)t, n)";
    } else {
      io_read = "read(" + std::to_string(control_fd) + ", t, sizeof t)";
      io_write = "write(" + std::to_string(channel_fd) + ", t, (unsigned long)n)";
    }
    prelude += "static void " + fin + "(int* r1_unused) { (void)r1_unused; char t[64]; long n = " + io_read +
               "; if (n > 0) { long w = " + io_write + "; (void)w; } }\n"
               "static void " + fail + "(const char* e, int line) { const char* p = \"Assertion `\"; "
               "long w = write(2, p, strlen(p)); w = write(2, e, strlen(e)); p = \"' failed (test line \"; "
               "w = write(2, p, strlen(p)); char b[16]; int k = 15; b[k] = 0; do { b[--k] = (char)('0' + line % 10); "
               "line /= 10; } while (line > 0 && k > 0); w = write(2, b + k, strlen(b + k)); w = write(2, \")\\n\", 2); "
               "(void)w; abort(); }\n#line 1 \"solution\"\n";
    std::string own_assert = "#undef assert\n#define assert(e) ((e) ? (void)0 : " + fail + "(#e, __LINE__))\n";
    std::string reset = "\n" + own_assert + "#line 1 \"test\"\n";

    size_t at = static_cast<size_t>(m.position(0) + m.length(0));
    test.insert(at, " __attribute__((cleanup(" + fin + "))) int r1_guard = 0; (void)r1_guard;");
    box_.write_work_file(lang_.source_file, prelude + job_["code"].get<std::string>() + reset + test);
    std::vector<std::string> link;
    if (gated) {
      char start[64];
      std::snprintf(start, sizeof start, "-Wl,--section-start=.r1gate=0x%llx", static_cast<unsigned long long>(gate_at));
      link = {"-fno-pie", "-no-pie", start};
    }
    if (!compile(link, 1, out)) return out;
    RunSpec spec;
    spec.argv = lang_.run;
    spec.limits = limits_.run;
    spec.control = token;
    spec.result_channel = true;
    spec.control_fd = control_fd;
    spec.channel_fd = channel_fd;
    if (gated) spec.gate_ip = gate_at + 14;
    RunOutcome r = box_.run(spec);
    out.cpu_ms += r.cpu_ms;
    out.wall_ms += r.wall_ms;
    out.max_rss_kb = std::max(out.max_rss_kb, r.max_rss_kb);
    out.total = 1;
    TestOut t{"", "", r.cpu_ms, r.wall_ms};
    std::string ab = abnormal(r, spec.limits, &t.detail);
    if (ab == "RE" && r.signal == SIGABRT && contains(r.err, "Assertion")) {
      t.verdict = "WA";
      t.detail = "assertion failed: " + tail(r.err, 300);
    } else if (!ab.empty()) {
      t.verdict = ab;
    } else if (r.channel == token) {
      t.verdict = "AC";
      t.detail.clear();
    } else {
      t.verdict = "WA";
      t.detail = "the program ended before its tests finished";
    }
    out.tests.push_back(t);
    return out;
  }

  Box& box_;
  const Language& lang_;
  const json& job_;
  const JobLimits& limits_;
};

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
  return out;
}

json se(const std::string& why) {
  return json{{"verdict", "SE"}, {"passed", 0}, {"total", 0}, {"tests", json::array()}, {"cpu_ms", 0},
              {"wall_ms", 0},    {"max_rss_kb", 0}, {"detail", why}};
}

double num(const json& o, const char* key, double fallback) {
  auto it = o.find(key);
  return it != o.end() && it->is_number() ? it->get<double>() : fallback;
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

const char* validate(const json& job) {
  if (!job.is_object()) return "a job must be a JSON object";
  if (!job.contains("language") || !job["language"].is_string()) return "the job has no \"language\"";
  if (!job.contains("code") || !job["code"].is_string()) return "the job has no \"code\" string";
  if (!job.contains("tests") || !job["tests"].is_object()) return "the job has no \"tests\" object";
  return nullptr;
}

bool write_fully(int fd, const std::string& data) {
  size_t at = 0;
  while (at < data.size()) {
    ssize_t n = ::write(fd, data.data() + at, data.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += static_cast<size_t>(n);
  }
  return true;
}

std::string read_to_end(int fd, size_t cap) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < cap) out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// The box's pid 1: reads the job from the fd in `arg`, judges it, writes the result.
int inside(const InsideContext& context, void* arg) {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);  // the candidate cannot read this process's memory (the tests)
  const int job_fd = *static_cast<int*>(arg);
  json result;
  try {
    json job = json::parse(read_to_end(job_fd, 1u << 30), nullptr, false);
    ::close(job_fd);
    const Language* lang = nullptr;
    if (job.is_discarded()) {
      result = se("the job is not valid JSON");
    } else if (const char* bad = validate(job)) {
      result = se(bad);
    } else if (!(lang = find_language(job["language"].get<std::string>()))) {
      result = se("unknown language '" + job["language"].get<std::string>() + "'");
    } else {
      JobLimits limits = read_limits(job);
      Box::Options o;
      o.isolate = job.value("isolation", "namespaces") != "weak";
      o.binds = lang->binds;
      o.disk_mb = limits.disk_mb;
      o.oom_events_fd = context.oom_fd;
      o.separate_uids = context.separate_uids;
      o.spawn_fd = context.spawn_fd;
      Box box(o);
      Judge judge(box, *lang, job, limits);
      result = to_json(judge.run());
    }
  } catch (const std::exception& e) {
    result = se(std::string("sandbox: ") + e.what());
  }
  write_fully(context.result_fd, result.dump(-1, ' ', false, json::error_handler_t::replace));
  return 0;
}

// ---- the zygote: one per server, started by a fresh exec before any job is read --------------------

struct ZygoteRequest {
  uint8_t isolate = 1;
  int64_t cgroup_memory_mb = 0, cgroup_pids = 0;
  double watchdog_seconds = 120;
};
struct ZygoteReply {
  uint8_t watchdog_fired = 0;
  int64_t peak_memory_kb = 0;
  char error[400] = {};
};

void run_python_entry(int entry, const std::vector<std::string>& argv) {
  python_run(static_cast<PythonEntry>(entry), argv);
}

// `r1-box --zygote`, fd 3 a socket to the server: starts the interpreter, then launches one box per
// request. The job and its result pass through pipes it hands on unread.
int zygote_main() {
  Cgroup slot;
  slot.create(256, 64);
  if (slot.active()) slot.join();
  std::vector<std::string> preload;
  for (const char* name : {"python"}) {
    const Language* l = find_language(name);
    if (l && l->in_process) preload.insert(preload.end(), l->preload.begin(), l->preload.end());
  }
  std::string error;
  if (python_start(preload, kJudgePy, &error)) {
    set_in_process_runner(run_python_entry, python_address_space_mb());
  } else {
    std::fprintf(stderr, "r1-box: %s; each Python run starts python3 instead\n", error.c_str());
  }
  for (;;) {
    ZygoteRequest req;
    int fds[2];
    int nfds = 0;
    ssize_t n = recv_message(3, &req, sizeof req, fds, 2, &nfds);
    if (n <= 0) return 0;  // the server is gone
    ZygoteReply reply;
    if (n != static_cast<ssize_t>(sizeof req) || nfds != 2) {
      std::snprintf(reply.error, sizeof reply.error, "a malformed request to the zygote");
    } else {
      Launch options;
      options.isolate = req.isolate != 0;
      options.slot = slot.active() ? &slot : nullptr;
      options.cgroup_memory_mb = req.cgroup_memory_mb;
      options.cgroup_pids = req.cgroup_pids;
      options.watchdog_seconds = req.watchdog_seconds;
      options.result_fd = fds[1];
      int job_fd = fds[0];
      try {
        Launched done = launch(options, inside, &job_fd);
        reply.watchdog_fired = done.watchdog_fired;
        reply.peak_memory_kb = done.peak_memory_kb;
      } catch (const std::exception& e) {
        std::snprintf(reply.error, sizeof reply.error, "%s", e.what());
      }
    }
    for (int i = 0; i < nfds; ++i) ::close(fds[i]);
    if (!send_message(3, &reply, sizeof reply, nullptr, 0)) return 0;
  }
}

// The server's side of its zygote.
class Zygote {
 public:
  ~Zygote() { stop(); }

  json judge(const json& job) {
    if (const char* bad = validate(job)) return se(bad);
    const Language* lang = find_language(job["language"].get<std::string>());
    if (!lang) return se("unknown language '" + job["language"].get<std::string>() + "' (known: " + language_names() + ")");
    const JobLimits l = read_limits(job);
    ZygoteRequest req;
    req.isolate = job.value("isolation", "namespaces") != "weak";
    req.cgroup_memory_mb = std::max(l.compile.memory_mb, l.run.memory_mb * 2 + 128) + 64 +
                           (lang->in_process ? 128 : 0);  // the interpreter the runs are forked from
    req.cgroup_pids = l.compile.processes + l.run.processes + 16;
    size_t cases = job["tests"].contains("cases") && job["tests"]["cases"].is_array() ? job["tests"]["cases"].size() : 1;
    req.watchdog_seconds =
        l.compile.wall_seconds + static_cast<double>(std::max<size_t>(cases, 1)) * (l.run.wall_seconds + 1) + 10;
    if (sock_ < 0 && !start()) return se("the sandbox could not start its zygote");
    int job_pipe[2], result_pipe[2];
    if (::pipe2(job_pipe, O_CLOEXEC) != 0) return se("sandbox: pipe failed");
    if (::pipe2(result_pipe, O_CLOEXEC) != 0) {
      ::close(job_pipe[0]);
      ::close(job_pipe[1]);
      return se("sandbox: pipe failed");
    }
    int give[2] = {job_pipe[0], result_pipe[1]};
    bool sent = send_message(sock_, &req, sizeof req, give, 2);
    if (!sent) {  // a zygote that died between jobs (killed from outside): start another, once
      stop();
      sent = start() && send_message(sock_, &req, sizeof req, give, 2);
    }
    ::close(job_pipe[0]);
    ::close(result_pipe[1]);
    if (sent) write_fully(job_pipe[1], job.dump(-1, ' ', false, json::error_handler_t::replace));
    ::close(job_pipe[1]);
    std::string text = sent ? read_to_end(result_pipe[0], 64u << 20) : "";
    ::close(result_pipe[0]);
    ZygoteReply reply;
    int none = 0;
    if (!sent || recv_message(sock_, &reply, sizeof reply, nullptr, 0, &none) != static_cast<ssize_t>(sizeof reply)) {
      stop();  // started afresh for the next job
      return se("the sandbox's zygote died");
    }
    reply.error[sizeof reply.error - 1] = 0;
    if (reply.error[0]) return se(std::string("sandbox: ") + reply.error);
    if (reply.watchdog_fired) return se("the job outran the sandbox's watchdog");
    json result = json::parse(text, nullptr, false);
    if (!result.is_object()) return se("the sandbox's judge died without a result");
    if (reply.peak_memory_kb > 0) result["peak_memory_kb"] = reply.peak_memory_kb;
    return result;
  }

 private:
  bool start() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return false;
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return false;
    char self[4096];
    ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return false;
    self[len] = 0;
    // The runs' environment: nothing of the host's (the zygote's environment is the one they see).
    std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/work", "TMPDIR=/work",
                                    "LANG=C.UTF-8", "LC_ALL=C.UTF-8"};
    if (const char* p = std::getenv("R1_BOX_PROFILE")) env.push_back(std::string("R1_BOX_PROFILE=") + p);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    char arg0[] = "r1-box", arg1[] = "--zygote";
    char* argv[] = {arg0, arg1, nullptr};
    pid_t pid = ::fork();
    if (pid == 0) {
      // stdin and stdout: pipes, as a run's are, so the interpreter sets its streams up the same way.
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(sv[1], 3);
      ::close(in[1]);  // stdin reads end of file
      // No parent-death signal: when the server goes, the zygote reads end of file on its socket and
      // exits by itself, removing the slot's cgroup on the way.
      ::execve(self, argv, envp.data());
      _exit(127);
    }
    ::close(sv[1]);
    ::close(in[0]);
    ::close(in[1]);
    ::close(out[1]);
    if (pid < 0) {
      ::close(sv[0]);
      ::close(out[0]);
      return false;
    }
    sock_ = sv[0];
    out_ = out[0];
    pid_ = pid;
    return true;
  }

  // Closing the socket ends the zygote, which removes its cgroup; one that does not end is killed.
  void stop() {
    if (sock_ >= 0) ::close(sock_);
    if (out_ >= 0) ::close(out_);
    sock_ = out_ = -1;
    if (pid_ > 0) {
      for (int i = 0; i < 500; ++i) {
        pid_t r = ::waitpid(pid_, nullptr, WNOHANG);
        if (r == pid_ || (r < 0 && errno != EINTR)) {
          remove_cgroups_of(pid_);  // already gone if it ended by itself; left behind if it was killed
          pid_ = -1;
          return;
        }
        ::usleep(2000);
      }
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
      remove_cgroups_of(pid_);
    }
    pid_ = -1;
  }

  int sock_ = -1, out_ = -1;
  pid_t pid_ = -1;
};

json judge_job(Zygote& zygote, const json& job) {
  try {
    return zygote.judge(job);
  } catch (const std::exception& e) {
    return se(std::string("sandbox: ") + e.what());
  }
}

}  // namespace
}  // namespace r1::sandbox::box

int main(int argc, char** argv) {
  using nlohmann::json;
  namespace box = r1::sandbox::box;
  std::signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && std::string(argv[1]) == "--zygote") {
    ::close_range(4, ~0U, 0);
    return box::zygote_main();
  }
  // Whatever started this program may have left descriptors open (the pool's own pipes are
  // close-on-exec, core/process.h); a box that inherited another job's pipe ends would keep that job
  // from ever seeing end-of-file.
  ::close_range(3, ~0U, 0);
  if (argc > 1 && std::string(argv[1]) == "--probe") {
    auto p = box::probe();
    json j = {{"user_ns", p.user_ns},           {"pid_ns", p.pid_ns},
              {"net_ns", p.net_ns},             {"mount_ns", p.mount_ns},
              {"ipc_ns", p.ipc_ns},             {"uts_ns", p.uts_ns},
              {"seccomp", p.seccomp},           {"cgroup_memory", p.cgroup_memory},
              {"cgroup_pids", p.cgroup_pids},   {"cgroup_version", p.cgroup_version},
              {"separate_uids", p.separate_uids}, {"missing", p.missing}};
    std::cout << j.dump() << "\n";
    return 0;
  }
  if (argc > 1 && std::string(argv[1]) == "--serve") {
    // One job per line on stdin, one result per line on stdout, for as long as stdin is open. The
    // sandbox pool keeps one server per slot; its zygote forks every job's box inside the slot's cgroup.
    box::Zygote zygote;
    std::string line;
    while (std::getline(std::cin, line)) {
      json job = json::parse(line, nullptr, false);
      json result = job.is_discarded() ? box::se("the job is not valid JSON") : box::judge_job(zygote, job);
      std::cout << result.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
    }
    return 0;
  }
  if (argc > 1) {
    std::fprintf(stderr,
                 "usage: r1-box [--probe | --serve]\n  Judges one sandbox job: reads it as JSON on stdin, writes the result as "
                 "JSON on stdout.\n  --probe  print which protections this machine allows\n"
                 "  --serve  judge one job per line of stdin, one result per line of stdout\n");
    return std::string(argv[1]) == "--help" ? 0 : 2;
  }
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  json job = json::parse(input, nullptr, false);
  box::Zygote zygote;
  json result = job.is_discarded() ? box::se("the job is not valid JSON") : box::judge_job(zygote, job);
  std::cout << result.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  return 0;
}

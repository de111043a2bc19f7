// The assert-main test mode (C, C++): the candidate's code and the test's main() compiled together,
// with a proof that main() returned normally.
//
// The proof of success: a guard whose cleanup runs only when the test's main() returns normally
// (exit(), quick_exit(), _exit() and abort() skip it). Its name and descriptors are drawn per run; it
// reads the token from one socket and writes it to the other.
//
// On x86-64 both go through a gate: four moves and a syscall instruction in a section of their own,
// linked at an address drawn per run, and the run's seccomp filter refuses any read, write, dup,
// splice, ... of those two sockets made from anywhere else (RunSpec::gate_ip, gate_filter.h). A
// program that scans its descriptors for the token gets EPERM.
#include <sys/random.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <regex>

#include "sandbox/box/gate_filter.h"
#include "sandbox/box/judge.h"
#include "sandbox/box/verdict.h"

namespace r1::sandbox::box {
namespace {

using nlohmann::json;

// Where this run's proof travels: the control and channel descriptors, and the gate's address.
struct Placement {
  int control_fd = 0, channel_fd = 0;
  bool gated = false;
  uint64_t gate_at = 0;  // the gate function's address; its syscall returns to gate_at + 14
};

Placement draw_placement(int64_t open_files) {
  unsigned char pick[4];
  while (::getrandom(pick, sizeof pick, 0) != sizeof pick) {
  }
  Placement p;
  const int span = static_cast<int>(open_files) - 12;
  p.control_fd = 10 + pick[0] % std::max(span, 2);
  p.channel_fd = 10 + pick[1] % std::max(span, 2);
  if (p.channel_fd == p.control_fd) p.channel_fd = p.control_fd + 1;
  p.gated = gate_supported();
  p.gate_at = 0x10000000ull + (static_cast<uint64_t>(pick[2] << 8 | pick[3]) % 0x6000) * 0x10000;
  return p;
}

// What goes before the candidate's code: the gate (when gated), the guard's cleanup `fin` that passes
// the token on, and the assertion handler `fail`.
std::string prelude(const Placement& p, const std::string& fin, const std::string& fail, const std::string& gate) {
  std::string prelude = "#include <unistd.h>\n#include <stdlib.h>\n#include <string.h>\n";
  std::string io_read, io_write;
  if (p.gated) {
    // gate(nr, fd, buf, n): the system call nr. The instruction after `syscall` is at gate + 14.
    prelude += "__asm__(\".pushsection .r1gate,\\\"ax\\\",@progbits\\n.type " + gate + ",@function\\n" + gate +
               ":\\nmov %rdi,%rax\\nmov %rsi,%rdi\\nmov %rdx,%rsi\\nmov %rcx,%rdx\\nsyscall\\nret\\n.popsection\\n\");\n"
               "#ifdef __cplusplus\nextern \"C\"\n#endif\nlong " + gate + "(long, long, long, long);\n";
    io_read = gate + "(0, " + std::to_string(p.control_fd) + ", (long)t, (long)sizeof t)";
    io_write = gate + "(1, " + std::to_string(p.channel_fd) + ", (long)t, n)";
  } else {
    io_read = "read(" + std::to_string(p.control_fd) + ", t, sizeof t)";
    io_write = "write(" + std::to_string(p.channel_fd) + ", t, (unsigned long)n)";
  }
  prelude += "static void " + fin + "(int* r1_unused) { (void)r1_unused; char t[64]; long n = " + io_read +
             "; if (n > 0) { long w = " + io_write + "; (void)w; } }\n"
             "static void " + fail + "(const char* e, int line) { const char* p = \"Assertion `\"; "
             "long w = write(2, p, strlen(p)); w = write(2, e, strlen(e)); p = \"' failed (test line \"; "
             "w = write(2, p, strlen(p)); char b[16]; int k = 15; b[k] = 0; do { b[--k] = (char)('0' + line % 10); "
             "line /= 10; } while (line > 0 && k > 0); w = write(2, b + k, strlen(b + k)); w = write(2, \")\\n\", 2); "
             "(void)w; abort(); }\n#line 1 \"solution\"\n";
  return prelude;
}

// The run's verdict: a failed assertion is WA, a limit its own, and AC only with the token passed on.
TestOut verdict_of(const RunOutcome& r, const RunLimits& limits, const std::string& token) {
  TestOut t{"", "", r.cpu_ms, r.wall_ms};
  std::string ab = abnormal(r, limits, &t.detail);
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
  return t;
}

}  // namespace

Judged Judge::assert_main(const json& tests) {
  Judged out;
  if (lang_.compile.empty()) return error("assert-main tests are for compiled languages (C, C++)");
  if (!tests.contains("test") || !tests["test"].is_string()) return error("tests.test must be a string");
  std::string test = tests["test"].get<std::string>();
  static const std::regex assert_include(R"(#\s*include\s*[<"](cassert|assert\.h)[>"])");
  test = std::regex_replace(test, assert_include, "/* assert.h: the sandbox's */");
  static const std::regex main_re(R"(\bmain\s*\([^)]*\)\s*\{)");
  std::smatch m;
  if (!std::regex_search(test, m, main_re)) return error("the test has no main() { ... }");
  const std::string fin = "r1_finish_" + random_hex(8);
  const std::string token = random_hex(16);
  const Placement place = draw_placement(limits_.run.open_files);
  // assert() is the sandbox's own: a macro defined after the candidate's code, calling a function
  // defined before it under a per-run name, so no macro of the candidate's (assert, NDEBUG,
  // __assert_fail, ...) reaches either. The test's own <assert.h> includes are dropped for it.
  const std::string fail = "r1_assert_failed_" + random_hex(8);
  const std::string gate = "r1_gate_" + random_hex(8);
  std::string own_assert = "#undef assert\n#define assert(e) ((e) ? (void)0 : " + fail + "(#e, __LINE__))\n";
  std::string reset = "\n" + own_assert + "#line 1 \"test\"\n";

  size_t at = static_cast<size_t>(m.position(0) + m.length(0));
  test.insert(at, " __attribute__((cleanup(" + fin + "))) int r1_guard = 0; (void)r1_guard;");
  box_.write_work_file(lang_.source_file, prelude(place, fin, fail, gate) + job_["code"].get<std::string>() + reset + test);
  std::vector<std::string> link;
  if (place.gated) {
    char start[64];
    std::snprintf(start, sizeof start, "-Wl,--section-start=.r1gate=0x%llx", static_cast<unsigned long long>(place.gate_at));
    link = {"-fno-pie", "-no-pie", start};
  }
  if (!compile(link, 1, out)) return out;
  RunSpec spec;
  spec.argv = lang_.run;
  spec.limits = limits_.run;
  spec.control = token;
  spec.result_channel = true;
  spec.control_fd = place.control_fd;
  spec.channel_fd = place.channel_fd;
  if (place.gated) spec.gate_ip = place.gate_at + 14;
  RunOutcome r = box_.run(spec);
  out.cpu_ms += r.cpu_ms;
  out.wall_ms += r.wall_ms;
  out.max_rss_kb = std::max(out.max_rss_kb, r.max_rss_kb);
  out.total = 1;
  out.tests.push_back(verdict_of(r, spec.limits, token));
  return out;
}

}  // namespace r1::sandbox::box

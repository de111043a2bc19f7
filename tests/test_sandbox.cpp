// The sandbox end to end: real programs in real boxes. Verdicts, output comparison, the three test
// modes, limits, malformed jobs, the pool's ordering, and the code reward through the real sandbox.
// Hostile programs are in test_sandbox_hostile.cpp; the HumanEval corpus in test_sandbox_humaneval.cpp.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <set>

#include "core/error.h"
#include "rewards/code.h"
#include "rewards/reward_set.h"
#include "sandbox/sandbox.h"

using nlohmann::json;
using r1::sandbox::Sandbox;

namespace {

Sandbox& box() {
  static Sandbox sandbox;  // refuses to construct where it cannot isolate: the suite then fails loudly
  return sandbox;
}

json stdio_job(const std::string& language, const std::string& code, json cases, json extra = json::object()) {
  json tests = {{"type", "stdio"}, {"cases", std::move(cases)}};
  tests.update(extra);
  return {{"language", language}, {"code", code}, {"tests", tests}, {"limits", {{"cpu_s", 2}, {"wall_s", 5}}}};
}

json function_job(const std::string& code, const std::string& entry, const std::string& test) {
  return {{"language", "python"},
          {"code", code},
          {"tests", {{"type", "function"}, {"entry_point", entry}, {"test", test}}},
          {"limits", {{"cpu_s", 2}, {"wall_s", 5}}}};
}

json assert_job(const std::string& language, const std::string& code, const std::string& test) {
  return {{"language", language}, {"code", code}, {"tests", {{"type", "assert-main"}, {"test", test}}}};
}

const char* kSum = "a, b = map(int, input().split())\nprint(a + b)\n";

}  // namespace

TEST_CASE("sandbox: the machine gives every protection untrusted code needs", "[sandbox]") {
  const auto& p = box().protections();
  INFO(p.describe());
  CHECK(p.strong());
  CHECK_FALSE(box().weak());
}

TEST_CASE("sandbox: stdin/stdout cases, whole output compared", "[sandbox]") {
  json cases = json::array({{{"input", "1 2\n"}, {"output", "3\n"}}, {{"input", "10 -4\n"}, {"output", "6\n"}}});
  json r = box().run_json(stdio_job("python", kSum, cases));
  CHECK(r["verdict"] == "AC");
  CHECK(r["passed"] == 2);
  CHECK(r["total"] == 2);
  REQUIRE(r["tests"].size() == 2);
  CHECK(r["tests"][0]["verdict"] == "AC");
  CHECK(r["tests"][0]["wall_ms"].get<double>() > 0);
  CHECK(r["max_rss_kb"].get<int64_t>() > 1000);

  // Trailing spaces and a missing final newline are tolerated; a prefix, a missing or an extra line is not.
  json multi = json::array({{{"input", ""}, {"output", "1\n2\n3\n"}}});
  CHECK(box().run_json(stdio_job("python", "print('1  ')\nprint(2)\nprint(3, end='')", multi))["verdict"] == "AC");
  json prefix = box().run_json(stdio_job("python", "print(1)\nprint(2)", multi));
  CHECK(prefix["verdict"] == "WA");
  CHECK(prefix["detail"] == "the output has 2 lines, the expected output 3");
  CHECK(box().run_json(stdio_job("python", "print('1\\n2\\n3\\n4')", multi))["verdict"] == "WA");
  json differs = box().run_json(stdio_job("python", "print('1\\n5\\n3')", multi));
  CHECK(differs["detail"] == "line 2 differs");  // where, never the expected text
  CHECK(box().run_json(stdio_job("python", "print('1 2 3')", multi))["verdict"] == "WA");

  // Partial credit: the fraction passed is there for the reward.
  json three = json::array({{{"input", "1 1"}, {"output", "2"}}, {{"input", "2 2"}, {"output", "4"}},
                            {{"input", "-1 -1"}, {"output", "-2"}}});
  json partial = box().run_json(stdio_job("python", "a,b=map(int,input().split())\nprint(abs(a)+abs(b))", three));
  CHECK(partial["verdict"] == "WA");
  CHECK(partial["passed"] == 2);
  CHECK(partial["total"] == 3);
}

TEST_CASE("sandbox: float tolerance is opt-in per task", "[sandbox]") {
  json cases = json::array({{{"input", ""}, {"output", "0.3333333\n"}}});
  const char* code = "print(1/3)";
  CHECK(box().run_json(stdio_job("python", code, cases))["verdict"] == "WA");
  CHECK(box().run_json(stdio_job("python", code, cases, {{"float_tolerance", 1e-6}}))["verdict"] == "AC");
  CHECK(box().run_json(stdio_job("python", "print(0.34)", cases, {{"float_tolerance", 1e-6}}))["verdict"] == "WA");
  CHECK(box().run_json(stdio_job("python", "print('nan')", cases, {{"float_tolerance", 1e-6}}))["verdict"] == "WA");
}

TEST_CASE("sandbox: C and C++ compile inside the box, compiler errors are CE", "[sandbox]") {
  json cases = json::array({{{"input", "2 3\n"}, {"output", "5\n"}}, {{"input", "-7 7\n"}, {"output", "0\n"}}});
  json cpp = box().run_json(stdio_job(
      "cpp", "#include <bits/stdc++.h>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}", cases));
  CHECK(cpp["verdict"] == "AC");
  CHECK(cpp["passed"] == 2);
  json c = box().run_json(stdio_job("c", "#include <stdio.h>\n#include <math.h>\nint main(){double a,b;scanf(\"%lf %lf\",&a,&b);"
                                         "printf(\"%.0f\\n\", fabs(a+b));}", cases));
  CHECK(c["verdict"] == "AC");
  json ce = box().run_json(stdio_job("cpp", "int main() { return undefined_name; }", cases));
  CHECK(ce["verdict"] == "CE");
  CHECK(ce["passed"] == 0);
  CHECK(ce["total"] == 2);
  CHECK(ce["detail"].get<std::string>().find("undefined_name") != std::string::npos);
  json re = box().run_json(stdio_job("cpp", "#include <cstdlib>\nint main(){ return 3; }", cases));
  CHECK(re["verdict"] == "RE");
  CHECK(re["detail"].get<std::string>().find("exit status 3") != std::string::npos);
}

TEST_CASE("sandbox: Python function tests, one test per assert, exits never pass", "[sandbox]") {
  const std::string test =
      "def check(candidate):\n"
      "    assert candidate(1, 2) == 3\n"
      "    for a in range(5):\n"
      "        assert candidate(a, a) == 2 * a\n"
      "    assert candidate(-1, 1) == 0\n"
      "    assert helper(2) == 4\n";
  json ok = box().run_json(function_job("def add(a, b):\n    return a + b\ndef helper(x):\n    return x * 2\n", "add", test));
  CHECK(ok["verdict"] == "AC");
  CHECK(ok["passed"] == 4);
  CHECK(ok["total"] == 4);
  json partial = box().run_json(function_job("def add(a, b):\n    return abs(a) + b\ndef helper(x):\n    return x * 2\n", "add", test));
  CHECK(partial["verdict"] == "WA");
  CHECK(partial["passed"] == 3);
  CHECK(partial["tests"][2]["verdict"] == "WA");
  CHECK(partial["tests"][2]["detail"] == "assertion 3 failed");

  const std::string one = "def check(candidate):\n    assert candidate(1, 2) == 3\n";
  for (const char* code : {"import sys\ndef add(a, b):\n    sys.exit(0)\n", "import os\ndef add(a, b):\n    os._exit(0)\n",
                           "import os\nos._exit(0)\n", "exit(0)\n", "def add(a, b):\n    raise SystemExit(0)\n",
                           "import atexit, os\natexit.register(lambda: os._exit(0))\ndef add(a, b):\n    exit()\n"}) {
    INFO(code);
    json r = box().run_json(function_job(code, "add", one));
    CHECK(r["verdict"] != "AC");
    CHECK(r["passed"] == 0);
  }
  json eq = box().run_json(function_job("class Yes:\n    def __eq__(self, o): return True\ndef add(a, b):\n    return Yes()\n", "add", one));
  CHECK(eq["verdict"] == "WA");
  json syntax = box().run_json(function_job("def add(a, b)\n    return a + b\n", "add", one));
  CHECK(syntax["verdict"] == "CE");
  json missing = box().run_json(function_job("def plus(a, b):\n    return a + b\n", "add", one));
  CHECK(missing["verdict"] == "RE");
  CHECK(missing["detail"] == "the solution defines no add");
  // Values of every plain type cross the boundary intact.
  json types = box().run_json(function_job(
      "def f(x):\n    return x\n", "f",
      "def check(candidate):\n"
      "    for v in [None, True, 2**100, -7, 1.5, float('inf'), 'é\\u0000', b'\\x00\\xff', [1, (2, 3)], {1: {'a'}},\n"
      "              frozenset([1]), 1+2j, range(3), bytearray(b'x')]:\n"
      "        assert candidate(v) == v and type(candidate(v)) is type(v)\n"
      "    assert candidate(float('nan')) != candidate(float('nan'))\n"));
  CHECK(types["verdict"] == "AC");
}

TEST_CASE("sandbox: C++ and C assert-main tests prove the test's main returned", "[sandbox]") {
  const std::string test = "#include <cassert>\nint main() {\n  assert(add(1, 2) == 3);\n  assert(add(-1, 1) == 0);\n}\n";
  CHECK(box().run_json(assert_job("cpp", "int add(int a, int b) { return a + b; }", test))["verdict"] == "AC");
  json wrong = box().run_json(assert_job("cpp", "int add(int a, int b) { return a * b; }", test));
  CHECK(wrong["verdict"] == "WA");
  CHECK(wrong["detail"].get<std::string>().find("Assertion") != std::string::npos);
  for (const char* code : {"#include <cstdlib>\nint add(int a, int b) { std::exit(0); }",
                           "#include <cstdlib>\nint add(int a, int b) { std::quick_exit(0); }",
                           "#include <unistd.h>\nint add(int a, int b) { _exit(0); }",
                           "#include <cstdio>\n#include <cstdlib>\nint add(int, int) { std::puts(\"OK\"); std::exit(0); }",
                           "#define assert(x) ((void)0)\nint add(int a, int b) { return 0; }",
                           "#define NDEBUG\nint add(int a, int b) { return 0; }"}) {
    INFO(code);
    CHECK(box().run_json(assert_job("cpp", code, test))["verdict"] == "WA");
  }
  const std::string ctest = "#include <assert.h>\nint main(void) {\n  assert(add(2, 2) == 4);\n  return 0;\n}\n";
  CHECK(box().run_json(assert_job("c", "int add(int a, int b) { return a + b; }", ctest))["verdict"] == "AC");
  CHECK(box().run_json(assert_job("c", "#include <stdlib.h>\nint add(int a, int b) { exit(0); }", ctest))["verdict"] == "WA");
}

TEST_CASE("sandbox: limits give TLE, MLE and OLE", "[sandbox]") {
  json one = json::array({{{"input", ""}, {"output", "x"}}});
  json job = stdio_job("python", "while True: pass", one);
  job["limits"] = {{"cpu_s", 1}, {"wall_s", 5}};
  json tle = box().run_json(job);
  CHECK(tle["verdict"] == "TLE");
  CHECK(tle["tests"][0]["cpu_ms"].get<double>() >= 900);
  job["code"] = "import time\ntime.sleep(100)";
  job["limits"] = {{"cpu_s", 1}, {"wall_s", 1}};
  CHECK(box().run_json(job)["verdict"] == "TLE");
  job["code"] = "x = bytearray(512 * 1024 * 1024)\nprint('x')";
  job["limits"] = {{"memory_mb", 128}};
  CHECK(box().run_json(job)["verdict"] == "MLE");
  job["code"] = "import sys\nwhile True: sys.stdout.write('y' * 65536)";
  job["limits"] = {{"output_kb", 64}};
  CHECK(box().run_json(job)["verdict"] == "OLE");
  job["code"] = "#include <vector>\nint main(){ std::vector<char> v(1u<<30, 1); return v[5]; }";
  job["language"] = "cpp";
  job["limits"] = {{"memory_mb", 128}};
  CHECK(box().run_json(job)["verdict"] == "MLE");
}

TEST_CASE("sandbox: a malformed job gets an SE result naming what is wrong", "[sandbox]") {
  CHECK(r1::sandbox::validate_job(json::array()) == "a job must be a JSON object");
  CHECK(r1::sandbox::validate_job({{"language", "python"}, {"tests", json::object()}}) == "\"code\" must be a string");
  CHECK(r1::sandbox::validate_job({{"language", "python"}, {"code", ""}, {"tests", {{"type", "stdin"}}}}) ==
        "tests.type must be \"stdio\", \"function\", \"assert-main\" or \"run\"");
  CHECK(r1::sandbox::validate_job({{"language", "python"}, {"code", ""}, {"tests", {{"type", "run"}, {"stdin", 3}}}}) ==
        "tests.stdin must be a string");
  json bad_case = stdio_job("python", "", json::array({{{"input", 1}, {"output", "x"}}}));
  CHECK(r1::sandbox::validate_job(bad_case) == "tests.cases[0] must be {\"input\": string, \"output\": string}");
  json bad_limit = stdio_job("python", "", json::array());
  bad_limit["limits"] = {{"cpu_seconds", 1}};
  CHECK(r1::sandbox::validate_job(bad_limit) == "unknown limit \"cpu_seconds\"");
  bad_limit["limits"] = {{"memory_mb", -5}};
  CHECK(r1::sandbox::validate_job(bad_limit) == "limits.memory_mb must be a positive number");
  json r = box().run_json(bad_limit);
  CHECK(r["verdict"] == "SE");
  CHECK(r["detail"] == "limits.memory_mb must be a positive number");
  json unknown = stdio_job("rust", "fn main(){}", json::array({{{"input", ""}, {"output", ""}}}));
  json u = box().run_json(unknown);
  CHECK(u["verdict"] == "SE");
  CHECK(u["detail"] == "unknown language 'rust' (known: python, cpp, c)");
  json no_check = function_job("def f(): pass", "f", "def test(candidate):\n    assert candidate() is None\n");
  json nc = box().run_json(no_check);
  CHECK(nc["verdict"] == "SE");
  CHECK(nc["detail"].get<std::string>().find("no check(candidate) function") != std::string::npos);
}

TEST_CASE("sandbox: a batch runs on the pool and comes back in order", "[sandbox]") {
  std::vector<json> jobs;
  for (int i = 0; i < 12; ++i) {
    jobs.push_back(stdio_job("python", "import time, random\ntime.sleep(random.random() / 20)\nprint(" + std::to_string(i) + ")",
                             json::array({{{"input", ""}, {"output", std::to_string(i % 3 == 0 ? -1 : i)}}})));
  }
  size_t calls = 0;
  auto results = box().run_batch(jobs, [&](size_t done, size_t total) {
    ++calls;
    CHECK(total == 12);
    CHECK(done <= 12);
  });
  REQUIRE(results.size() == 12);
  CHECK(calls == 12);
  for (int i = 0; i < 12; ++i) CHECK(results[static_cast<size_t>(i)]["verdict"] == (i % 3 == 0 ? "WA" : "AC"));
}

TEST_CASE("sandbox: Result and JSON convert both ways", "[sandbox]") {
  json j = {{"verdict", "TLE"}, {"passed", 1}, {"total", 3}, {"cpu_ms", 12.5}, {"wall_ms", 30.0}, {"max_rss_kb", 900},
            {"detail", "CPU limit"}, {"tests", json::array({{{"verdict", "AC"}, {"cpu_ms", 1.0}, {"wall_ms", 2.0}},
                                                            {{"verdict", "TLE"}, {"cpu_ms", 1000.0}, {"wall_ms", 1001.0}, {"detail", "CPU limit"}}})}};
  r1::sandbox::Result r = r1::sandbox::result_from_json(j);
  CHECK(r.verdict == r1::sandbox::Verdict::TLE);
  CHECK(r.passed == 1);
  CHECK(r.tests.size() == 2);
  CHECK(r.tests[1].detail == "CPU limit");
  json back = r1::sandbox::result_to_json(r);
  CHECK(back["tests"][1]["verdict"] == "TLE");
  CHECK(back["detail"] == "CPU limit");
  CHECK(r1::sandbox::verdict_from_string("nonsense") == r1::sandbox::Verdict::SE);
}

TEST_CASE("code reward: completions judged by the real sandbox", "[sandbox][rewards]") {
  auto set = r1::rewards::RewardSet::from_json(json::parse(R"([{"kind": "code"}])"), "config",
                                               {r1::sandbox::shared_sandbox()});
  auto score = [&](const std::string& completion, json reference) {
    r1::rewards::Sample s;
    s.completion = completion;
    s.reference = std::move(reference);
    return set.score(s);
  };
  json stdio_ref = {{"tests", json::array({{{"input", "1 2"}, {"output", "3"}}, {{"input", "-1 -2"}, {"output", "-3"}}})}};
  CHECK(score("<think>sum</think><answer>```python\nprint(sum(map(int, input().split())))\n```</answer>", stdio_ref).value == 1.0);
  auto half = score("```python\nprint(abs(sum(map(int, input().split()))))\n```", stdio_ref);
  CHECK(half.value == Approx(0.5));
  json humaneval_ref = {{"entry_point", "inc"}, {"test", "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n"}};
  CHECK(score("```python\ndef inc(x):\n    return x + 1\n```", humaneval_ref).value == 1.0);
  CHECK(score("```python\nimport sys\ndef inc(x):\n    sys.exit(0)\n```", humaneval_ref).value == 0.0);
  json cpp_ref = {{"language", "cpp"}, {"test", "#include <cassert>\nint main() { assert(inc(1) == 2); }"}};
  CHECK(score("```cpp\nint inc(int x) { return x + 1; }\n```", cpp_ref).value == 1.0);
  CHECK(score("```cpp\n#include <cstdlib>\nint inc(int x) { std::exit(0); }\n```", cpp_ref).value == 0.0);
}

// Python runs are forks of a per-slot interpreter (the zygote), not fresh python3 processes: they
// must still look and end like `python3 -I -S -B solution.py`.
TEST_CASE("sandbox: shared_sandbox starts one sandbox on first use and shares it, a failure is the same every time", "[sandbox]") {
  auto provider = r1::sandbox::shared_sandbox({1});
  auto a = provider();
  auto b = provider();
  REQUIRE(a != nullptr);
  CHECK(a.get() == b.get());
  r1::sandbox::SandboxOptions missing;
  missing.box_path = "/nonexistent/r1-box";
  auto broken = r1::sandbox::shared_sandbox(missing);
  std::string first, second;
  try {
    broken();
  } catch (const r1::Error& e) {
    first = e.what();
  }
  try {
    broken();
  } catch (const r1::Error& e) {
    second = e.what();
  }
  CHECK_THAT(first, Catch::Contains("/nonexistent/r1-box"));
  CHECK(second == first);
}

TEST_CASE("sandbox: Python runs start, see and end as python3 does", "[sandbox]") {
  auto run1 = [](const std::string& code, const std::string& expected, const std::string& input = "") {
    return box().run_json(stdio_job("python", code, json::array({{{"input", input}, {"output", expected}}})));
  };
  CHECK(run1("import sys\nprint(sys.executable, sys.argv[0].endswith('solution.py'), len(sys.argv), sys.flags.isolated, "
             "sys.flags.no_site, sys.flags.dont_write_bytecode, __name__)\n",
             "/usr/bin/python3 True 1 1 1 1 __main__")["verdict"] == "AC");
  CHECK(run1("import os, sys\nprint(os.getcwd(), os.environ['HOME'], os.environ.get('PYTHONPATH'), sys.stdin.isatty(), "
             "sys.stdout.isatty(), sys.stdin.seekable())\n",
             "/work /work None False False False")["verdict"] == "AC");
  // Output still buffered at exit is flushed, atexit functions run, threads are waited for.
  CHECK(run1("import atexit, sys, threading, time\natexit.register(lambda: print('atexit'))\n"
             "threading.Thread(target=lambda: (time.sleep(0.05), print('thread'))).start()\n"
             "sys.stdout.write('buffered\\n')\n",
             "buffered\nthread\natexit")["verdict"] == "AC");
  CHECK(run1("print(sum(map(int, open(0).read().split())))\n", "6", "1 2\n3\n")["verdict"] == "AC");
  // The program's globals are a fresh __main__'s: nothing the zygote ran is defined there.
  CHECK(run1("print(sorted(k for k in globals() if not k.startswith('__')))\n", "[]")["verdict"] == "AC");
  CHECK(run1("print(sys.argv)\n", "x")["verdict"] == "RE");  // NameError, as under python3
  CHECK(run1("print('caf\xc3\xa9', len('caf\xc3\xa9'))\n", "caf\xc3\xa9 4")["verdict"] == "AC");  // UTF-8 streams

  json r = run1("import sys\nsys.exit(3)\n", "x");
  CHECK(r["verdict"] == "RE");
  CHECK(r["detail"].get<std::string>().find("exit status 3") != std::string::npos);
  r = run1("import sys\nsys.exit('goodbye')\n", "x");
  CHECK(r["verdict"] == "RE");
  CHECK(r["detail"].get<std::string>().find("exit status 1: goodbye") != std::string::npos);
  r = run1("raise ValueError('boom')\n", "x");
  CHECK(r["verdict"] == "RE");
  CHECK(r["detail"].get<std::string>().find("ValueError: boom") != std::string::npos);
  CHECK(run1("import sys\nprint('ok')\nsys.exit(0)\n", "ok")["verdict"] == "AC");
  r = run1("import os\nos.close(1)\nprint('lost')\n", "lost");  // the flush at exit fails: status 120
  CHECK(r["verdict"] == "RE");
  CHECK(r["detail"].get<std::string>().find("exit status 120") != std::string::npos);
  CHECK(run1("print('unclosed'\n", "x")["verdict"] == "RE");  // a SyntaxError, as python3 reports it

  // `random` is imported by the zygote; every run draws its own seed all the same.
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    json x = run1("import random, sys\nsys.exit(1 + int(random.random() * 250))\n", "x");
    REQUIRE(x["verdict"] == "RE");
    seen.insert(x["detail"].get<std::string>());
  }
  CHECK(seen.size() > 1);
}

namespace {

json run_job(const std::string& language, const std::string& code, json limits = {{"cpu_s", 2}, {"wall_s", 5}},
             const std::string& input = "") {
  return {{"language", language}, {"code", code}, {"tests", {{"type", "run"}, {"stdin", input}}}, {"limits", limits}};
}

}  // namespace

TEST_CASE("sandbox: a run job returns what the program printed", "[sandbox][run]") {
  json r = box().run_json(run_job("python", "import sys\nprint(385 * 47)\nprint('note', file=sys.stderr)\n"));
  CHECK(r["verdict"] == "AC");
  CHECK(r["passed"] == 1);
  CHECK(r["total"] == 1);
  CHECK(r["output"] == "18095\nnote\n");  // stdout, then stderr
  CHECK(r["output_cut"] == false);

  // stdin reaches the program; C++ compiles first, a compiler error is CE with the compiler's words.
  CHECK(box().run_json(run_job("python", "print(input()[::-1])", {{"cpu_s", 2}}, "abc\n"))["output"] == "cba\n");
  json cpp = box().run_json(run_job("cpp", "#include <cstdio>\nint main(){ std::printf(\"%d\\n\", 6 * 7); }"));
  CHECK(cpp["verdict"] == "AC");
  CHECK(cpp["output"] == "42\n");
  json ce = box().run_json(run_job("cpp", "int main() { return x; }"));
  CHECK(ce["verdict"] == "CE");
  CHECK(ce["output"].get<std::string>().find("'x' was not declared") != std::string::npos);

  // An exception: RE, and the traceback is in the output after what was printed before it.
  json re = box().run_json(run_job("python", "print('before')\nraise ValueError('boom')\n"));
  CHECK(re["verdict"] == "RE");
  const std::string out = re["output"];
  CHECK(out.starts_with("before\nTraceback (most recent call last):"));
  CHECK(out.find("ValueError: boom") != std::string::npos);

  // The Result struct carries it too.
  r1::sandbox::Job job;
  job.language = "python";
  job.source = "print('hi')";
  job.tests = {{"type", "run"}};
  r1::sandbox::Result result = box().run(job);
  CHECK(result.verdict == r1::sandbox::Verdict::AC);
  CHECK(result.output == "hi\n");
  CHECK_FALSE(result.output_cut);
  CHECK(r1::sandbox::result_to_json(result)["output"] == "hi\n");
}

TEST_CASE("sandbox: a run job's output is cut at the limit, a hang at the timeout", "[sandbox][run]") {
  // 100 MB printed: the program is stopped at output_kb and the output says where it was cut.
  json big = box().run_json(run_job("python", "import sys\nsys.stdout.write('y' * (100 << 20))\n", {{"output_kb", 4}}));
  CHECK(big["verdict"] == "OLE");
  CHECK(big["output_cut"] == true);
  const std::string text = big["output"];
  CHECK(text.size() < 4096 + 200);
  CHECK(text.starts_with(std::string(1000, 'y')));
  CHECK(text.find("[output cut: more than") != std::string::npos);

  // Both streams too long: stdout's head and the traceback's tail are kept.
  json both = box().run_json(run_job("python", "print('a' * 3000)\nraise RuntimeError('x' * 10000 + ' the end')\n",
                                     {{"output_kb", 4}}));
  CHECK(both["verdict"] == "RE");
  CHECK(both["output_cut"] == true);
  const std::string b = both["output"];
  CHECK(b.starts_with("aaaa"));
  CHECK(b.ends_with(" the end\n"));
  CHECK(b.size() < 4096 + 200);

  json hang = box().run_json(run_job("python", "print('started', flush=True)\nwhile True: pass\n", {{"cpu_s", 1}, {"wall_s", 3}}));
  CHECK(hang["verdict"] == "TLE");
  CHECK(hang["output"] == "started\n");
}

// The code reward through the sandbox interface, with a test-only Runner that really runs Python
// programs (NOT isolated: trusted test code only) against stdin/stdout cases. The reward through the
// real sandbox is tested in test_sandbox.cpp.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/text.h"
#include "rewards/code.h"
#include "rewards/reward_set.h"

using namespace r1::rewards;
using nlohmann::json;

namespace {

class LocalPythonRunner : public r1::sandbox::Runner {
 public:
  r1::sandbox::Result run(const r1::sandbox::Job& job) override {
    r1::sandbox::Result result;
    if (job.language != "python") {
      result.message = "unsupported language " + job.language;
      return result;  // SE
    }
    std::string dir = "/tmp/r1_test_code_" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/main.py") << job.source;
    result.verdict = r1::sandbox::Verdict::AC;
    for (const auto& test : job.tests.at("cases")) {
      std::ofstream(dir + "/in") << test.at("input").get<std::string>();
      int status = std::system(("timeout 5 /usr/bin/python3 " + dir + "/main.py < " + dir + "/in > " + dir +
                                "/out 2>/dev/null").c_str());
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      std::string out = r1::read_file(dir + "/out");
      auto trim = [](std::string s) {
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
        return s;
      };
      r1::sandbox::Verdict v = code == 124 ? r1::sandbox::Verdict::TLE
                               : code != 0 ? r1::sandbox::Verdict::RE
                               : trim(out) == trim(test.at("output").get<std::string>()) ? r1::sandbox::Verdict::AC
                                                                                         : r1::sandbox::Verdict::WA;
      result.tests.push_back({v, "", 0, 0});
      ++result.total;
      if (v == r1::sandbox::Verdict::AC) ++result.passed;
      else if (result.verdict == r1::sandbox::Verdict::AC) result.verdict = v;
    }
    return result;
  }
};

Sample program(const std::string& completion) {
  Sample s;
  s.completion = completion;
  s.reference = {{"tests", json::array({{{"input", "2 3\n"}, {"output", "5\n"}},
                                        {{"input", "10 -4\n"}, {"output", "6\n"}},
                                        {{"input", "0 0\n"}, {"output", "0\n"}}})}};
  return s;
}

}  // namespace

TEST_CASE("code reward: fraction of tests passed by the last code block, run for real", "[rewards][code]") {
  CodeReward reward("code", {}, std::make_shared<LocalPythonRunner>());
  auto run = [&](const std::string& completion) { return reward.score(program(completion), {}, Deadline()); };
  Score right = run("<think>add them</think>\n```python\na, b = map(int, input().split())\nprint(a + b)\n```");
  CHECK(right.value == 1.0);
  CHECK(right.reason.empty());
  // Wrong on negative numbers only: 2 of 3.
  Score partly = run("```python\na, b = map(int, input().split())\nprint(abs(a) + abs(b))\n```");
  CHECK(partly.value == Approx(2.0 / 3.0));
  CHECK(partly.reason == "WA, 2/3 tests passed");
  // The last block counts, and an <answer> block wins over the rest.
  CHECK(run("```python\nprint(0)\n```\nfixed:\n```python\nprint(sum(map(int, input().split())))\n```").value == 1.0);
  CHECK(run("<answer>```python\nprint(sum(map(int, input().split())))\n```</answer>\n```python\nprint(1)\n```").value == 1.0);
  Score crash = run("```python\nraise SystemExit(3)\n```");
  CHECK(crash.value == 0.0);
  CHECK(crash.reason == "RE, 0/3 tests passed");
  Score none = run("I would add the numbers.");
  CHECK(none.value == 0.0);
  CHECK(none.reason == "no code block");
  CodeReward strict("code", {false, "python", "tests"}, std::make_shared<LocalPythonRunner>());
  CHECK(strict.score(program("```python\na, b = map(int, input().split())\nprint(abs(a) + abs(b))\n```"), {}, Deadline()).value == 0.0);
}

TEST_CASE("code reward: errors and the missing sandbox are explained", "[rewards][code]") {
  CodeReward reward("code", {}, std::make_shared<LocalPythonRunner>());
  Sample cpp = program("```cpp\nint main(){}\n```");
  CHECK_THROWS_WITH(reward.score(cpp, {}, Deadline()), "sandbox error: unsupported language cpp");
  Sample no_tests = program("```python\nprint(1)\n```");
  no_tests.reference = json::object();
  CHECK_THROWS_WITH(reward.score(no_tests, {}, Deadline()), "the sample has no reference field 'tests' (nor HumanEval's 'test')");
  CHECK_THROWS_AS(CodeReward("code", {}, nullptr), r1::ConfigError);
  const json code = json::parse(R"([{"kind": "code", "mode": "pass_fail"}])");
  CHECK_THROWS_WITH(RewardSet::from_json(code, "r.json"),
                    "r.json: rewards[0].kind: the code reward needs the sandbox, and none was given to this command");
  RewardServices broken{[]() -> std::shared_ptr<r1::sandbox::Runner> { throw r1::Error("no user namespaces"); }};
  CHECK_THROWS_WITH(RewardSet::from_json(code, "r.json", broken),
                    "r.json: rewards[0].kind: the code reward needs the sandbox, which could not start here: no user "
                    "namespaces (see `r1 sandbox info`)");
  // A set that does not name "code" never asks for the runner (starting a sandbox costs processes).
  int asked = 0;
  RewardServices counted{[&]() -> std::shared_ptr<r1::sandbox::Runner> { ++asked; return std::make_shared<LocalPythonRunner>(); }};
  RewardSet::from_json(json::parse(R"([{"kind": "format"}])"), "r.json", counted);
  CHECK(asked == 0);
  RewardSet set = RewardSet::from_json(code, "r.json", counted);
  CHECK(asked == 1);
  CHECK(set.score(program("```python\nprint(sum(map(int, input().split())))\n```")).value == 1.0);
}

TEST_CASE("code reward: the last fenced block and its language", "[rewards][code]") {
  auto b = last_code_block("x\n```Python3 extra\nprint(1)\n```\n");
  REQUIRE(b);
  CHECK(b->language == "python3");
  CHECK(b->code == "print(1)\n");
  CHECK_FALSE(last_code_block("```python\nunterminated"));
  CHECK_FALSE(last_code_block("no code"));
}

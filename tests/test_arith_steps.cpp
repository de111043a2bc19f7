// The arithmetic task's difficulty knobs (tasks/arith.h): problem_steps, direct answers that fail more
// often on longer problems (direct_error_per_step), brief well-formed answers (template_brief), and
// worked solutions that correct one slipped step (self_correct).
#include "tasks/arith.h"

#include "core/config.h"
#include "core/text.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <string>

using r1::tasks::ArithOptions;
using r1::tasks::Problem;

namespace {

ArithOptions only(double ArithOptions::*kind) {
  ArithOptions o;
  o.template_worked = o.template_direct = o.template_tag_misuse = o.qa_direct = o.qa_worked = o.facts = 0;
  o.*kind = 1;
  return o;
}

}  // namespace

TEST_CASE("arith steps: problem_steps counts the worked solution's steps", "[arith][steps]") {
  CHECK(r1::tasks::problem_steps(Problem{"add", 47, 385, "", "432", ""}) == 3);
  CHECK(r1::tasks::problem_steps(Problem{"add", 4, 5, "", "9", ""}) == 1);
  CHECK(r1::tasks::problem_steps(Problem{"sub", 52, 17, "", "35", ""}) == 2);
  CHECK(r1::tasks::problem_steps(Problem{"mul", 385, 7, "", "2695", ""}) == 3);
  CHECK(r1::tasks::problem_steps(Problem{"mulm", 385, 47, "", "18095", ""}) == 3);  // two products and their sum
  CHECK(r1::tasks::problem_steps(Problem{"mulm", 385, 40, "", "15400", ""}) == 1);
  // For add, sub and mul the steps are exactly the worked solution's column steps (". " ends each).
  ArithOptions o;
  o.min_digits = 1;
  o.max_digits = 4;
  for (const auto& p : r1::tasks::make_problems(300, 3, o)) {
    const std::string w = r1::tasks::worked_solution(p);
    size_t ends = 0;
    for (size_t at = w.find(". "); at != std::string::npos; at = w.find(". ", at + 1)) ++ends;
    INFO(w);
    CHECK(static_cast<int>(ends) == r1::tasks::problem_steps(p));
    CHECK(r1::tasks::problem_row(p)["difficulty"] == r1::tasks::problem_steps(p));
  }
}

TEST_CASE("arith steps: brief answers keep the format and fail more often on longer problems", "[arith][steps]") {
  ArithOptions o = only(&ArithOptions::template_brief);
  o.min_digits = 1;
  o.max_digits = 4;
  o.direct_error_rate = 0.05;
  o.direct_error_per_step = 0.3;  // 1 step 0.05, 2: 0.35, 3: 0.65, 4: 0.95 (the cap)
  static const std::regex shape(R"(^(.*) <think> (\d+) ([-+*]) (\d+) = (\d+)\. </think> <answer> (\d+) </answer>$)");
  std::map<int, std::pair<int, int>> wrong;  // steps -> (wrong, all)
  std::mt19937_64 rng(11);
  for (int i = 0; i < 8000; ++i) {
    const std::string doc = r1::tasks::corpus_document(rng, o);
    std::smatch m;
    REQUIRE(std::regex_match(doc, m, shape));
    CHECK(m[5].str() == m[6].str());
    const std::string op = m[3] == "+" ? "add" : m[3] == "-" ? "sub" : "mul";
    const int64_t a = std::stoll(m[2]), b = std::stoll(m[4]);
    const Problem p{op, a, b, "", std::to_string(op == "add" ? a + b : op == "sub" ? a - b : a * b), ""};
    const std::string prompt = m[1].str(), user = prompt.substr(prompt.find("User: ") + 6);
    CHECK(prompt == r1::tasks::r1_zero_prompt(user.substr(0, user.size() - std::string(". Assistant:").size())));
    auto& [bad, all] = wrong[r1::tasks::problem_steps(p)];
    bad += m[6].str() != p.answer;
    ++all;
  }
  const std::map<int, double> expected = {{1, 0.05}, {2, 0.35}, {3, 0.65}, {4, 0.95}};
  for (const auto& [steps, rate] : expected) {
    const auto [bad, all] = wrong.at(steps);
    INFO("steps " << steps << ": " << bad << " wrong of " << all);
    REQUIRE(all > 300);
    CHECK(std::abs(static_cast<double>(bad) / all - rate) < 0.06);
  }
}

TEST_CASE("arith steps: self_correct writes one slipped step, then wait, then the step right", "[arith][steps]") {
  ArithOptions o = only(&ArithOptions::template_worked);
  o.min_digits = 1;
  o.max_digits = 3;
  o.self_correct = 0.5;
  static const std::regex slip(R"((\d+(?: [-+*] \d+)+) = (\d+), wait, (\d+(?: [-+*] \d+)+) = (\d+), write )");
  int corrected = 0, docs = 2000;
  std::mt19937_64 rng(5);
  for (int i = 0; i < docs; ++i) {
    const std::string doc = r1::tasks::corpus_document(rng, o);
    const size_t open = doc.find("Assistant: <think> ") + 19, close = doc.rfind(" </think>");
    std::string worked = doc.substr(open, close - open);
    std::smatch m;
    if (!std::regex_search(worked, m, slip)) {
      INFO(worked);
      CHECK(worked.find("wait") == std::string::npos);
      continue;
    }
    ++corrected;
    INFO(worked);
    CHECK(m[1].str() == m[3].str());  // the same step, redone
    CHECK(std::abs(std::stoi(m[2]) - std::stoi(m[4])) == 1);
    CHECK(worked.find("wait", m.position(0) + m.length(0)) == std::string::npos);  // one correction only
    // Without the slipped attempt it is the plain worked solution, every step right.
    const std::string plain = worked.substr(0, m.position(0)) + worked.substr(m.position(0) + m[1].length() + 3 + m[2].length() + 8);
    const size_t colon = plain.find(": ");
    const std::string head = plain.substr(0, colon);
    static const std::regex expr(R"((\d+) ([-+*]) (\d+))");
    std::smatch e;
    REQUIRE(std::regex_match(head, e, expr));
    const std::string op = e[2] == "+" ? "add" : e[2] == "-" ? "sub" : "mul";
    const int64_t a = std::stoll(e[1]), b = std::stoll(e[3]);
    Problem p{op, a, b, "", std::to_string(op == "add" ? a + b : op == "sub" ? a - b : a * b), ""};
    CHECK(plain == r1::tasks::worked_solution(p));
  }
  CHECK(std::abs(static_cast<double>(corrected) / docs - 0.5) < 0.05);

  // In Chinese the correction reads "，等等，".
  o.second_language = 1;
  o.self_correct = 1;
  std::mt19937_64 zh(9);
  int waits = 0;
  for (int i = 0; i < 50; ++i) waits += r1::tasks::corpus_document(zh, o).find("，等等，") != std::string::npos;
  CHECK(waits == 50);
}

TEST_CASE("arith steps: the new options are read by key and checked by name, and off by default", "[arith][steps]") {
  const auto j = nlohmann::json::parse(R"({"template_brief": 0.1, "direct_error_per_step": 0.2, "self_correct": 0.03})");
  r1::ConfigReader r(j, "base.task");
  const auto o = r1::tasks::read_arith_options(r);
  r.finish();
  CHECK(o.template_brief == 0.1);
  CHECK(o.direct_error_per_step == 0.2);
  CHECK(o.self_correct == 0.03);
  const ArithOptions d;
  CHECK(d.template_brief == 0);
  CHECK(d.direct_error_per_step == 0);
  CHECK(d.self_correct == 0);
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"template_brief": -1})", "base.task.template_brief"},
           {R"({"direct_error_per_step": 1.5})", "base.task.direct_error_per_step"},
           {R"({"self_correct": -0.1})", "base.task.self_correct"}}) {
    const auto bad = nlohmann::json::parse(text);
    r1::ConfigReader rb(bad, "base.task");
    CHECK_THROWS_WITH(r1::tasks::read_arith_options(rb), Catch::Contains(key));
  }
}

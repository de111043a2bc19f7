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
#include <set>
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

TEST_CASE("arith steps: chain problems, their worked solutions step by step, keys and facts", "[arith][steps][chain]") {
  Problem fixed;
  fixed.op = "chain";
  fixed.terms = {7, 5, 3, 8};
  fixed.signs = "+-+";
  fixed.answer = "17";
  CHECK(r1::tasks::worked_solution(fixed) == "7 + 5 - 3 + 8: 7 + 5 = 12. 12 - 3 = 9. 9 + 8 = 17. So 7 + 5 - 3 + 8 = 17.");
  CHECK(r1::tasks::worked_solution(fixed, r1::tasks::StepLanguage::Chinese) ==
        "7 + 5 - 3 + 8：7 加 5 等于 12。12 减 3 等于 9。9 加 8 等于 17。所以 7 + 5 - 3 + 8 = 17。");
  CHECK(r1::tasks::problem_key(fixed) == "chain:7+5-3+8");
  CHECK(r1::tasks::problem_steps(fixed) == 3);

  ArithOptions o;
  o.ops = {"chain"};
  o.chain_min_ops = 2;
  o.chain_max_ops = 5;
  o.chain_max_total = 30;
  std::map<int, int> by_ops;
  const auto problems = r1::tasks::make_problems(2000, 4, o);
  std::set<std::string> keys;
  static const std::regex step(R"((\d+) ([-+]) (\d) = (\d+)\. )");
  for (const auto& p : problems) {
    INFO(p.worked);
    REQUIRE(p.terms.size() == p.signs.size() + 1);
    const int ops = static_cast<int>(p.signs.size());
    CHECK(ops >= 2);
    CHECK(ops <= 5);
    ++by_ops[ops];
    CHECK(p.terms[0] >= 1);
    CHECK(p.terms[0] <= 9);
    int64_t total = p.terms[0];
    for (size_t i = 0; i < p.signs.size(); ++i) {
      CHECK(p.terms[i + 1] >= 1);
      CHECK(p.terms[i + 1] <= 9);
      total += p.signs[i] == '+' ? p.terms[i + 1] : -p.terms[i + 1];
      CHECK(total >= 0);
      CHECK(total <= 30);
    }
    CHECK(p.answer == std::to_string(total));
    CHECK(keys.insert(r1::tasks::problem_key(p)).second);
    CHECK(r1::tasks::problem_row(p)["difficulty"] == ops);
    // Every step is a true fact on the running total, in order, and the last is the answer.
    int64_t running = p.terms[0];
    size_t count = 0;
    for (std::sregex_iterator it(p.worked.begin(), p.worked.end(), step), end; it != end; ++it, ++count) {
      const auto& m = *it;
      CHECK(std::stoll(m[1]) == running);
      CHECK(m[2].str()[0] == p.signs[count]);
      CHECK(std::stoll(m[3]) == p.terms[count + 1]);
      running = m[2] == "+" ? running + p.terms[count + 1] : running - p.terms[count + 1];
      CHECK(std::stoll(m[4]) == running);
    }
    CHECK(count == p.signs.size());
    CHECK(r1::tasks::tool_code(p) == "print(" + p.question.substr(p.question.find(' ', p.question.find_first_of("0123456789") - 1) + 1) + ")");
  }
  for (int ops = 2; ops <= 5; ++ops) CHECK(std::abs(by_ops[ops] / 2000.0 - 0.25) < 0.04);

  // Step facts drill the same steps: a total in range, a digit added or subtracted, always true.
  std::mt19937_64 rng(2);
  static const std::regex fact(R"((\d+) ([-+]) (\d) = (\d+))");
  for (int i = 0; i < 500; ++i) {
    const std::string f = r1::tasks::step_fact(rng, o);
    std::smatch m;
    REQUIRE(std::regex_match(f, m, fact));
    const int64_t a = std::stoll(m[1]), d = std::stoll(m[3]), r = std::stoll(m[4]);
    CHECK(r == (m[2] == "+" ? a + d : a - d));
    CHECK(r >= 0);
    CHECK(r <= 30);
  }

  // Wrong direct answers are never the truth, and never negative.
  ArithOptions direct = o;
  direct.template_worked = direct.template_tag_misuse = direct.qa_direct = direct.qa_worked = direct.facts = 0;
  direct.template_direct = 1;
  direct.direct_error_rate = 1;
  static const std::regex said(R"(User: \w+(?: out)? ([-+ 0-9]+)\. Assistant: The answer is (\d+)\.$)");
  std::mt19937_64 drng(3);
  for (int i = 0; i < 500; ++i) {
    const std::string doc = r1::tasks::corpus_document(drng, direct);
    std::smatch m;
    REQUIRE(std::regex_search(doc, m, said));
    std::string expr = m[1].str();
    int64_t v = 0, sign = 1;
    for (size_t at = 0; at < expr.size();) {
      if (expr[at] == ' ') { ++at; continue; }
      if (expr[at] == '+' || expr[at] == '-') { sign = expr[at] == '+' ? 1 : -1; ++at; continue; }
      size_t used = 0;
      v += sign * std::stoll(expr.substr(at), &used);
      at += used;
    }
    CHECK(std::stoll(m[2]) != v);
  }

  // A corrected slip in a chain: the step, a result one off, "wait", the step again.
  ArithOptions fix = o;
  fix.template_direct = fix.template_tag_misuse = fix.qa_direct = fix.qa_worked = fix.facts = 0;
  fix.template_worked = 1;
  fix.self_correct = 1;
  static const std::regex corrected(R"((\d+ [-+] \d) = (\d+), wait, (\d+ [-+] \d) = (\d+)\. )");
  std::mt19937_64 frng(8);
  for (int i = 0; i < 200; ++i) {
    const std::string doc = r1::tasks::corpus_document(frng, fix);
    std::smatch m;
    INFO(doc);
    REQUIRE(std::regex_search(doc, m, corrected));
    CHECK(m[1].str() == m[3].str());
    CHECK(std::abs(std::stoll(m[2]) - std::stoll(m[4])) == 1);
  }
}

TEST_CASE("arith steps: chain options are checked by name", "[arith][steps][chain]") {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"ops": ["chain"], "chain_min_ops": 0})", "base.task.chain_min_ops"},
           {R"({"ops": ["chain"], "chain_min_ops": 4, "chain_max_ops": 3})", "base.task.chain_max_ops"},
           {R"({"ops": ["chain"], "chain_max_ops": 13})", "base.task.chain_max_ops"},
           {R"({"ops": ["chain"], "chain_max_total": 10})", "base.task.chain_max_total"},
           {R"({"ops": ["div"]})", "expected add, sub, mul, mulm, chain"}}) {
    const auto bad = nlohmann::json::parse(text);
    r1::ConfigReader rb(bad, "base.task");
    CHECK_THROWS_WITH(r1::tasks::read_arith_options(rb), Catch::Contains(key));
  }
  const auto j = nlohmann::json::parse(R"({"ops": ["chain"], "chain_min_ops": 2, "chain_max_ops": 8, "chain_max_total": 50})");
  r1::ConfigReader r(j, "base.task");
  const auto o = r1::tasks::read_arith_options(r);
  r.finish();
  CHECK(o.chain_min_ops == 2);
  CHECK(o.chain_max_ops == 8);
  CHECK(o.chain_max_total == 50);
}

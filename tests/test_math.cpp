// rewards/math: the verifier on tests/data/math_cases.jsonl (gold, prediction, expected verdict, in
// both directions, including the false positives reported against other verifiers), extraction,
// hostile answers, and the "math" reward.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <thread>

#include "core/jsonl.h"
#include "rewards/math.h"
#include "rewards/reward_set.h"

using namespace r1::rewards;

TEST_CASE("math: every case of the corpus gets its expected verdict", "[rewards][math]") {
  std::string path = std::string(R1_SOURCE_DIR) + "/tests/data/math_cases.jsonl";
  std::ifstream in(path);
  REQUIRE(in.good());
  r1::JsonLinesReader reader(in, path);
  nlohmann::json row;
  size_t cases = 0, wrong = 0, accepted = 0;
  while (reader.next(row)) {
    ++cases;
    bool want = row.at("correct").get<bool>();
    accepted += want;
    MathVerdict v = verify_math(row.at("gold").get<std::string>(), row.at("pred").get<std::string>(), {},
                                Deadline::in(std::chrono::milliseconds(2000)));
    if (v.correct != want) {
      ++wrong;
      UNSCOPED_INFO("line " << reader.line() << ": gold " << row["gold"].dump().substr(0, 60) << " pred "
                            << row["pred"].dump().substr(0, 60) << " -> " << v.correct << " (" << v.reason << "; "
                            << v.gold_parsed << " | " << v.pred_parsed << ")");
    }
  }
  CHECK(cases >= 400);
  CHECK(accepted > cases / 3);        // both directions are exercised
  CHECK(cases - accepted > cases / 5);
  CHECK(wrong == 0);
}

TEST_CASE("math: the known false positives are rejected, with reasons", "[rewards][math]") {
  CHECK_FALSE(verify_math("1/2^99", "1/2^98").correct);
  CHECK_FALSE(verify_math("3x-y+13=0", "3x+4y+14=0").correct);
  CHECK_FALSE(verify_math("4\\sqrt{2}", "4").correct);
  CHECK_FALSE(verify_math("1,2,3", "n=2,3,4").correct);
  CHECK_FALSE(verify_math("A", "A or B or C").correct);
  MathVerdict empty = verify_math("5", "");
  CHECK_FALSE(empty.correct);
  CHECK(empty.reason == "empty answer");
  CHECK_FALSE(verify_math("(1,3)", "1<x<3").correct);  // restating the condition is not the answer
  CHECK(verify_math("1<x<3", "(1,3)").correct);
}

TEST_CASE("math: hostile answers are refused as too large, quickly", "[rewards][math]") {
  for (std::string pred : {std::string("10^(10^9)"), std::string("2^2^2^2^2^2"), std::string(10000, '(') + "5" + std::string(10000, ')'),
                           std::string(1000000, '1'), std::string("1000000!"), std::string("9^9^9"),
                           std::string("((x+1)^{1000})^{1000}"), std::string("(x+1)^{100000}")}) {
    INFO(pred.substr(0, 40));
    MathVerdict v = verify_math("5", pred);
    CHECK_FALSE(v.correct);
    CHECK(v.reason.rfind("too large", 0) == 0);
  }
  MathVerdict late = verify_math("x+1", "\\frac{x^2-1}{x-1}", {}, Deadline::in(std::chrono::milliseconds(-1)));
  CHECK_FALSE(late.correct);
  CHECK(late.reason == "timeout");
}

TEST_CASE("math: extraction by priority", "[rewards][math]") {
  CHECK(extract_answer("<think>2+3</think> <answer>5</answer>") == "5");
  CHECK(extract_answer("<answer>so \\boxed{\\frac{1}{2}}</answer>") == "\\frac{1}{2}");
  CHECK(extract_answer("first \\boxed{1} then \\boxed{\\frac{a}{\\sqrt{b}}}") == "\\frac{a}{\\sqrt{b}}");
  CHECK(extract_answer("\\fbox{7}") == "7");
  CHECK(extract_answer("So the answer is 3.5. Done") == " 3.5");
  CHECK(extract_answer("The final answer is $\\boxed{12}$") == "12");
  CHECK(extract_answer("We get 3 apples and then 41 more") == "41");
  CHECK(extract_answer("total: -2,500 dollars") == "-2,500");
  CHECK(extract_answer("no numbers here").empty());
  MathOptions boxed_only;
  boxed_only.extraction = {Extraction::kBoxed};
  CHECK(extract_answer("<answer>5</answer> \\boxed{6}", boxed_only) == "6");
  CHECK(extract_answer("<answer>5</answer>", boxed_only).empty());
  // The verifier extracts from whole completions too.
  CHECK(verify_math("5", "Adding gives 5.\nThe answer is \\boxed{5}.").correct);
  CHECK(verify_math("\\frac{1}{2}", "1/2").correct);  // a bare answer is its own answer, not its last number
}

TEST_CASE("math reward: from config, reading the reference answer", "[rewards][math]") {
  auto set = RewardSet::from_json(nlohmann::json::parse(R"([{"kind": "math", "answer_field": "solution"}])"), "r.json");
  Sample right;
  right.completion = "<think>...</think><answer>\\frac{3}{4}</answer>";
  right.reference = {{"solution", "0.75"}};
  CHECK(set.score(right).value == 1.0);
  Sample wrong = right;
  wrong.reference = {{"solution", "0.7"}};
  Score w = set.score(wrong);
  CHECK(w.value == 0.0);
  CHECK(w.reason == "math: not equal");
  Sample missing = right;
  missing.reference = nlohmann::json::object();
  CHECK(set.score(missing).reason == "math: the sample has no reference field 'solution'");
  Sample numeric = right;
  numeric.reference = {{"solution", 0.75}};  // numbers in the dataset work too
  CHECK(set.score(numeric).value == 1.0);
  CHECK_THROWS_WITH(RewardSet::from_json(nlohmann::json::parse(R"([{"kind": "math", "extraction": ["boxd"]}])"), "r.json"),
                    Catch::Contains("rewards[0].extraction: unknown rule 'boxd'"));
}

TEST_CASE("math: verifications from many threads at once give the single-threaded verdicts", "[rewards][math]") {
  // GiNaC shares expression nodes through non-atomic reference counts; the reward pool verifies on
  // several threads. Unguarded, this crashed within a few thousand verifications.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"52", "<answer> 52 </answer>"}, {"\\frac{1}{2}", "0.5"}, {"x^2 - 1", "(x-1)(x+1)"}, {"\\sqrt{8}", "2\\sqrt{2}"},
      {"3\\pi", "9.42477796"}, {"(1, 2)", "(1,2)"}, {"\\frac{a+b}{2}", "a/2 + b/2"}, {"17", "71"},
      {"x^3", "x*x*x"}, {"2^{10}", "1024"}, {"\\{1,2,3\\}", "\\{3,2,1\\}"}, {"e^{i\\pi}", "-1"}};
  std::vector<bool> want;
  for (const auto& [gold, pred] : cases) want.push_back(r1::rewards::verify_math(gold, pred).correct);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3000; ++i) {
        const size_t k = static_cast<size_t>(i * 7 + t) % cases.size();
        if (r1::rewards::verify_math(cases[k].first, cases[k].second).correct != want[k]) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(mismatches == 0);
  CHECK(want[0]);
  CHECK(want[1]);
  CHECK(want[2]);
  CHECK_FALSE(want[7]);
}

// rewards/math: the verifier on tests/data/math_cases.jsonl (gold, prediction, expected verdict, in
// both directions, including the false positives reported against other verifiers) and on
// tests/data/math_formats.jsonl (the answer formats models write, by family, each with traps that
// must be refused), extraction, reasons, the numeric tolerance, the lock-free path for plain numbers,
// hostile answers, and the "math" reward.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <fstream>
#include <thread>

#include "core/jsonl.h"
#include "rewards/math.h"
#include "rewards/math_parse.h"
#include "rewards/math_plain.h"
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

TEST_CASE("math: the answer formats models write are read, and every trap in them is refused", "[rewards][math]") {
  std::string path = std::string(R1_SOURCE_DIR) + "/tests/data/math_formats.jsonl";
  std::ifstream in(path);
  REQUIRE(in.good());
  r1::JsonLinesReader reader(in, path);
  nlohmann::json row;
  std::map<std::string, std::pair<int, int>> families;  // family -> (accepted, refused) as written
  size_t cases = 0, wrong = 0, wrongly_accepted = 0, traps = 0;
  const std::vector<std::string> reasons = {"no answer found", "empty answer", "unreadable answer: ", "approximation",
                                            "a false equation", "not equal"};
  while (reader.next(row)) {
    ++cases;
    bool want = row.at("correct").get<bool>();
    auto& counts = families[row.at("family").get<std::string>()];
    (want ? counts.first : counts.second) += 1;
    traps += !want;
    MathVerdict v = verify_math(row.at("gold").get<std::string>(), row.at("pred").get<std::string>(), {},
                                Deadline::in(std::chrono::milliseconds(2000)));
    bool known_reason = v.correct ? v.reason.empty()
                                  : std::any_of(reasons.begin(), reasons.end(),
                                                [&](const std::string& r) { return v.reason.rfind(r, 0) == 0; });
    if (v.correct != want || !known_reason) {
      ++wrong;
      wrongly_accepted += v.correct && !want;
      UNSCOPED_INFO("line " << reader.line() << " [" << row["family"].get<std::string>() << "]: gold " << row["gold"].dump()
                            << " pred " << row["pred"].dump().substr(0, 80) << " -> " << v.correct << " (" << v.reason
                            << "; " << v.gold_parsed << " | " << v.pred_parsed << ")");
    }
  }
  CHECK(cases >= 300);
  CHECK(traps * 3 >= cases);  // at least a third must be refused
  for (const char* family : {"numbers", "chains", "approximations", "words", "latex", "boxes", "matrices", "digits in words"}) {
    INFO(family);
    CHECK(families[family].second >= 10);  // every family carries traps
  }
  CHECK(wrongly_accepted == 0);
  CHECK(wrong == 0);
}

TEST_CASE("math: a refusal says why", "[rewards][math]") {
  auto reason = [](const char* gold, const char* pred) {
    MathVerdict v = verify_math(gold, pred);
    CHECK_FALSE(v.correct);
    return v.reason;
  };
  CHECK(reason("\\frac{2}{3}", "0.667") == "approximation");
  CHECK(reason("\\frac{2}{3}", "\\approx 0.667") == "approximation");
  CHECK(reason("\\frac{2}{3}", "approximately 0.667") == "approximation");
  CHECK(reason("\\sqrt{3}", "1.732") == "approximation");
  CHECK(reason("\\pi", "3.14") == "approximation");
  CHECK(reason("20", "0.2") == "not equal");  // not a rounding of 20
  CHECK(reason("4", "2 + 2 = 5") == "a false equation");
  CHECK(reason("12", "x = 3 \\cdot 4 = 13") == "a false equation");
  CHECK(reason("20", "We met at the G20 summit.") == "no answer found");
  CHECK(reason("12", "It is not 12.") == "no answer found");
  CHECK(reason("12", "13") == "not equal");
  CHECK(reason("12", "\\frac{1}{") .rfind("unreadable answer: ", 0) == 0);
  MathReward reward("math", {});
  Sample none;
  none.completion = "<think>I could not finish.</think>";
  none.reference = {{"answer", "7"}};
  CHECK(reward.score(none, {}, Deadline()).reason == "no answer found");
}

TEST_CASE("math: numeric_tolerance accepts close decimals of a non-integer gold, off by default, never for integers",
          "[rewards][math]") {
  CHECK_FALSE(verify_math("\\frac{2}{3}", "0.667").correct);
  MathOptions loose;
  loose.numeric_tolerance = 0.001;
  CHECK(verify_math("\\frac{2}{3}", "0.667", loose).correct);
  CHECK(verify_math("\\sqrt{2}", "1.4142", loose).correct);
  CHECK_FALSE(verify_math("\\frac{2}{3}", "0.67", loose).correct);  // 0.5% off
  CHECK(verify_math("12.5", "12.49", loose).correct);
  CHECK_FALSE(verify_math("100", "100.05", loose).correct);  // an integer gold stays exact
  CHECK_FALSE(verify_math("100", "99.99", loose).correct);
  CHECK(verify_math("100", "100.0", loose).correct);
  CHECK_FALSE(verify_math("\\frac{2}{3}", "x", loose).correct);
  auto set = RewardSet::from_json(
      nlohmann::json::parse(R"([{"kind": "math", "numeric_tolerance": 0.01}])"), "r.json");
  Sample close;
  close.completion = "<answer>3.14</answer>";
  close.reference = {{"answer", "\\pi"}};
  CHECK(set.score(close).value == 1.0);
  CHECK_THROWS_WITH(RewardSet::from_json(nlohmann::json::parse(R"([{"kind": "math", "numeric_tolerance": 2}])"), "r.json"),
                    Catch::Contains("rewards[0].numeric_tolerance: must be in [0, 1)"));
  CHECK_THROWS_WITH(RewardSet::from_json(nlohmann::json::parse(R"([{"kind": "math", "numeric_tolerance": -0.1}])"), "r.json"),
                    Catch::Contains("rewards[0].numeric_tolerance"));
}

TEST_CASE("math: plain numbers are compared without GiNaC, with the full verifier's verdicts", "[rewards][math]") {
  using r1::rewards::math::normalize_latex;
  // Wrapped in braces an answer keeps its value but is no plain number, so the full verifier
  // decides it: both paths must agree on verdict, reason and parsed forms.
  const std::vector<std::string> forms = {"12", "-12", "0", "12.0", "012", "2,500", "2500", "3 000", "3000", "0.5", "1/2",
                                          "\\frac{1}{2}", "-\\frac{1}{2}", "\\dfrac{3}{6}", "2/4", "0.667", "0.6667",
                                          "\\frac{2}{3}", "7/3", "2.3333", "123456789012345678", "1e3", "1000",
                                          "\\$5", "5", "20\\%", "20", "0.2", "-0.2", "\\frac{-1}{2}", "1.5", "3/2"};
  int plain = 0;
  for (const auto& gold : forms) {
    for (const auto& pred : forms) {
      INFO(gold << " vs " << pred);
      MathVerdict fast = verify_math(gold, pred);
      MathVerdict full = verify_math("{" + gold + "}", "{" + pred + "}");
      plain += r1::rewards::math::compare_plain(normalize_latex(gold), normalize_latex(pred)).has_value();
      CHECK(fast.correct == full.correct);
      CHECK(fast.reason == full.reason);
      CHECK(fast.gold_parsed == full.gold_parsed);
      CHECK(fast.pred_parsed == full.pred_parsed);
    }
  }
  CHECK(plain > static_cast<int>(forms.size() * forms.size()) / 2);
  CHECK_FALSE(r1::rewards::math::compare_plain("\\sqrt{2}", "1.41").has_value());
  CHECK_FALSE(r1::rewards::math::compare_plain("1234567890123456789", "1").has_value());  // beyond 18 digits
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
  // Boxes that only connectives separate are one answer; a box prose separates is a draft.
  CHECK(extract_answer("So $\\boxed{3}$ and $\\boxed{5}$.") == "3, 5");
  CHECK(extract_answer("x = \\boxed{2} or x = \\boxed{3}") == "2, 3");
  CHECK(extract_answer("First \\boxed{8}, but that fails; so the answer is \\boxed{6}.") == "6");
  CHECK(extract_answer("\\boxed{3} and then \\boxed{5") == "");  // a cut-off last box: no box answer
  // The final statement: what follows the last verb of the last sentence stating a value.
  CHECK(extract_answer("So the smallest $k$ is 12.") == "12");
  CHECK(extract_answer("It is not 12 but 13.") == "13");
  CHECK(extract_answer("It is not 12.").empty());
  CHECK(extract_answer("It is 12, not 13.") == "12");
  CHECK(extract_answer("There are 10 cases, so the probability is $\\frac{3}{10}$. I hope it is correct.") == "\\frac{3}{10}");
  CHECK(extract_answer("We met at the G20 summit with an mp3 file and a B52.").empty());
  CHECK(extract_answer("It is 12cm long.") == "12");  // a unit glued on is still a number
  CHECK(extract_answer("Janet earns $18 a day.\n#### 18") == " 18");  // GSM8K's answer line
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

// An evaluation's noise and its new measures against hand-computed values: Student's t quantiles,
// a mean's 95% interval, paired differences (run/eval_stats.h); the reflection matcher
// (run/reflection.h); pass@1's interval, the reflection rate and the per-difficulty measures of a
// report (run/eval_metrics.h); a row's difficulty (run/eval_data.h); the eval stage's comparison
// with its baseline (run/eval_stage.h).
#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.h"
#include "run/eval_data.h"
#include "run/eval_metrics.h"
#include "run/eval_stage.h"
#include "run/eval_stats.h"
#include "run/reflection.h"

using r1::run::EvalResult;
using r1::run::ProblemOutcome;
using r1::run::SampleOutcome;
using Catch::Matchers::Contains;
using Json = nlohmann::json;

TEST_CASE("eval stats: Student's t quantiles against the tables", "[eval]") {
  using r1::run::student_t_quantile;
  // scipy.stats.t.ppf(0.975, df).
  CHECK(student_t_quantile(0.975, 1) == Approx(12.706204736).epsilon(1e-8));
  CHECK(student_t_quantile(0.975, 2) == Approx(4.302652730).epsilon(1e-8));
  CHECK(student_t_quantile(0.975, 3) == Approx(3.182446305).epsilon(1e-8));
  CHECK(student_t_quantile(0.975, 9) == Approx(2.262157163).epsilon(1e-8));
  CHECK(student_t_quantile(0.975, 30) == Approx(2.042272456).epsilon(1e-8));
  CHECK(student_t_quantile(0.975, 100) == Approx(1.983971519).epsilon(1e-8));
  CHECK(student_t_quantile(0.975, 1e6) == Approx(1.959966).epsilon(1e-6));  // the normal's 1.95996
  CHECK(student_t_quantile(0.95, 5) == Approx(2.015048373).epsilon(1e-8));
  CHECK(student_t_quantile(0.995, 4) == Approx(4.604094871).epsilon(1e-8));
  CHECK(student_t_quantile(0.025, 9) == Approx(-2.262157163).epsilon(1e-8));  // symmetric
  CHECK(student_t_quantile(0.5, 7) == 0.0);
  CHECK_THROWS_AS(student_t_quantile(1.0, 5), r1::Error);
  CHECK_THROWS_AS(student_t_quantile(0.975, 0), r1::Error);
}

TEST_CASE("eval stats: a mean's 95% interval and paired differences, by hand", "[eval]") {
  using r1::run::mean_ci95;
  using r1::run::paired_difference;
  // {0, 0.5, 1}: sd 0.5, t(0.975, 2) 4.302653 x 0.5 / sqrt(3).
  auto m = mean_ci95({0, 0.5, 1});
  CHECK(m.mean == Approx(0.5));
  CHECK(m.n == 3);
  REQUIRE(m.ci95);
  CHECK(*m.ci95 == Approx(4.302652730 * 0.5 / std::sqrt(3.0)));
  // Ten problems, half solved: sd sqrt(2.5 / 9), t(0.975, 9) 2.262157.
  m = mean_ci95({1, 1, 1, 1, 1, 0, 0, 0, 0, 0});
  REQUIRE(m.ci95);
  CHECK(*m.ci95 == Approx(2.262157163 * std::sqrt(2.5 / 9) / std::sqrt(10.0)));
  CHECK(*m.ci95 == Approx(0.377).margin(5e-4));
  // One problem: no interval; none: mean 0.
  CHECK(!mean_ci95({0.7}).ci95);
  CHECK(mean_ci95({0.7}).mean == 0.7);
  CHECK(mean_ci95({}).n == 0);
  // All equal: a zero-width interval.
  CHECK(*mean_ci95({0.25, 0.25, 0.25}).ci95 == 0.0);

  // d = {1, 0, 0, 0}: mean 0.25, sd 0.5, t(0.975, 3) 3.182446 x 0.5 / 2: the interval holds 0.
  auto d = paired_difference({1, 1, 0.5, 0}, {0, 1, 0.5, 0});
  CHECK(d.difference == Approx(0.25));
  REQUIRE(d.ci95);
  CHECK(*d.ci95 == Approx(3.182446305 * 0.25));
  CHECK(d.within_noise);
  CHECK(d.n == 4);
  // Every problem 0.1 better: zero spread, a real difference.
  d = paired_difference({0.6, 0.6, 0.6}, {0.5, 0.5, 0.5});
  CHECK(d.difference == Approx(0.1));
  CHECK(*d.ci95 == Approx(0.0).margin(1e-12));
  CHECK(!d.within_noise);
  // The same model: no difference, within noise.
  CHECK(paired_difference({1, 0, 0.5}, {1, 0, 0.5}).within_noise);
  // A clear gain on ten problems: d = 1 on eight, 0 on two; mean 0.8, sd sqrt(1.6 / 9).
  d = paired_difference({1, 1, 1, 1, 1, 1, 1, 1, 0, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  CHECK(d.difference == Approx(0.8));
  CHECK(*d.ci95 == Approx(2.262157163 * std::sqrt(1.6 / 9) / std::sqrt(10.0)));
  CHECK(!d.within_noise);
  // One problem: no interval, so nothing is claimed.
  d = paired_difference({1}, {0});
  CHECK(!d.ci95);
  CHECK(d.within_noise);
  CHECK_THROWS_WITH(paired_difference({1, 0}, {1}), Contains("2 and 1 problems"));
}

TEST_CASE("reflection: any phrase, case-insensitively, and empty phrases refused in configurations", "[eval]") {
  using r1::run::reflects;
  const std::vector<std::string> phrases = {"wait,", "let me check"};
  CHECK(reflects("<think>2+2=5. Wait, no: 4.</think>", phrases));
  CHECK(reflects("so x = 3. LET ME CHECK: 3*3 = 9", phrases));
  CHECK(!reflects("wait for it", phrases));  // "wait," with its comma
  CHECK(!reflects("the answer is 4", phrases));
  CHECK(!reflects("Wait, yes.", {}));
  CHECK(!reflects("", phrases));
  CHECK(reflects("wait,", {"WAIT,"}));
  r1::run::check_reflection_phrases(phrases, "eval.reflection_phrases");
  CHECK_THROWS_WITH(r1::run::check_reflection_phrases({"wait,", " "}, "eval.reflection_phrases"),
                    Contains("eval.reflection_phrases[1]: an empty phrase"));
}

namespace {

SampleOutcome outcome(bool correct, int64_t tokens, std::optional<bool> reflects) {
  SampleOutcome s;
  s.accuracy = correct ? 1 : 0;
  s.formatted = true;
  s.tokens = tokens;
  s.reflects = reflects;
  return s;
}

}  // namespace

TEST_CASE("eval: pass@1's interval, the reflection rate and the measures by difficulty, by hand", "[eval]") {
  // K = 2. Difficulty 1: 2 of 2 and 1 of 2; difficulty 3: 0 of 2; one problem without a difficulty: 1 of 2.
  std::vector<ProblemOutcome> problems(4);
  problems[0].samples = {outcome(true, 10, true), outcome(true, 20, false)};
  problems[0].difficulty = 1;
  problems[0].line = 1;
  problems[1].samples = {outcome(false, 30, false), outcome(true, 40, false)};
  problems[1].difficulty = 1;
  problems[1].line = 2;
  problems[2].samples = {outcome(false, 50, true), outcome(false, 50, true)};
  problems[2].difficulty = 3;
  problems[2].line = 4;
  problems[3].samples = {outcome(true, 10, false), outcome(false, 10, false)};
  problems[3].line = 5;
  const r1::run::EvalReport report = r1::run::summarize(problems);
  CHECK(report.per_problem == std::vector<double>{1, 0.5, 0, 0.5});
  CHECK(report.problem_lines == std::vector<int64_t>{1, 2, 4, 5});
  const EvalResult& all = report.overall;
  CHECK(all.pass_at_k.at(1) == Approx(0.5));
  // p = {1, .5, 0, .5}: sd sqrt(1/6), t(0.975, 3) x sd / 2.
  REQUIRE(all.accuracy_ci95);
  CHECK(*all.accuracy_ci95 == Approx(3.182446305 * std::sqrt(1.0 / 6) / 2));
  CHECK(all.reflection_measured);
  CHECK(all.reflection_rate == Approx(3.0 / 8));
  REQUIRE(all.by_difficulty.size() == 2);
  const auto& easy = all.by_difficulty.at(1);
  CHECK(easy.problems == 2);
  CHECK(easy.samples == 4);
  CHECK(easy.pass_at_1 == Approx(0.75));
  REQUIRE(easy.accuracy_ci95);
  CHECK(*easy.accuracy_ci95 == Approx(12.706204736 * std::sqrt(0.125) / std::sqrt(2.0)));  // {1, .5}
  CHECK(easy.mean_response_tokens == Approx(25));
  CHECK(easy.reflection_rate == Approx(0.25));
  const auto& hard = all.by_difficulty.at(3);
  CHECK(hard.problems == 1);
  CHECK(hard.pass_at_1 == 0.0);
  CHECK(!hard.accuracy_ci95);  // one problem: no interval
  CHECK(hard.reflection_rate == 1.0);

  // JSON: the new keys, read back; a bucket of one problem has a null interval.
  const Json j = report.to_json();
  CHECK(j["per_problem"] == Json::array({1, 0.5, 0, 0.5}));
  CHECK(j["overall"]["accuracy_ci95"].get<double>() == Approx(*all.accuracy_ci95));
  CHECK(j["overall"]["reflection_rate"].get<double>() == Approx(0.375));
  CHECK(j["overall"]["by_difficulty"]["3"]["accuracy_ci95"].is_null());
  CHECK(j["overall"]["by_difficulty"]["1"]["pass_at_1"].get<double>() == Approx(0.75));
  const EvalResult back = EvalResult::from_json(j["overall"], "summary.json");
  CHECK(back.accuracy_ci95 == all.accuracy_ci95);
  CHECK(back.reflection_measured);
  REQUIRE(back.by_difficulty.size() == 2);
  CHECK(back.by_difficulty.at(1).accuracy_ci95 == easy.accuracy_ci95);
  CHECK(!back.by_difficulty.at(3).accuracy_ci95);
  Json bad = j["overall"];
  bad["by_difficulty"]["x"] = bad["by_difficulty"]["1"];
  CHECK_THROWS_WITH(EvalResult::from_json(bad, "summary.json"), Contains("by_difficulty.x\": the key is not an integer"));

  // The table: pass@1 with its interval, the reflection column, the block by difficulty in numeric order.
  const std::string table = r1::run::eval_report_table(report);
  INFO(table);
  CHECK_THAT(table, Contains("0.500 ± 0.650") && Contains("reflection") && Contains("| difficulty | problems |"));
  CHECK_THAT(table, Contains("0.750 ± 3.177") && Contains("0.000 ± n/a"));
  problems[2].difficulty = 10;
  problems[0].difficulty = 2;
  const std::string ordered = r1::run::eval_report_table(r1::run::summarize(problems));
  CHECK(ordered.find("| 2 ") < ordered.find("| 10 "));

  // Without phrases and difficulties: neither is reported.
  for (auto& p : problems) {
    p.difficulty.reset();
    for (auto& s : p.samples) s.reflects.reset();
  }
  const r1::run::EvalReport plain = r1::run::summarize(problems);
  CHECK(!plain.overall.reflection_measured);
  CHECK(plain.overall.by_difficulty.empty());
  CHECK(!plain.to_json()["overall"].contains("by_difficulty"));
  const std::string plain_table = r1::run::eval_report_table(plain);
  CHECK(plain_table.find("reflection") == std::string::npos);
  CHECK(plain_table.find("difficulty") == std::string::npos);
}

TEST_CASE("eval: a summary written before the interval, reflection and difficulty reads as none of them", "[eval]") {
  const Json old = {{"accuracy", 0.25}, {"format_rate", 0.5}, {"language_consistency", 1.0}, {"mean_response_tokens", 12.0},
                    {"samples", 8}, {"problems", 8}, {"samples_per_problem", 1}};
  const EvalResult r = EvalResult::from_json(old, "base_eval.json");
  CHECK(!r.accuracy_ci95);
  CHECK(!r.reflection_measured);
  CHECK(r.reflection_rate == 0.0);
  CHECK(r.by_difficulty.empty());
  CHECK_THAT(r1::run::mean_with_ci(0.25, r.accuracy_ci95), Contains("0.250 ± n/a"));
}

TEST_CASE("eval data: a row's difficulty is an integer, or the error names the line", "[eval]") {
  const r1::run::EvalFields fields;
  auto row = r1::run::parse_eval_row(Json{{"question", "q"}, {"answer", "1"}, {"difficulty", 3}}, "h.jsonl", 1, fields);
  CHECK(r1::run::row_difficulty(row, "") == 3);
  row = r1::run::parse_eval_row(Json{{"question", "q"}, {"answer", "1"}, {"difficulty", 2.0}}, "h.jsonl", 2, fields);
  CHECK(r1::run::row_difficulty(row, "") == 2);
  row = r1::run::parse_eval_row(Json{{"question", "q"}, {"answer", "1"}}, "h.jsonl", 3, fields);
  CHECK(!r1::run::row_difficulty(row, ""));
  CHECK_THROWS_WITH(r1::run::parse_eval_row(Json{{"question", "q"}, {"answer", "1"}, {"difficulty", "hard"}}, "h.jsonl", 4, fields),
                    Contains("h.jsonl:4: \"difficulty\" must be an integer, got \"hard\""));
  CHECK_THROWS_WITH(r1::run::parse_eval_row(Json{{"question", "q"}, {"answer", "1"}, {"difficulty", 2.5}}, "h.jsonl", 5, fields),
                    Contains("h.jsonl:5: \"difficulty\" must be an integer"));
}

TEST_CASE("eval stage: each model against the baseline, problem by problem, labelled within noise", "[eval]") {
  using r1::run::EvalRow;
  auto row = [](const std::string& name, std::vector<double> p, std::vector<int64_t> lines) {
    EvalRow r;
    r.name = name;
    r.per_problem = std::move(p);
    r.problem_lines = std::move(lines);
    r.result.problems = static_cast<int64_t>(r.per_problem.size());
    r.result.accuracy = r1::run::mean_ci95(r.per_problem).mean;
    r.result.accuracy_ci95 = r1::run::mean_ci95(r.per_problem).ci95;
    r.result.pass_at_k[1] = r.result.accuracy;
    return r;
  };
  EvalRow base = row("base", {0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EvalRow better = row("R1", {1, 1, 1, 1, 1, 1, 1, 1, 0, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EvalRow same = row("noise", {0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  const auto up = r1::run::compare_rows(better, base);
  CHECK(up.difference == Approx(0.8));
  CHECK(!up.within_noise);
  CHECK(r1::run::difference_cell(up) == "+0.800 ± 0.302");
  const auto flat = r1::run::compare_rows(same, base);
  CHECK(flat.difference == Approx(0.0));
  CHECK(flat.within_noise);
  CHECK(r1::run::difference_cell(flat).ends_with(" (within noise)"));
  // A model whose context left a problem out: compared on the problems both answered.
  EvalRow fewer = row("short", {1, 1, 1}, {1, 2, 10});
  const auto part = r1::run::compare_rows(fewer, base);
  CHECK(part.n == 3);
  CHECK(part.difference == Approx(2.0 / 3));

  better.baseline = same.baseline = base.baseline = "base";
  better.vs_baseline = up;
  same.vs_baseline = flat;
  const std::string table = r1::run::eval_table({base, better, same});
  INFO(table);
  CHECK_THAT(table, Contains("| model | accuracy | vs base |"));
  CHECK_THAT(table, Contains("| base | 0.100 ± 0.226 | (baseline) |"));
  CHECK_THAT(table, Contains("| R1 | 0.900 ± 0.226 | +0.800 ± 0.302 |"));
  CHECK_THAT(table, Contains("| noise | 0.100 ± 0.226 | +0.000 ± 0.337 (within noise) |"));
}

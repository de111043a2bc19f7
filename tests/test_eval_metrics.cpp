// Evaluation's measures (run/eval_metrics.h) against hand-computed values, and the reading of held-out
// rows as GSM8K, MATH, AIME and verl ship them (run/eval_data.h).
#include <catch2/catch.hpp>

#include <fstream>

#include "core/error.h"
#include "rewards/math.h"
#include "run/eval_data.h"
#include "run/eval_metrics.h"
#include "tests/run_helpers.h"

using r1::run::EvalReport;
using r1::run::EvalResult;
using r1::run::majority_vote;
using r1::run::pass_at_k;
using r1::run::ProblemOutcome;
using r1::run::SampleOutcome;
using Catch::Matchers::Contains;
using Json = nlohmann::json;

TEST_CASE("pass@k: the unbiased estimator against hand-computed values", "[eval]") {
  // No correct sample: 0 whatever k; all correct: 1.
  CHECK(pass_at_k(5, 0, 1) == 0.0);
  CHECK(pass_at_k(5, 0, 5) == 0.0);
  CHECK(pass_at_k(5, 5, 1) == 1.0);
  CHECK(pass_at_k(5, 5, 3) == 1.0);
  // 1 - C(3,2)/C(5,2) = 1 - 3/10.
  CHECK(pass_at_k(5, 2, 2) == Approx(0.7).epsilon(1e-15));
  // k = 1 is c/n.
  CHECK(pass_at_k(10, 3, 1) == Approx(0.3).epsilon(1e-15));
  CHECK(pass_at_k(64, 1, 1) == Approx(1.0 / 64).epsilon(1e-15));
  // 1 - C(7,5)/C(10,5) = 1 - 21/252.
  CHECK(pass_at_k(10, 3, 5) == Approx(1.0 - 21.0 / 252.0).epsilon(1e-15));
  CHECK(pass_at_k(64, 1, 8) == Approx(0.125).epsilon(1e-14));
  // n = k: 1 when any sample is correct, 0 when none is.
  CHECK(pass_at_k(4, 1, 4) == 1.0);
  CHECK(pass_at_k(4, 0, 4) == 0.0);
  CHECK(pass_at_k(1, 1, 1) == 1.0);
  CHECK(pass_at_k(1, 0, 1) == 0.0);
  // Large n, where C(n, k) overflows any float: exact values from Python's fractions and math.comb.
  CHECK(pass_at_k(1000, 10, 100) == Approx(0.653072285207994).epsilon(1e-12));
  CHECK(pass_at_k(5000, 3, 2500) == Approx(0.8750750150030006).epsilon(1e-12));
  CHECK(pass_at_k(100000, 50, 1000) == Approx(0.3950688149282697).epsilon(1e-12));
  CHECK(pass_at_k(2000, 1999, 1) == Approx(0.9995).epsilon(1e-12));
  CHECK(pass_at_k(200, 1, 100) == Approx(0.5).epsilon(1e-12));
  // Out of range: k above n, k below 1, c above n.
  CHECK_THROWS_WITH(pass_at_k(4, 1, 5), Contains("1 <= k <= n"));
  CHECK_THROWS_AS(pass_at_k(4, 1, 0), r1::Error);
  CHECK_THROWS_AS(pass_at_k(4, 5, 1), r1::Error);
  CHECK_THROWS_AS(pass_at_k(4, -1, 1), r1::Error);
}

TEST_CASE("pass@k: the k reported for K samples are the powers of two below K, then K", "[eval]") {
  using V = std::vector<int64_t>;
  CHECK(r1::run::pass_k_values(1) == V{1});
  CHECK(r1::run::pass_k_values(2) == V{1, 2});
  CHECK(r1::run::pass_k_values(10) == V{1, 2, 4, 8, 10});
  CHECK(r1::run::pass_k_values(64) == V{1, 2, 4, 8, 16, 32, 64});
  CHECK_THROWS_AS(r1::run::pass_k_values(0), r1::Error);
}

TEST_CASE("maj@k: the largest group of equal answers wins, a tie goes to the group seen first", "[eval]") {
  using A = std::vector<std::optional<std::string>>;
  auto text = [](const std::string& a, const std::string& b) { return a == b; };
  CHECK(majority_vote(A{"4", "3", "3"}, text) == 1);
  CHECK(majority_vote(A{"3", "4", "3", std::nullopt, "4"}, text) == 0);  // 2 against 2: "3" came first
  CHECK(majority_vote(A{std::nullopt, "4", "3", "3", "4"}, text) == 1);  // 2 against 2: "4" came first
  CHECK(majority_vote(A{std::nullopt, std::nullopt}, text) == -1);       // nobody states an answer
  CHECK(majority_vote(A{}, text) == -1);
  CHECK(majority_vote(A{std::nullopt, "7"}, text) == 1);                 // a lone answer wins
  // Equivalence decides the groups: 0.5 and 1/2 are one answer with two votes against 7's one. The
  // equivalence is not asked about answers that are equal as text.
  int asked = 0;
  auto numeric = [&](const std::string& a, const std::string& b) {
    ++asked;
    auto value = [](const std::string& s) { return s == "1/2" ? 0.5 : std::stod(s); };
    return value(a) == value(b);
  };
  CHECK(majority_vote(A{"7", "0.5", "1/2"}, numeric) == 1);
  asked = 0;
  CHECK(majority_vote(A{"7", "7", "7"}, numeric) == 0);
  CHECK(asked == 0);
  // With the math verifier as the equivalence, as evaluation uses it.
  auto verifier = [](const std::string& a, const std::string& b) { return r1::rewards::verify_math(a, b).correct; };
  CHECK(majority_vote(A{"3", "\\frac{1}{2}", "0.5", "3.0", "1/2"}, verifier) == 1);
}

namespace {

SampleOutcome sample(double accuracy, bool formatted, int64_t tokens, bool truncated, std::optional<std::string> answer,
                     size_t target_words = 0, size_t words = 0) {
  SampleOutcome s;
  s.accuracy = accuracy;
  s.formatted = formatted;
  s.tokens = tokens;
  s.truncated = truncated;
  s.answer = std::move(answer);
  s.target_words = target_words;
  s.words = words;
  return s;
}

}  // namespace

TEST_CASE("eval: a report's measures, overall and per data source, against hand-computed values", "[eval]") {
  // Three problems of K = 4 samples. Source a: 1 correct of 4 (the vote picks a wrong answer), 4 of 4;
  // source b: 0 of 4.
  std::vector<ProblemOutcome> problems(3);
  problems[0].source = "a";
  problems[0].samples = {sample(1, true, 10, false, "5", 8, 10), sample(0, true, 20, false, "6", 2, 10),
                         sample(0, false, 30, true, "6"), sample(0, false, 40, true, std::nullopt)};
  problems[0].vote = 1;
  problems[1].source = "a";
  problems[1].samples = {sample(1, true, 10, false, "2", 5, 5), sample(1, true, 10, false, "2"),
                         sample(1, true, 10, false, "2"), sample(1, true, 10, false, "2")};
  problems[1].vote = 0;
  problems[2].source = "b";
  problems[2].samples = {sample(0, false, 50, true, std::nullopt), sample(0.5, true, 50, true, std::nullopt),
                         sample(0, false, 50, true, std::nullopt), sample(0, false, 50, true, std::nullopt)};
  problems[2].vote = -1;
  const EvalReport report = r1::run::summarize(problems);
  const EvalResult& all = report.overall;
  CHECK(all.problems == 3);
  CHECK(all.samples == 12);
  CHECK(all.samples_per_problem == 4);
  REQUIRE(all.pass_at_k.size() == 3);  // k = 1, 2, 4
  CHECK(all.pass_at_k.at(1) == Approx((0.25 + 1 + 0) / 3));
  CHECK(all.pass_at_k.at(2) == Approx((0.5 + 1 + 0) / 3));  // 1 - C(3,2)/C(4,2) = 0.5
  CHECK(all.pass_at_k.at(4) == Approx((1 + 1 + 0) / 3.0));
  CHECK(all.maj_at_k == Approx(1.0 / 3));      // only the second problem's vote is right
  CHECK(all.accuracy == Approx(5.5 / 12));     // the mean component: 0.5 counts here, not in pass@k
  CHECK(all.format_rate == Approx(7.0 / 12));
  CHECK(all.truncation_rate == Approx(6.0 / 12));
  CHECK(all.mean_response_tokens == Approx((100 + 40 + 200) / 12.0));
  CHECK(all.language_consistency == Approx(15.0 / 25));  // pooled words
  REQUIRE(report.by_source.size() == 2);
  const EvalResult& a = report.by_source.at("a");
  const EvalResult& b = report.by_source.at("b");
  CHECK(a.problems == 2);
  CHECK(b.problems == 1);
  CHECK(a.pass_at_k.at(1) == Approx(0.625));
  CHECK(a.maj_at_k == Approx(0.5));
  CHECK(b.pass_at_k.at(4) == 0.0);
  CHECK(b.truncation_rate == 1.0);
  CHECK(b.language_consistency == 0.0);  // no words at all

  // JSON: stable keys, read back; the table names every source.
  const Json j = report.to_json();
  for (const char* key : {"accuracy", "format_rate", "language_consistency", "mean_response_tokens", "samples", "problems",
                          "samples_per_problem", "pass_at_k", "maj_at_k", "truncation_rate"})
    CHECK(j["overall"].contains(key));
  CHECK(j["overall"]["pass_at_k"]["4"].get<double>() == Approx(2.0 / 3));
  CHECK(j["by_source"]["a"]["problems"] == 2);
  const EvalResult back = EvalResult::from_json(j["overall"], "test");
  CHECK(back.pass_at_k == all.pass_at_k);
  CHECK(back.maj_at_k == all.maj_at_k);
  const std::string table = r1::run::eval_report_table(report);
  CHECK_THAT(table, Contains("pass@4") && Contains("maj@4") && Contains("| all ") && Contains("| a ") && Contains("| b "));

  // No source anywhere: no per-source rows. Samples per problem must agree.
  for (auto& p : problems) p.source.clear();
  CHECK(r1::run::summarize(problems).by_source.empty());
  problems[2].samples.pop_back();
  CHECK_THROWS_WITH(r1::run::summarize(problems), Contains("different numbers of samples"));
}

TEST_CASE("eval: a summary.json written before pass@k existed still reads, as one sample a problem", "[eval]") {
  const Json old = {{"accuracy", 0.25}, {"format_rate", 0.5}, {"language_consistency", 1.0}, {"mean_response_tokens", 12.0},
                    {"samples", 8}};
  const EvalResult r = EvalResult::from_json(old, "base_eval.json");
  CHECK(r.samples_per_problem == 1);
  CHECK(r.problems == 8);
  CHECK(r.pass_at_k.at(1) == 0.25);
  CHECK_THROWS_WITH(EvalResult::from_json(Json{{"accuracy", 1}}, "base_eval.json"), Contains("base_eval.json") && Contains("format_rate"));
}

TEST_CASE("eval data: gold answers read from GSM8K solutions, MATH solutions, AIME integers and plain strings", "[eval]") {
  using r1::run::gold_answer;
  CHECK(gold_answer(Json("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n#### 72")) == "72");
  CHECK(gold_answer(Json("She pays 1,000 + 200 = 1,200.\n#### 1,200")) == "1,200");
  CHECK(gold_answer(Json("#### -3.5\n")) == "-3.5");
  CHECK(gold_answer(Json("Adding, we get $\\frac{1}{2} + \\frac{1}{3} = \\boxed{\\frac{5}{6}}$.")) == "\\frac{5}{6}");
  CHECK(gold_answer(Json("The roots are $\\boxed{2}$ and $\\boxed{3}$.")) == "2, 3");
  CHECK(gold_answer(Json(204)) == "204");
  CHECK(gold_answer(Json("033")) == "033");
  CHECK(gold_answer(Json("  \\frac{5}{6} ")) == "\\frac{5}{6}");
  CHECK(gold_answer(Json(2.5)) == "2.5");
  // No answer: nothing after ####, an empty string, an unclosed box, not a string or number.
  CHECK(!gold_answer(Json("The answer follows.\n####")));
  CHECK(!gold_answer(Json("   ")));
  CHECK(!gold_answer(Json("so \\boxed{3")));
  CHECK(!gold_answer(Json()));
  CHECK(!gold_answer(Json::array({1, 2})));
  // A solution is prose: without a box or "####" it states no answer.
  CHECK(!gold_answer(Json("We add the two numbers and get five."), true));
  CHECK(gold_answer(Json("so $\\boxed{5}$"), true) == "5");
  // The math verifier judges what was read: a GSM8K "1,200" is 1200.
  CHECK(r1::rewards::verify_math(*gold_answer(Json("#### 1,200")), "1200").correct);
  CHECK(r1::rewards::verify_math(*gold_answer(Json("so $\\boxed{\\frac{5}{6}}$")), "the answer is 10/12").correct);
}

TEST_CASE("eval data: rows as GSM8K, MATH, AIME and verl ship them, and the errors of bad rows", "[eval]") {
  using r1::run::parse_eval_row;
  const r1::run::EvalFields fields;
  auto gsm = parse_eval_row(Json{{"question", "Natalia sold clips..."}, {"answer", "48+24=72\n#### 72"}}, "gsm8k.jsonl", 1, fields);
  CHECK(gsm.prompt == "Natalia sold clips...");
  CHECK(gsm.reference["answer"] == "72");
  CHECK(!gsm.reference.contains("question"));
  CHECK(gsm.source.empty());
  auto math = parse_eval_row(Json{{"problem", "What is $1/2 + 1/3$?"}, {"solution", "It is $\\boxed{\\frac56}$."},
                                  {"level", "Level 2"}, {"type", "Algebra"}},
                             "math.jsonl", 2, fields);
  CHECK(math.prompt == "What is $1/2 + 1/3$?");
  CHECK(math.reference["answer"] == "\\frac56");
  CHECK(math.reference["level"] == "Level 2");
  // MATH-500 has a clean answer beside the solution: "answer" comes first.
  auto m500 = parse_eval_row(Json{{"problem", "p"}, {"solution", "\\boxed{x}"}, {"answer", "5"}}, "m.jsonl", 1, fields);
  CHECK(m500.reference["answer"] == "5");
  auto aime = parse_eval_row(Json{{"problem", "Find N."}, {"answer", 204}, {"data_source", "aime24"}}, "aime.jsonl", 3, fields);
  CHECK(aime.reference["answer"] == "204");
  CHECK(aime.source == "aime24");
  auto verl = parse_eval_row(Json{{"data_source", "openai/gsm8k"},
                                  {"prompt", Json::array({Json{{"role", "user"}, {"content", "How many?"}}})},
                                  {"reward_model", Json{{"style", "rule"}, {"ground_truth", "72"}}}},
                             "verl.jsonl", 4, fields);
  CHECK(verl.prompt.empty());
  CHECK(verl.messages.size() == 1);
  CHECK(verl.reference["answer"] == "72");
  CHECK(verl.source == "openai/gsm8k");
  auto plain = parse_eval_row(Json{{"prompt", "1+1?"}, {"answer", "2"}, {"source", 7}}, "p.jsonl", 5, fields);
  CHECK(plain.source == "7");

  // Named fields, paths included.
  r1::run::EvalFields named;
  named.prompt = "input";
  named.answer = "meta.target";
  named.source = "meta.set";
  auto custom = parse_eval_row(Json{{"input", "q"}, {"meta", Json{{"target", "#### 9"}, {"set", "dev"}}}}, "c.jsonl", 6, named);
  CHECK(custom.prompt == "q");
  CHECK(custom.reference["answer"] == "9");
  CHECK(custom.source == "dev");

  // Errors name the file, the line and the field.
  CHECK_THROWS_WITH(parse_eval_row(Json{{"answer", "2"}}, "bad.jsonl", 7, fields),
                    Contains("bad.jsonl:7: no prompt") && Contains("\"question\""));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"question", "q"}}, "bad.jsonl", 8, fields),
                    Contains("bad.jsonl:8: no gold answer") && Contains("\"solution\""));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"question", "q"}, {"answer", "work\n####  "}}, "bad.jsonl", 9, fields),
                    Contains("bad.jsonl:9: \"answer\" holds no gold answer"));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"question", "q"}, {"answer", Json::array()}}, "bad.jsonl", 10, fields),
                    Contains("bad.jsonl:10: \"answer\" holds no gold answer") && Contains("array"));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"problem", "p"}, {"solution", "It is five."}}, "bad.jsonl", 16, fields),
                    Contains("bad.jsonl:16: \"solution\" holds no gold answer (a solution states it in \\boxed{...}"));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"question", 5}, {"answer", "1"}}, "bad.jsonl", 11, fields),
                    Contains("bad.jsonl:11: \"question\" must be a string"));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"q", "x"}, {"meta", Json::object()}}, "bad.jsonl", 12, named),
                    Contains("bad.jsonl:12: no \"input\" (the prompt field)"));
  CHECK_THROWS_WITH(parse_eval_row(Json{{"input", "x"}, {"meta", Json{{"target", "1"}}}}, "bad.jsonl", 13, named),
                    Contains("bad.jsonl:13: no \"meta.set\" (the source field)"));
  CHECK_THROWS_WITH(parse_eval_row(Json::array(), "bad.jsonl", 14, fields), Contains("bad.jsonl:14: expected a JSON object"));
  // Without a math judge a row needs no gold answer (code tests, a plugin's own reference).
  r1::run::EvalFields free = fields;
  free.require_answer = false;
  auto code = parse_eval_row(Json{{"prompt", "Write f."}, {"tests", Json::array({"assert f() == 1"})}}, "c.jsonl", 15, free);
  CHECK(!code.reference.contains("answer"));
  CHECK(code.reference["tests"].size() == 1);
}

TEST_CASE("eval data: a held-out file with a malformed line or a row without an answer stops, naming the line", "[eval]") {
  r1::test::Dir dir("r1-eval-data-", "load");
  const std::string path = dir / "heldout.jsonl";
  r1::test::write(path, "{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \"b\", \"answer\": \n");
  CHECK_THROWS_WITH(r1::run::load_eval_dataset(path, {}, false), Contains(path + ":2: malformed JSON"));
  r1::test::write(path, "{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \"b\"}\n{\"problem\": \"c\", \"answer\": 3}\n");
  CHECK_THROWS_WITH(r1::run::load_eval_dataset(path, {}, false), Contains(path + ":2: no gold answer"));
  const r1::run::PromptDataset kept = r1::run::load_eval_dataset(path, {}, true);  // skip: counted
  CHECK(kept.size() == 2);
  CHECK(kept.skipped() == 1);
  CHECK(kept.row(1).reference["answer"] == "3");
}

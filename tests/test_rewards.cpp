// rewards/: format, language consistency, length and repetition shaping against hand-computed
// values; reward sets from config (errors name the key); the batch scorer with throwing and hanging
// rewards.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <thread>

#include "core/error.h"
#include "rewards/format.h"
#include "rewards/language.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"
#include "rewards/shaping.h"

using namespace r1::rewards;
using nlohmann::json;

namespace {

Sample completion(std::string text, std::string language = "en", int64_t tokens = -1) {
  Sample s;
  s.completion = std::move(text);
  s.target_language = std::move(language);
  s.completion_tokens = tokens;
  return s;
}

Score run(const Reward& r, const Sample& s, const Components& earlier = {}) { return r.score(s, earlier, Deadline()); }

}  // namespace

TEST_CASE("format: strict R1-Zero shape", "[rewards][format]") {
  FormatReward strict("format", {});
  CHECK(run(strict, completion(" <think> 2+3 is 5 </think> <answer> 5 </answer>")).value == 1.0);
  CHECK(run(strict, completion("<think>\nx\n</think>\n<answer>\n5\n</answer>\n")).value == 1.0);
  auto check_fails = [&](const std::string& text, const std::string& reason) {
    Score s = run(strict, completion(text));
    CHECK(s.value == 0.0);
    CHECK(s.reason == reason);
  };
  check_fails("<think>x</think> <answer>5</answer> and more", "text after </answer>");
  check_fails("Sure! <think>x</think><answer>5</answer>", "text before <think>");
  check_fails("<think>x</think> so <answer>5</answer>", "text between </think> and <answer>");
  check_fails("<think>x</think>", "missing <answer>");
  check_fails("<think>x</think><think>y</think><answer>5</answer>", "duplicated <think>");
  check_fails("<think>x <answer>5</answer> </think>", "nested: <answer> inside the think block");
  check_fails("<answer>5</answer><think>x</think>", "tags out of order");
  check_fails("<think>  </think><answer>5</answer>", "empty think block");
  check_fails("<think>x</think><answer></answer>", "empty answer block");
  check_fails("", "missing <think>");
}

TEST_CASE("format: lenient mode, partial credit, custom tags", "[rewards][format]") {
  FormatReward lenient("format", {"think", "answer", false, false});
  CHECK(run(lenient, completion("Sure! <think>x</think> so <answer>5</answer> done")).value == 1.0);
  CHECK(run(lenient, completion("<think>x</think>")).value == 0.0);
  FormatReward partial("format", {"think", "answer", true, true});
  CHECK(run(partial, completion("<think>x</think> <answer>5")).value == Approx(0.75));
  CHECK(run(partial, completion("<think>x</think><think>y</think><answer>5</answer>")).value == Approx(0.5));
  CHECK(run(partial, completion("<think>x</think><answer>5</answer>")).value == 1.0);
  FormatReward custom("format", {"reasoning", "solution", true, false});
  CHECK(run(custom, completion("<reasoning>x</reasoning><solution>5</solution>")).value == 1.0);
  CHECK(run(custom, completion("<think>x</think><answer>5</answer>")).value == 0.0);
}

TEST_CASE("language: fraction of target-language words in the chain of thought", "[rewards][language]") {
  LanguageConsistencyReward lang("language", {});
  // Only the think block counts; digits and punctuation are neutral.
  CHECK(run(lang, completion("<think>Add 2 and 3, get 5.</think><answer>五</answer>")).value == 1.0);
  // 3 Latin words + 2 Han characters (one word each).
  CHECK(run(lang, completion("<think>we need 计算 this</think>")).value == Approx(3.0 / 5.0));
  CHECK(run(lang, completion("<think>我们需要计算 this</think>", "zh")).value == Approx(6.0 / 7.0));
  // Japanese counts Han and kana; Korean counts Hangul words (space separated).
  CHECK(run(lang, completion("答えはです test", "ja")).value == Approx(5.0 / 6.0));
  CHECK(run(lang, completion("정답은 다섯 입니다 five", "ko")).value == Approx(3.0 / 4.0));
  // A combining mark stays in its word; "é" decomposed is one Latin word with "caf".
  CHECK(run(lang, completion("cafe\u0301 Привет", "en")).value == Approx(0.5));
  CHECK(run(lang, completion("cafe\u0301 Привет", "ru")).value == Approx(0.5));
  Score none = run(lang, completion("<think>1 + 2 = 3 !!</think>"));
  CHECK(none.value == 0.0);
  CHECK(none.reason == "no words in the chain of thought");
  CHECK_THROWS_WITH(run(lang, completion("x", "tlh")), Catch::Contains("no script known for language 'tlh'"));
  LanguageConsistencyReward cyrillic("language", {"think", "en", {"Cyrl"}});
  CHECK(run(cyrillic, completion("Привет мир hello")).value == Approx(2.0 / 3.0));
  CHECK_THROWS_WITH(LanguageConsistencyReward("language", {"think", "en", {"Klingon"}}), Catch::Contains("unknown script"));
}

TEST_CASE("overlong: DAPO's soft punishment", "[rewards][shaping]") {
  OverlongReward r("overlong", {100, 20});
  CHECK(run(r, completion("", "en", 80)).value == 0.0);
  CHECK(run(r, completion("", "en", 90)).value == Approx(-0.5));
  CHECK(run(r, completion("", "en", 100)).value == Approx(-1.0));
  CHECK(run(r, completion("", "en", 101)).value == -1.0);
  CHECK_THROWS_WITH(run(r, completion("")), Catch::Contains("no completion_tokens"));
  CHECK_THROWS_AS(OverlongReward("overlong", {100, 200}), r1::ConfigError);
}

TEST_CASE("cosine: short correct and long wrong answers are favoured", "[rewards][shaping]") {
  CosineLengthReward r("cosine", {});
  Components right = {{"math", 1.0}}, wrong = {{"math", 0.0}};
  CHECK(run(r, completion("", "en", 0), right).value == Approx(1.0));
  CHECK(run(r, completion("", "en", 4096), right).value == Approx(0.5));
  CHECK(run(r, completion("", "en", 2048), right).value == Approx(0.75));
  CHECK(run(r, completion("", "en", 0), wrong).value == Approx(-1.0));
  CHECK(run(r, completion("", "en", 4096), wrong).value == Approx(-0.5));
  CHECK(run(r, completion("", "en", 9999), wrong).value == Approx(-0.5));  // clamped
  CHECK_THROWS_WITH(run(r, completion("", "en", 10)), Catch::Contains("needs the 'math' reward listed before it"));
}

TEST_CASE("max: one accuracy over a set mixing math and code rows", "[rewards][shaping]") {
  MaxOfReward r("accuracy", {"math", "code"});
  CHECK(run(r, completion(""), {{"math", 1.0}, {"code", 0.0}}).value == 1.0);
  CHECK(run(r, completion(""), {{"math", 0.0}, {"code", 0.5}}).value == 0.5);
  CHECK(run(r, completion(""), {{"math", 0.0}, {"code", 0.0}}).value == 0.0);
  CHECK_THROWS_WITH(run(r, completion(""), {{"math", 1.0}}), Catch::Contains("needs the 'code' reward listed before it"));
  CHECK_THROWS_AS(MaxOfReward("accuracy", {}), r1::ConfigError);
  // From config: the parts at weight 0, so only the combination counts in the total.
  auto config = json::parse(R"({"rewards": [{"name": "format", "id": "a", "weight": 0},
                                            {"name": "format", "id": "b", "mode": "lenient", "weight": 0},
                                            {"name": "max", "id": "accuracy", "of": ["a", "b"]}]})");
  RewardSet set = RewardSet::from_json(config, "r.json");
  Sample lenient_only = completion("x <think> t </think> <answer> 1 </answer>");
  Score s = set.score(lenient_only);
  CHECK(s.components.at("a") == 0.0);
  CHECK(s.components.at("b") == 1.0);
  CHECK(s.components.at("accuracy") == 1.0);
  CHECK(s.value == 1.0);
}

TEST_CASE("repetition: share of repeated n-grams times the penalty", "[rewards][shaping]") {
  RepetitionPenalty r("repetition", {2, -1.0});
  CHECK(run(r, completion("a b c d")).value == 0.0);
  // "a b a b a b": 5 bigrams, 2 distinct -> -(1 - 2/5) = -0.6
  CHECK(run(r, completion("a b a b a b")).value == Approx(-0.6));
  CHECK(run(r, completion("a")).value == 0.0);
  CHECK_THROWS_AS(RepetitionPenalty("repetition", {2, 0.5}), r1::ConfigError);
}

TEST_CASE("reward set: weights, components, reasons and config errors", "[rewards][config]") {
  auto config = json::parse(R"({"rewards": [{"name": "format", "weight": 2.0},
                                            {"name": "language", "id": "lang", "weight": 0.5},
                                            {"name": "overlong", "max_length": 100, "buffer": 20}]})");
  RewardSet set = RewardSet::from_json(config, "r.json");
  Score s = set.score(completion("<think>hello world</think><answer>5</answer>", "en", 90));
  CHECK(s.components.at("format") == 1.0);
  CHECK(s.components.at("lang") == 1.0);
  CHECK(s.components.at("overlong") == Approx(-0.5));
  CHECK(s.value == Approx(2.0 + 0.5 - 0.5));
  Score missing = set.score(completion("<think>hi</think><answer>5</answer>"));  // no completion_tokens
  CHECK(missing.components.at("overlong") == 0.0);
  CHECK(missing.reason == "overlong: overlong: the sample has no completion_tokens (length in tokens)");

  auto bad = [](const char* text) { return RewardSet::from_json(json::parse(text), "r.json"); };
  CHECK_THROWS_WITH(bad(R"({"rewards": [{"name": "formt"}]})"),
                    "r.json: rewards[0].name: unknown reward 'formt' (did you mean 'format'?)");
  CHECK_THROWS_WITH(bad(R"({"rewards": [{"name": "format", "partial_credt": true}]})"),
                    "r.json: rewards[0].partial_credt: unknown key (did you mean 'partial_credit'?)");
  CHECK_THROWS_WITH(bad(R"({"rewards": [{"name": "format", "mode": "loose"}]})"),
                    Catch::Contains("rewards[0].mode: expected one of strict|lenient"));
  CHECK_THROWS_WITH(bad(R"({"rewards": [{"name": "format"}, {"name": "format"}]})"),
                    Catch::Contains("component 'format' appears twice"));
  CHECK_THROWS_WITH(bad(R"({"rewards": []})"), Catch::Contains("non-empty array"));
  CHECK_THROWS_WITH(bad(R"({"rewards": [{"name": "format", "weight": "1"}]})"),
                    "r.json: rewards[0].weight: expected number, got string");
  CHECK_THROWS_WITH(bad(R"({"reward": []})"), Catch::Contains("unknown key (did you mean 'rewards'?)"));
}

namespace {

// Test-only kinds: one that throws, one that hangs without looking at its deadline.
struct Throwing : Reward {
  std::string id = "boom";
  const std::string& name() const override { return id; }
  Score score(const Sample&, const Components&, const Deadline&) const override {
    throw std::runtime_error("division by zero");
  }
};
struct Hanging : Reward {
  std::string id = "slow";
  const std::string& name() const override { return id; }
  Score score(const Sample& s, const Components&, const Deadline&) const override {
    if (s.completion == "hang") std::this_thread::sleep_for(std::chrono::seconds(3));
    return Score{1.0, {}, ""};
  }
};

}  // namespace

TEST_CASE("batch scorer: a throwing reward scores 0 with its message", "[rewards][scorer]") {
  auto set = std::make_shared<RewardSet>();
  set->add(std::make_shared<FormatReward>("format", FormatOptions{}), 1.0, std::chrono::milliseconds(1000));
  set->add(std::make_shared<Throwing>(), 1.0, std::chrono::milliseconds(1000));
  BatchScorer scorer(set, 2);
  auto scores = scorer.score({completion("<think>a</think><answer>b</answer>"), completion("no")});
  REQUIRE(scores.size() == 2);
  CHECK(scores[0].value == 1.0);
  CHECK(scores[0].components.at("boom") == 0.0);
  CHECK(scores[0].reason == "boom: division by zero");
  CHECK(scores[1].value == 0.0);
}

TEST_CASE("batch scorer: a hanging reward cannot stall the batch", "[rewards][scorer]") {
  auto set = std::make_shared<RewardSet>();
  set->add(std::make_shared<FormatReward>("format", FormatOptions{}), 1.0, std::chrono::milliseconds(100));
  set->add(std::make_shared<Hanging>(), 1.0, std::chrono::milliseconds(100));
  BatchScorer scorer(set, 2);
  std::vector<Sample> samples;
  for (int i = 0; i < 20; ++i) samples.push_back(completion(i % 7 == 3 ? "hang" : "<think>a</think><answer>b</answer>"));
  BatchStats stats;
  auto start = std::chrono::steady_clock::now();
  auto scores = scorer.score(samples, &stats);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 2.0);  // three 3-second hangs, two threads: waiting for them would take >= 3 s
  CHECK(stats.timeouts == 3);
  for (size_t i = 0; i < samples.size(); ++i) {
    INFO("sample " << i);
    if (i % 7 == 3) {
      CHECK(scores[i].reason == "slow: timeout");
      CHECK(scores[i].components.at("format") == 0.0);  // "hang" has no tags: format ran and gave 0
      CHECK(scores[i].components.at("slow") == 0.0);
      CHECK(scores[i].value == 0.0);
    } else {
      CHECK(scores[i].value == 2.0);
      CHECK(scores[i].reason.empty());
    }
  }
}

TEST_CASE("samples from JSON rows: reference fields and types", "[rewards][config]") {
  Sample s = sample_from_json(json::parse(R"({"prompt": "p", "completion": "c", "answer": "5", "completion_tokens": 7})"));
  CHECK(s.prompt == "p");
  CHECK(s.completion_tokens == 7);
  CHECK(s.reference == json::parse(R"({"answer": "5"})"));
  Sample t = sample_from_json(json::parse(R"({"completion": "c", "reference": {"tests": [1]}, "extra": 1})"));
  CHECK(t.reference == json::parse(R"({"tests": [1]})"));
  CHECK_THROWS_WITH(sample_from_json(json::parse(R"({"completion": 5})")), "completion: expected string, got integer");
  CHECK_THROWS_AS(sample_from_json(json::parse("[1]")), r1::ConfigError);
}

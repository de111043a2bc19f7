// rewards/: format, language consistency, length and repetition shaping against hand-computed
// values; reward sets from config (errors name the key; the old spelling still reads, with a warning);
// the batch scorer with throwing and hanging rewards.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <thread>

#include "core/error.h"
#include "core/log.h"
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
  auto config = json::parse(R"([{"kind": "format", "name": "a", "weight": 0},
                                 {"kind": "format", "name": "b", "mode": "lenient", "weight": 0},
                                 {"kind": "max", "name": "accuracy", "of": ["a", "b"]}])");
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
  auto config = json::parse(R"([{"kind": "format", "weight": 2.0},
                                 {"kind": "language", "name": "lang", "weight": 0.5},
                                 {"kind": "overlong", "max_length": 100, "buffer": 20}])");
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
  CHECK_THROWS_WITH(bad(R"([{"kind": "math"}, {"kind": "mth"}])"),
                    "r.json: rewards[1].kind: unknown reward 'mth' (did you mean 'math'?)");
  CHECK_THROWS_WITH(bad(R"([{"kind": "format", "partial_credt": true}])"),
                    "r.json: rewards[0].partial_credt: unknown key (did you mean 'partial_credit'?)");
  CHECK_THROWS_WITH(bad(R"([{"kind": "format", "mode": "loose"}])"),
                    Catch::Contains("rewards[0].mode: expected one of strict|lenient"));
  CHECK_THROWS_WITH(bad(R"([{"kind": "format"}, {"kind": "format"}])"),
                    "r.json: rewards[1].name: component 'format' appears twice");
  CHECK_THROWS_WITH(bad(R"([{"kind": "format", "name": "x"}, {"kind": "language", "name": "x"}])"),
                    "r.json: rewards[1].name: component 'x' appears twice");
  CHECK_THROWS_WITH(bad(R"([{"weight": 1}])"), "r.json: rewards[0].kind: required key is missing");
  CHECK_THROWS_WITH(bad(R"([])"), "r.json: rewards: expected a non-empty array");
  CHECK_THROWS_WITH(bad(R"("format")"), "r.json: rewards: expected a non-empty array");
  CHECK_THROWS_WITH(bad(R"([{"kind": "format", "weight": "1"}])"),
                    "r.json: rewards[0].weight: expected number, got string");
}

namespace {

// Collects what r1::log writes while it lives (and nothing reaches stderr).
class LogCapture {
 public:
  LogCapture() {
    previous_ = r1::log::set_sink([this](r1::log::Level level, std::string_view message) {
      lines_.push_back({level, std::string(message)});
    });
  }
  ~LogCapture() { r1::log::set_sink(std::move(previous_)); }
  std::vector<std::string> warnings() const {
    std::vector<std::string> out;
    for (const auto& [level, text] : lines_)
      if (level == r1::log::Level::warn) out.push_back(text);
    return out;
  }

 private:
  r1::log::Sink previous_;
  std::vector<std::pair<r1::log::Level, std::string>> lines_;
};

struct Component {
  std::string name;
  double weight;
  int64_t budget_ms;
  bool operator==(const Component& o) const { return name == o.name && weight == o.weight && budget_ms == o.budget_ms; }
};

std::vector<Component> components(const RewardSet& set) {
  std::vector<Component> out;
  for (const auto& e : set.entries()) out.push_back({e.reward->name(), e.weight, e.budget.count()});
  return out;
}

}  // namespace

TEST_CASE("reward set: the old spelling reads as the new one, with one deprecation warning", "[rewards][config]") {
  const json current = json::parse(R"([{"kind": "math", "name": "accuracy"},
                                       {"kind": "format", "mode": "lenient", "weight": 0.25},
                                       {"kind": "overlong", "max_length": 100, "buffer": 20, "time_budget_ms": 50}])");
  const json old = json::parse(R"({"rewards": [{"name": "math", "id": "accuracy"},
                                               {"name": "format", "mode": "lenient", "weight": 0.25},
                                               {"name": "overlong", "max_length": 100, "buffer": 20, "time_budget_ms": 50}]})");
  std::vector<Component> want = {{"accuracy", 1.0, 1000}, {"format", 0.25, 1000}, {"overlong", 1.0, 50}};
  {
    LogCapture log;
    CHECK(components(RewardSet::from_json(current, "r.json")) == want);
    CHECK(RewardSet::current_spelling(current, "r.json") == current);
    CHECK(log.warnings().empty());
  }
  {
    LogCapture log;
    CHECK(components(RewardSet::from_json(old, "old.json")) == want);
    REQUIRE(log.warnings().size() == 1);  // one per set, not one per entry
    const std::string w = log.warnings()[0];
    CHECK_THAT(w, Catch::StartsWith("old.json: the old reward spelling"));
    CHECK_THAT(w, Catch::Contains("{\"rewards\": [...]}") && Catch::Contains("\"id\"") &&
                      Catch::Contains("deprecated") && Catch::Contains("\"kind\": \"math\", \"name\": \"accuracy\""));
  }
  {
    LogCapture log;
    CHECK(RewardSet::current_spelling(old, "old.json") == current);
    CHECK(log.warnings().size() == 1);
  }
  // Either half alone is the old spelling too: the wrapper around new entries, old entries in a bare list.
  {
    LogCapture log;
    CHECK(components(RewardSet::from_json(json{{"rewards", current}}, "w.json")) == want);
    REQUIRE(log.warnings().size() == 1);
    CHECK_THAT(log.warnings()[0], Catch::Contains("{\"rewards\": [...]}") && !Catch::Contains("\"id\""));
  }
  {
    LogCapture log;
    CHECK(components(RewardSet::from_json(old["rewards"], "e.json")) == want);
    REQUIRE(log.warnings().size() == 1);
    CHECK_THAT(log.warnings()[0], !Catch::Contains("{\"rewards\": [...]}") && Catch::Contains("\"id\""));
  }
}

TEST_CASE("reward set: an entry mixing the old and new keys is refused, naming the key", "[rewards][config]") {
  LogCapture log;
  CHECK_THROWS_WITH(RewardSet::from_json(json::parse(R"([{"kind": "format"}, {"kind": "math", "id": "accuracy"}])"), "r.json"),
                    Catch::StartsWith("r.json: rewards[1].id: ") && Catch::Contains("\"name\""));
  CHECK_THROWS_WITH(RewardSet::current_spelling(json::parse(R"({"rewards": [{"kind": "math", "id": "a"}]})"), "s.rewards"),
                    Catch::StartsWith("s.rewards: rewards[0].id: "));
  // The old wrapper's own errors still name its key.
  CHECK_THROWS_WITH(RewardSet::from_json(json::parse(R"({"reward": []})"), "r.json"),
                    Catch::Contains("unknown key (did you mean 'rewards'?)"));
  CHECK_THROWS_WITH(RewardSet::from_json(json::parse(R"({"rewards": []})"), "r.json"), Catch::Contains("non-empty array"));
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

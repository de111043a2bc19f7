// Rejection-sampling filters (run/rejection_filters.h): each filter keeps what it should and names what
// it drops; deduplication ignores whitespace.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "rewards/language.h"
#include "run/rejection_filters.h"

using namespace r1::run;

TEST_CASE("rejection: correct, readable completions are kept, and each filter names what it drops", "[rejection]") {
  r1::run::RejectionFilters f;
  const std::string good = "<think> 47 + 5: 7 + 5 = 12, write 2 carry 1. 4 + 0 + 1 = 5. So the sum is 52. </think> <answer> 52 </answer>";
  CHECK(r1::run::rejection_reason(good, 40, 1.0, "en", f) == "");
  CHECK(r1::run::rejection_reason(good, 40, 0.0, "en", f) == "wrong answer");
  f.require_correct = false;
  CHECK(r1::run::rejection_reason(good, 40, 0.0, "en", f) == "");
  f.require_correct = true;

  f.max_tokens = 32;
  CHECK(r1::run::rejection_reason(good, 40, 1.0, "en", f) == "too long: 40 tokens, over 32");
  f.max_tokens = 0;

  // Language mixing, in the chain of thought only: 3 Han characters of 8 words.
  const std::string mixed = "<think> 7 加 5 等于 12, write two and carry one </think> <answer> 12 </answer>";
  CHECK_THAT(r1::run::rejection_reason(mixed, 20, 1.0, "en", f), Catch::StartsWith("language mixing: 0.62"));
  f.min_language_fraction = 0.6;
  CHECK(r1::run::rejection_reason(mixed, 20, 1.0, "en", f) == "");
  f.min_language_fraction = 0.95;
  // Chinese is the target: the Latin words are the mixing.
  CHECK_THAT(r1::run::rejection_reason(mixed, 20, 1.0, "zh", f), Catch::StartsWith("language mixing: 0.38"));
  // A mixed answer outside the think block does not count.
  CHECK(r1::run::rejection_reason("<think> seven plus five </think> <answer> 十二 </answer>", 9, 1.0, "en", f) == "");
  CHECK(r1::run::rejection_reason("<think> 7 + 5 = 12 </think> <answer> 12 </answer>", 9, 1.0, "en", f) == "no words in the chain of thought");

  // Repetition: the same phrase looped.
  std::string loop = "<think>";
  for (int i = 0; i < 10; ++i) loop += " so we add the carry";
  loop += " </think> <answer> 5 </answer>";
  CHECK(r1::repeated_ngram_fraction(loop, 4) > 0.7);
  CHECK_THAT(r1::run::rejection_reason(loop, 60, 1.0, "en", f), Catch::StartsWith("repetition: "));
  CHECK(r1::repeated_ngram_fraction("a b c d e f", 4) == 0);
  CHECK(r1::repeated_ngram_fraction("a b", 4) == 0);
  CHECK(r1::repeated_ngram_fraction("a b a b a b", 2) == Approx(3.0 / 5));

  // A stray code block.
  const std::string code = "<think> compute it\n```python\nprint(7+5)\n```\n</think> <answer> 12 </answer>";
  CHECK(r1::run::rejection_reason(code, 30, 1.0, "en", f) == "code block in the answer");
  f.allow_code_blocks = true;
  CHECK(r1::run::rejection_reason(code, 30, 1.0, "en", f) == "");

  // An unknown language code is an error, not a silent drop.
  CHECK_THROWS_AS(r1::run::rejection_reason(good, 40, 1.0, "klingon", f), r1::ConfigError);
}

TEST_CASE("rejection: duplicates per prompt with whitespace ignored, and filters read from a recipe", "[rejection]") {
  r1::run::Deduplicator d;
  CHECK(d.first("Compute 1 + 1", "<think> 1 + 1 = 2 </think> <answer> 2 </answer>"));
  CHECK_FALSE(d.first("Compute 1 + 1", "<think>  1 + 1 = 2\n</think> <answer> 2 </answer>"));
  CHECK(d.first("Compute 2 + 0", "<think> 1 + 1 = 2 </think> <answer> 2 </answer>"));  // another prompt
  CHECK(d.size() == 2);

  nlohmann::json j = {{"max_tokens", 512}, {"min_language_fraction", 0.9}, {"ngram", 3}};
  r1::ConfigReader r(j, "stages[2] (select).filters");
  const r1::run::RejectionFilters f = r1::run::RejectionFilters::read(r);
  r.finish();
  CHECK(f.max_tokens == 512);
  CHECK(f.min_language_fraction == 0.9);
  CHECK(f.ngram == 3);
  nlohmann::json bad = {{"min_language_fraction", 1.5}};
  r1::ConfigReader rb(bad, "stages[2] (select).filters");
  CHECK_THROWS_WITH(r1::run::RejectionFilters::read(rb), Catch::Contains("min_language_fraction"));
  nlohmann::json typo = {{"max_token", 5}};
  r1::ConfigReader rt(typo, "stages[2] (select).filters");
  r1::run::RejectionFilters::read(rt);
  CHECK_THROWS_WITH(rt.finish(), Catch::Contains("max_tokens"));
}

TEST_CASE("chain of thought: words of the configured tag's block, or of the whole completion", "[rejection][eval]") {
  const auto en = r1::rewards::scripts_of_language("en");
  // The think block only: the answer's words do not count.
  auto w = r1::rewards::chain_of_thought_words("<think> 7 + 5 = 12，写 2 进 1。 So 12. </think> <answer> twelve </answer>", "think", en);
  CHECK(w.target == 1);  // "So"
  CHECK(w.total == 3);   // 写, 进, So: digits and symbols are not words
  CHECK(w.share() == Approx(1.0 / 3));
  // No think block: the whole completion.
  w = r1::rewards::chain_of_thought_words("The answer is 12.", "think", en);
  CHECK(w.target == 3);
  CHECK(w.total == 3);
  // The tag is the caller's: a <reasoning> block, and a <think> block that is then just text.
  w = r1::rewards::chain_of_thought_words("<reasoning> so </reasoning> <answer> zwölf 十二 </answer>", "reasoning", en);
  CHECK(w.target == 1);
  CHECK(w.total == 1);
  w = r1::rewards::chain_of_thought_words("<think> 写 </think> so", "reasoning", en);
  CHECK(w.target == 3);  // the whole text: "think", "think" and "so" of 4 words (写 is the fourth)
  CHECK(w.total == 4);
  CHECK(r1::rewards::WordCount{}.share() == 0);
  // A byte-level model can cut a character in half: an error here, which the filter turns into a
  // drop (never an exception out of rejection_reason).
  const std::string cut("<think> write \xe5\x86 </think> <answer> 5 </answer>");
  CHECK_THROWS_AS(r1::rewards::chain_of_thought_words(cut, "think", en), r1::Error);
  CHECK(r1::run::rejection_reason(cut, 9, 1.0, "en", r1::run::RejectionFilters{}) == "invalid UTF-8");
}

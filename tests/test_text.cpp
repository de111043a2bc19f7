// core/text and core/stats: word splitting, repeated n-grams, phrase matching, mean and population std.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "core/stats.h"
#include "core/text.h"

TEST_CASE("split_words: runs of non-space bytes, any ASCII white space between", "[text]") {
  using Words = std::vector<std::string_view>;
  CHECK(r1::split_words("") == Words{});
  CHECK(r1::split_words(" \t\n\v\f\r ") == Words{});
  CHECK(r1::split_words("a") == Words{"a"});
  CHECK(r1::split_words("  so\twe\nadd\r\n the\fcarry\v") == Words{"so", "we", "add", "the", "carry"});
  // Punctuation and non-ASCII bytes belong to the word; only ASCII white space separates.
  CHECK(r1::split_words("12, 写 2.") == Words{"12,", "写", "2."});
}

TEST_CASE("repeated_ngram_fraction: (T - U) / T over word n-grams", "[text]") {
  CHECK(r1::repeated_ngram_fraction("a b c d e f", 4) == 0);
  CHECK(r1::repeated_ngram_fraction("a b", 4) == 0);       // fewer words than n
  CHECK(r1::repeated_ngram_fraction("a b c", 0) == 0);     // no n-grams of size 0
  CHECK(r1::repeated_ngram_fraction("", 1) == 0);
  // "a b a b a b": bigrams ab ba ab ba ab, 2 distinct of 5.
  CHECK(r1::repeated_ngram_fraction("a b a b a b", 2) == Approx(3.0 / 5));
  // Unigrams: "x x x x" has 4, 1 distinct; white space of any kind is one separator.
  CHECK(r1::repeated_ngram_fraction("x\tx\n x  x", 1) == Approx(3.0 / 4));
  CHECK(r1::repeated_ngram_fraction("to be or not to be", 2) == Approx(1.0 / 5));
}

TEST_CASE("mean_std: mean and population standard deviation", "[stats]") {
  const r1::MeanStd empty = r1::mean_std(std::vector<double>{});
  CHECK(empty.mean == 0);
  CHECK(empty.std == 0);
  const r1::MeanStd one = r1::mean_std(std::vector<double>{3.5});
  CHECK(one.mean == 3.5);
  CHECK(one.std == 0);
  // 2 4 4 4 5 5 7 9: mean 5, population variance 4 (divided by n, not n - 1).
  const r1::MeanStd m = r1::mean_std(std::vector<double>{2, 4, 4, 4, 5, 5, 7, 9});
  CHECK(m.mean == 5);
  CHECK(m.std == 2);
  const double part[] = {1, 0, 0, 0};
  const r1::MeanStd p = r1::mean_std(part, 4);
  CHECK(p.mean == 0.25);
  CHECK(p.std == Approx(std::sqrt(3.0) / 4));
}

TEST_CASE("contains_any_phrase: a substring of the text, ASCII case ignored", "[text]") {
  const std::vector<std::string> phrases = {"wait,", "let me check"};
  CHECK(r1::contains_any_phrase("12 + 3 = 15. Wait, that is wrong", phrases));
  CHECK(r1::contains_any_phrase("LET ME CHECK: 15", phrases));
  CHECK(r1::contains_any_phrase("so... wait,", phrases));  // at the very end
  CHECK_FALSE(r1::contains_any_phrase("wait 12 + 3", phrases));  // "wait" without the comma
  CHECK_FALSE(r1::contains_any_phrase("let me", phrases));       // a phrase longer than the text
  CHECK_FALSE(r1::contains_any_phrase("", phrases));
  CHECK_FALSE(r1::contains_any_phrase("wait, no", {}));
  CHECK_FALSE(r1::contains_any_phrase("anything", {""}));         // an empty phrase matches nothing
  // Bytes outside ASCII compare exactly (no Unicode case folding).
  CHECK(r1::contains_any_phrase("答案是 15，等等，", {"等等"}));
  CHECK_FALSE(r1::contains_any_phrase("ÉTAPE", {"étape"}));
}

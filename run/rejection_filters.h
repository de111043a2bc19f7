// Rejection-sampling filters (DeepSeek-R1's stage 3, no LibTorch): which sampled completions are
// kept for the next SFT set. A completion is kept when it is correct and readable:
//
//   wrong answer     the accuracy component is below 1
//   too long         more than max_tokens completion tokens (0: no limit)
//   language mixing  the target language's share of the chain of thought's words (the think_tag
//                    block; rewards/language.h's chain_of_thought_words, by Unicode script) is below
//                    min_language_fraction; invalid UTF-8 is dropped too
//   repetition       more than max_repeated_ngrams of its word n-grams repeat an earlier one
//                    (core/text.h's repeated_ngram_fraction)
//   code block       a ``` fence, when allow_code_blocks is false (a math chain of thought has none)
//
// Deduplication: a completion whose text equals an earlier kept one for the same prompt, after
// whitespace is collapsed, is dropped.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1 {
class ConfigReader;
}

namespace r1::run {

struct RejectionFilters {
  bool require_correct = true;
  int64_t max_tokens = 0;
  double min_language_fraction = 0.95;
  std::string think_tag = "think";
  int ngram = 4;
  double max_repeated_ngrams = 0.2;
  bool allow_code_blocks = false;

  static RejectionFilters read(ConfigReader& r);  // every key optional; errors name the key
};

// "" when the completion is kept, else why not ("language: 0.62 of words in en, below 0.95").
// `target_language`: "en", "zh", ... (rewards/language.h's codes).
std::string rejection_reason(const std::string& completion, int64_t completion_tokens, double accuracy,
                             const std::string& target_language, const RejectionFilters& filters);


class Deduplicator {
 public:
  // True the first time this (prompt, completion) pair is seen, whitespace runs counted as one space.
  bool first(const std::string& prompt, const std::string& completion);
  size_t size() const { return seen_.size(); }

 private:
  std::set<std::pair<std::string, std::string>> seen_;
};

}  // namespace r1::run

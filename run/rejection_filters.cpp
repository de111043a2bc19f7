// Rejection-sampling filters: see rejection_filters.h.
#include "run/rejection_filters.h"

#include <cstdio>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "rewards/language.h"

namespace r1::run {

RejectionFilters RejectionFilters::read(ConfigReader& r) {
  RejectionFilters f;
  f.require_correct = r.get("require_correct", f.require_correct);
  f.max_tokens = r.get("max_tokens", f.max_tokens);
  f.min_language_fraction = r.get("min_language_fraction", f.min_language_fraction);
  f.think_tag = r.get("think_tag", f.think_tag);
  f.ngram = r.get("ngram", f.ngram);
  f.max_repeated_ngrams = r.get("max_repeated_ngrams", f.max_repeated_ngrams);
  f.allow_code_blocks = r.get("allow_code_blocks", f.allow_code_blocks);
  if (f.max_tokens < 0) throw ConfigError(r.key_path("max_tokens") + ": must be >= 0 (0: no limit)");
  if (!(f.min_language_fraction >= 0 && f.min_language_fraction <= 1))
    throw ConfigError(r.key_path("min_language_fraction") + ": expected 0..1");
  if (f.ngram < 1 || f.ngram > 64) throw ConfigError(r.key_path("ngram") + ": expected 1..64");
  if (!(f.max_repeated_ngrams >= 0 && f.max_repeated_ngrams <= 1))
    throw ConfigError(r.key_path("max_repeated_ngrams") + ": expected 0..1");
  return f;
}

namespace {

// The text with every run of white space made one space, and none at either end.
std::string collapse(const std::string& text) {
  std::string out;
  for (std::string_view w : split_words(text)) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::string fmt(const char* f, double a, double b) {
  char buf[128];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

}  // namespace

std::string rejection_reason(const std::string& completion, int64_t completion_tokens, double accuracy,
                             const std::string& target_language, const RejectionFilters& f) {
  if (f.require_correct && !(accuracy >= 1.0)) return "wrong answer";
  if (f.max_tokens > 0 && completion_tokens > f.max_tokens)
    return "too long: " + std::to_string(completion_tokens) + " tokens, over " + std::to_string(f.max_tokens);
  if (!f.allow_code_blocks && completion.find("```") != std::string::npos) return "code block in the answer";
  if (f.min_language_fraction > 0) {
    // An unknown language code is the caller's error (ConfigError, thrown here); bad UTF-8 is the sample's.
    const std::vector<int> scripts = rewards::scripts_of_language(target_language.empty() ? "en" : target_language);
    rewards::WordCount wc;
    try {
      wc = rewards::chain_of_thought_words(completion, f.think_tag, scripts);
    } catch (const Error&) {
      return "invalid UTF-8";
    }
    if (wc.total == 0) return "no words in the chain of thought";
    const double share = wc.share();
    if (share < f.min_language_fraction)
      return fmt("language mixing: %.2f of words in the target language, below %.2f", share, f.min_language_fraction);
  }
  const double rep = repeated_ngram_fraction(completion, f.ngram);
  if (rep > f.max_repeated_ngrams)
    return fmt("repetition: %.2f of word n-grams repeat, over %.2f", rep, f.max_repeated_ngrams);
  return "";
}

bool Deduplicator::first(const std::string& prompt, const std::string& completion) {
  return seen_.emplace(collapse(prompt), collapse(completion)).second;
}

}  // namespace r1::run

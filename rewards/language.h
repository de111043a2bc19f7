// Language-consistency reward (DeepSeek-R1): the fraction of words in the chain of thought that are
// in the target language, judged by Unicode script (ICU's script property).
//
//   words    runs of letters of one script (combining marks stay with their letter); Han, Hiragana
//            and Katakana count one word per character, as CJK text has no spaces
//   neutral  digits, punctuation, symbols, emoji: they are not words at all
//   value    target-language words / all words (0 with a reason when there are no words)
//
// The chain of thought is the content of the <think> block (tag configurable), or the whole
// completion when there is none. The target language comes from the sample ("en", "zh", "ja", ...)
// and maps to scripts (en/fr/de/...: Latin; zh: Han; ja: Han+Hiragana+Katakana; ko: Hangul+Han;
// ru/uk/bg/sr: Cyrillic; ar/fa/ur: Arabic; hi/mr/ne: Devanagari; el: Greek; he: Hebrew; th: Thai);
// "scripts" in the config overrides the mapping with ISO 15924 codes ("Latn", "Hani", ...).
#pragma once

#include <vector>

#include "rewards/reward.h"

namespace r1::rewards {

struct LanguageOptions {
  std::string think_tag = "think";
  std::string default_language = "en";  // when the sample names none
  std::vector<std::string> scripts;     // ISO 15924 codes; empty: from the sample's language
};

class LanguageConsistencyReward : public Reward {
 public:
  LanguageConsistencyReward(std::string name, LanguageOptions options);
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components&, const Deadline&) const override;

 private:
  std::string name_;
  LanguageOptions options_;
  std::vector<int> override_scripts_;  // ICU UScriptCode values
};

struct WordCount {
  size_t target = 0;
  size_t total = 0;
  // The target language's share: target / total, 0 when there are no words.
  double share() const { return total ? static_cast<double>(target) / static_cast<double>(total) : 0.0; }
};
// Counts words of `text` in the given scripts (ICU UScriptCode values). Throws r1::Error on invalid UTF-8.
WordCount count_words(std::string_view text, const std::vector<int>& scripts);
// Counts the words of a completion's chain of thought: the content of its <think_tag> block, or the
// whole completion when it has none. What the reward scores, the rejection-sampling filter keeps and
// evaluation pools (run/rejection_filters.h, run/report.h). Throws r1::Error on invalid UTF-8.
WordCount chain_of_thought_words(std::string_view completion, const std::string& think_tag,
                                 const std::vector<int>& scripts);
// Scripts of a language code ("en", "zh-Hans", "pt_BR"); throws r1::ConfigError for an unknown one.
std::vector<int> scripts_of_language(const std::string& language);

}  // namespace r1::rewards

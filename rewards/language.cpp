#include "rewards/language.h"

#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/error.h"
#include "rewards/format.h"

namespace r1::rewards {
namespace {

bool counts_per_character(int script) {
  return script == USCRIPT_HAN || script == USCRIPT_HIRAGANA || script == USCRIPT_KATAKANA;
}

int script_from_code(const std::string& code) {
  UScriptCode out[4];
  UErrorCode status = U_ZERO_ERROR;
  int n = uscript_getCode(code.c_str(), out, 4, &status);
  if (U_FAILURE(status) || n < 1) throw ConfigError("unknown script '" + code + "' (use ISO 15924 codes like Latn, Hani)");
  return out[0];
}

}  // namespace

std::vector<int> scripts_of_language(const std::string& language) {
  std::string lang;
  for (char c : language) {
    if (c == '-' || c == '_') break;
    lang.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  static const std::vector<std::string> latin = {"en", "fr", "de", "es", "pt", "it", "nl", "sv", "da", "no", "nb",
                                                 "fi", "pl", "cs", "sk", "sl", "hr", "ro", "hu", "tr", "vi", "id",
                                                 "ms", "tl", "ca", "et", "lv", "lt", "sw", "af", "eu", "gl", "is"};
  if (std::find(latin.begin(), latin.end(), lang) != latin.end()) return {USCRIPT_LATIN};
  if (lang == "zh") return {USCRIPT_HAN};
  if (lang == "ja") return {USCRIPT_HAN, USCRIPT_HIRAGANA, USCRIPT_KATAKANA};
  if (lang == "ko") return {USCRIPT_HANGUL, USCRIPT_HAN};
  if (lang == "ru" || lang == "uk" || lang == "bg" || lang == "sr" || lang == "be" || lang == "kk" || lang == "mk") {
    return {USCRIPT_CYRILLIC};
  }
  if (lang == "ar" || lang == "fa" || lang == "ur") return {USCRIPT_ARABIC};
  if (lang == "hi" || lang == "mr" || lang == "ne" || lang == "sa") return {USCRIPT_DEVANAGARI};
  if (lang == "el") return {USCRIPT_GREEK};
  if (lang == "he" || lang == "yi") return {USCRIPT_HEBREW};
  if (lang == "th") return {USCRIPT_THAI};
  if (lang == "bn") return {USCRIPT_BENGALI};
  if (lang == "ta") return {USCRIPT_TAMIL};
  throw ConfigError("language-consistency: no script known for language '" + language +
                    "'; give \"scripts\" (ISO 15924 codes) in the reward's config");
}

WordCount count_words(std::string_view text, const std::vector<int>& scripts) {
  WordCount count;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  int32_t n = static_cast<int32_t>(text.size());
  int current = -1;  // script of the word being read, -1 between words
  auto end_word = [&] {
    if (current >= 0) {
      ++count.total;
      if (std::find(scripts.begin(), scripts.end(), current) != scripts.end()) ++count.target;
    }
    current = -1;
  };
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) throw Error("language-consistency: invalid UTF-8");
    UErrorCode status = U_ZERO_ERROR;
    int script = uscript_getScript(c, &status);
    if (script == USCRIPT_INHERITED && current >= 0) continue;  // a combining mark stays in its word
    if (!u_isalpha(c) || script == USCRIPT_COMMON || script == USCRIPT_INHERITED) {
      end_word();  // digits, punctuation, spaces, symbols: neutral separators
      continue;
    }
    if (counts_per_character(script)) {
      end_word();
      current = script;
      end_word();
      continue;
    }
    if (script != current) end_word();
    current = script;
  }
  end_word();
  return count;
}

WordCount chain_of_thought_words(std::string_view completion, const std::string& think_tag,
                                 const std::vector<int>& scripts) {
  const std::optional<std::string_view> thought = tag_content(completion, think_tag);
  return count_words(thought ? *thought : completion, scripts);
}

LanguageConsistencyReward::LanguageConsistencyReward(std::string name, LanguageOptions options)
    : name_(std::move(name)), options_(std::move(options)) {
  for (const auto& code : options_.scripts) override_scripts_.push_back(script_from_code(code));
  if (override_scripts_.empty()) scripts_of_language(options_.default_language);  // validate early
}

Score LanguageConsistencyReward::score(const Sample& sample, const Components&, const Deadline&) const {
  std::vector<int> scripts = override_scripts_;
  if (scripts.empty()) {
    scripts = scripts_of_language(sample.target_language.empty() ? options_.default_language : sample.target_language);
  }
  WordCount words = chain_of_thought_words(sample.completion, options_.think_tag, scripts);
  Score s;
  if (words.total == 0) {
    s.reason = "no words in the chain of thought";
    return s;
  }
  s.value = words.share();
  return s;
}

}  // namespace r1::rewards

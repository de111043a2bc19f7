// Reflection (self-checking) in a completion (no LibTorch, no JSON): whether the text holds any of a
// list of phrases ("wait,", "let me check"), compared case-insensitively (ASCII letters; other bytes
// as they are). The eval measures the share of samples that reflect (EvalResult::reflection_rate);
// it is core/text.h's contains_any_phrase, which the GRPO trainer's per-step reflection_rate uses too.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace r1::run {

// True when `completion` contains any of `phrases` (an empty list: false).
bool reflects(std::string_view completion, const std::vector<std::string>& phrases);

// A configuration's phrase list checked: ConfigError "<where>[i]: ..." for an empty or all-blank
// phrase (it would match every completion). `where` names the key ("eval.reflection_phrases").
void check_reflection_phrases(const std::vector<std::string>& phrases, const std::string& where);

}  // namespace r1::run

// A small backtracking regular-expression engine over Unicode code points, for the Split
// pre-tokenizers of Hugging Face tokenizer.json files.
//
// Why not std::regex: it has no \p{L}, no Unicode classes, and is slow. Why not a general engine:
// tokenizer patterns are a small, fixed dialect (Oniguruma's, as the Rust `tokenizers` crate runs
// them) and the tokenizer's speed is mostly this matcher, so r1 compiles exactly that dialect to a
// tiny program and runs it with leftmost-first (Perl) semantics:
//
//   alternation a|b, groups (...) (?:...) (?i:...), lookahead (?=...) (?!...), anchors ^ $,
//   quantifiers ? * + {m} {m,} {m,n} and their lazy forms, classes [...] [^...] with ranges,
//   \p{L} \p{N} \P{..} (general categories and their groups), \s \S \d \D \w \W, ., escapes
//   \r \n \t \f \v \xHH \x{H..} \uHHHH and escaped punctuation.
//
// \s is Unicode White_Space (as in Oniguruma), \d is Nd, \w is L|M|Nd|Pc. Case-insensitive groups
// fold case per code point. Anything outside the dialect (backreferences, lookbehind, \b, possessive
// quantifiers, named groups) is refused with a message naming the construct, never mis-matched.
// A quantifier over a single class runs as one instruction (count, then give back), so a 1 MB run of
// spaces costs O(n) time and O(1) backtracking memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1 {

class Regex {
 public:
  // Throws r1::Error naming the unsupported construct or the syntax error and its position.
  explicit Regex(std::string_view pattern);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // All non-overlapping, non-empty matches in cps[0, n), leftmost first, as [begin, end) indices.
  void find_all(const char32_t* cps, size_t n, std::vector<std::pair<uint32_t, uint32_t>>& matches) const;

  const std::string& pattern() const { return pattern_; }

  struct Program;  // compiled form (regex.cpp)

 private:
  std::string pattern_;
  Program* program_;
};

}  // namespace r1

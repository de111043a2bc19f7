// Internal to the tokenizer regex engine (regex.h): the compiled program the compiler
// (regex_compile.cpp) writes and the matcher (regex.cpp) runs.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace r1::regex {

// One member of a character class. A class matches when any member matches (then negated or not).
struct ClassItem {
  enum Kind { kRange, kCategory, kWhiteSpace, kWord, kFold } kind;
  char32_t lo = 0, hi = 0;  // kRange; kFold uses lo as the folded code point
  uint32_t mask = 0;        // kCategory
  bool negate = false;      // \S, \P{L}, \W, \D inside or outside brackets
};

struct CharClass {
  std::vector<ClassItem> items;
  bool negate = false;
  std::vector<uint64_t> bmp;  // precomputed answers for U+0000..U+FFFF (1024 words)

  bool slow_match(char32_t cp) const {
    bool hit = false;
    for (const auto& item : items) {
      bool m = false;
      switch (item.kind) {
        case ClassItem::kRange: m = cp >= item.lo && cp <= item.hi; break;
        case ClassItem::kCategory: m = (unicode::category_bit(cp) & item.mask) != 0; break;
        case ClassItem::kWhiteSpace: m = unicode::is_white_space(cp); break;
        case ClassItem::kWord:
          m = (unicode::category_bit(cp) & (unicode::kLetterMask | unicode::kMarkMask | unicode::kDecimalMask |
                                            (1u << 12))) != 0;
          break;
        case ClassItem::kFold: m = unicode::fold_case(cp) == item.lo; break;
      }
      if (m != item.negate) {
        hit = true;
        break;
      }
    }
    return hit != negate;
  }
  void precompute() {
    bmp.assign(1024, 0);
    for (char32_t cp = 0; cp < 0x10000; ++cp) {
      if (slow_match(cp)) bmp[cp >> 6] |= uint64_t{1} << (cp & 63);
    }
  }
  bool match(char32_t cp) const {
    if (cp < 0x10000) return (bmp[cp >> 6] >> (cp & 63)) & 1;
    return slow_match(cp);
  }
};

enum class Op : uint8_t { kClass, kRepeat, kSplit, kJmp, kLookahead, kBegin, kEnd, kMatch };

struct Inst {
  Op op;
  bool greedy = true;   // kRepeat
  bool negate = false;  // kLookahead
  int cls = -1;         // kClass, kRepeat
  int x = 0, y = 0;     // kSplit: preferred, other; kJmp: x; kLookahead: sub-program start x
  uint32_t min = 0, max = 0;
};

}  // namespace r1::regex

namespace r1 {

struct Regex::Program {
  std::vector<regex::CharClass> classes;
  std::vector<regex::Inst> code;
};

namespace regex {

// Compiles `pattern` into `program` (classes precomputed). Throws r1::Error naming the unsupported
// construct or the syntax error and its position.
void compile(std::string_view pattern, Regex::Program& program);

}  // namespace regex
}  // namespace r1

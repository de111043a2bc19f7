// Internal to the math parser (math_parse.h): the bounds on hostile input, the parse errors, and the
// tokens of a normalised answer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/math_parse.h"

namespace r1::rewards::math {

// The bounds math.h promises: answer length, nesting, digits of a literal, digits of a power's
// result, and the degree of a power of a symbolic base.
constexpr size_t kMaxLength = 4000;
constexpr int kMaxDepth = 100;
constexpr size_t kMaxDigits = 1000;
constexpr double kMaxResultDigits = 10000;
constexpr int kMaxSymbolicExponent = 1000;

[[noreturn]] inline void fail(const std::string& message) { throw ParseError{message}; }
[[noreturn]] inline void too_large(const std::string& message) { throw ParseError{"too large: " + message, ParseError::kTooLarge}; }

struct Token {
  enum Kind { kNumber, kLetter, kWord, kCommand, kSymbol, kEnd } kind;
  std::string text;
};

// The tokens of a normalised answer, ending with a kEnd token: numbers (with decimals and
// scientific notation), single letters, words (three letters or more, and a few short ones),
// commands (\frac, \begin{pmatrix}, and the functions written without a backslash), symbols, and
// the Unicode operators models write. Throws ParseError for a malformed or over-long number.
std::vector<Token> tokenize(const std::string& s);

// An answer read as far as it goes without GiNaC, so outside the verifier's lock: normalised
// (normalize_latex), then a multiple-choice letter, a numeral with a base, text (it has words), or
// the tokens the Reader turns into a value under the lock (Parser::read). Throws ParseError.
struct Prepared {
  enum Kind { kTokens, kText, kChoice, kNumeral } kind = kTokens;
  std::string normalized;
  std::vector<Token> tokens;  // kTokens
  std::string text;           // kText: normalised text; kChoice: the letter; kNumeral: the digits
  int base = 0;               // kNumeral
};
Prepared prepare(std::string_view answer);

// True for the functions the parser reads ("sin", "log", "sqrt", ...; the name without its backslash).
bool is_function(const std::string& word);

}  // namespace r1::rewards::math

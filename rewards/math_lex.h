// Internal to the math parser (math_parse.h): the bounds on hostile input, the parse errors, and the
// tokens of a normalised answer.
#pragma once

#include <cstddef>
#include <string>
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

// True for the functions the parser reads ("sin", "log", "sqrt", ...; the name without its backslash).
bool is_function(const std::string& word);

}  // namespace r1::rewards::math

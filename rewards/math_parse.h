// Internal to the math verifier (math.h): answer values and the LaTeX / plain-text parser.
// GiNaC appears only here and in the verifier's .cpp files.
#pragma once

#include <ginac/ginac.h>

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/reward.h"

namespace r1::rewards::math {

// A parsed answer.
struct Value {
  enum Kind { kExpr, kList, kRelation, kText, kChoice, kNumeral } kind = kExpr;
  GiNaC::ex expr;               // kExpr
  char open = 0, close = 0;     // kList: '(' '[' '{' (set) 'm' (matrix) 'r' (matrix row), 0 for a bare list
  std::vector<Value> items;     // kList items; kRelation operands
  std::vector<std::string> ops; // kRelation: "=", "<", "<=", ">", ">=", "!=" between operands
  std::string text;             // kText (normalised), kChoice (the upper-case letter), kNumeral (digits)
  int base = 0;                 // kNumeral: 312_4 is digits "312" in base 4
};

// Why an answer could not be read: unreadable notation, a bounded-resource refusal ("too large: ..."),
// or only an approximate value ("\approx 0.667", "approximately 3").
struct ParseError {
  enum Kind { kUnreadable, kTooLarge, kApproximation };
  std::string message;
  Kind kind = kUnreadable;
};

struct Prepared;  // math_lex.h: an answer normalised and tokenised, before GiNaC

// Shares symbols between the gold answer and the prediction ("x" is the same GiNaC symbol in both),
// and carries the deadline. Throws ParseError or DeadlineExceeded.
class Parser {
 public:
  explicit Parser(const Deadline& deadline) : deadline_(deadline) {}
  Value parse(std::string_view answer);  // read(prepare(answer))
  Value read(const Prepared& answer);
  const std::map<std::string, GiNaC::symbol>& symbols() const { return symbols_; }
  // The symbol standing for \pm (a \pm b parses as a + pm * b).
  const GiNaC::symbol& pm() { return symbol("\\pm"); }
  const GiNaC::symbol& infinity() { return symbol("\\infty"); }
  GiNaC::symbol& symbol(const std::string& name);
  // Fewest significant digits of a decimal literal in the last parse (0: none; exact answers).
  int decimal_digits() const { return decimal_digits_; }
  void saw_decimal(int digits) { decimal_digits_ = decimal_digits_ == 0 ? digits : std::min(decimal_digits_, digits); }

 private:
  int decimal_digits_ = 0;
  std::map<std::string, GiNaC::symbol> symbols_;
  const Deadline& deadline_;
};

std::string to_string(const Value& value);
// True when `answer` would parse as text (it has words in it): decided without GiNaC.
bool reads_as_text(std::string_view answer);
// LaTeX clean-up before parsing: delimiters, spacing commands, \text{}, units, separators, degrees, %,
// thousands groups, the exact side of an approximation. Throws ParseError (kApproximation).
std::string normalize_latex(std::string_view answer);
// True for "1,234", "-12,345,678.5": a number whose commas group thousands exactly (1-3 leading digits,
// not a lone 0, then groups of three). "0,125" and "2,5" are not: they are decimal commas.
bool is_thousands_number(const std::string& s);
// True for the unit words an answer may carry after its number ("cm", "km/h", "percent", ...).
bool is_unit_word(const std::string& word);

}  // namespace r1::rewards::math

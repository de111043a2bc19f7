// Internal to the math parser (math_parse.h): the recursive-descent reader over an answer's tokens.
//
// Grammar (every level counts towards the nesting bound):
//   answer   := item (("," | ";") item)*              several items: a bare list
//   item     := relation ("\cup" relation)*            a union: compared as a set of its parts
//   relation := expr (relop expr)*                     one or more relations: a relation chain
//   expr     := term (("+" | "-" | "\pm" | "\mp") term)*
//   term     := unary (("*" | "\cdot" | "\times" | "/" | "\div" | <implicit>) unary)*
//   unary    := ("-" | "+" | "\pm" | "\mp") unary | power
//   power    := postfix ("^" unary)?                   right-associative: 2^3^2 = 2^9
//   postfix  := primary "!"*
//   primary  := number | letter | "(" answer ")" | "[" answer "]" | "{" answer "}" | "\{" answer "\}"
//             | |answer| | \lfloor answer \rfloor | \binom A B | \emptyset | \frac A B | \sqrt[n] A
//             | \pi | \infty | \begin{pmatrix} ... \end{pmatrix} | \sin A ...
// The operator levels are in math_grammar.cpp, primaries in math_primary.cpp.
#pragma once

#include <string>
#include <vector>

#include "rewards/math_lex.h"
#include "rewards/math_parse.h"

namespace r1::rewards::math {

class Reader {
 public:
  Reader(std::vector<Token> tokens, Parser& parser, const Deadline& deadline)
      : t_(std::move(tokens)), parser_(parser), deadline_(deadline) {}

  Value answer();
  bool at_end() const { return t_[i_].kind == Token::kEnd; }
  const Token& peek() const { return t_[i_]; }

 private:
  // Nesting: every grammar level enters and leaves, bounded by kMaxDepth; the deadline is polled here.
  void enter() {
    if (++depth_ > kMaxDepth) too_large("nesting deeper than " + std::to_string(kMaxDepth));
    if (deadline_.expired()) throw DeadlineExceeded{};
  }
  void leave() { --depth_; }
  bool is(const char* text) const { return t_[i_].text == text && t_[i_].kind != Token::kWord; }
  void expect(const char* text) {
    if (!is(text)) fail(std::string("expected '") + text + "'" + (at_end() ? " at the end" : ", got '" + t_[i_].text + "'"));
    ++i_;
  }
  static const GiNaC::ex& as_expr(const Value& v) {
    if (v.kind != Value::kExpr) fail("a list or relation inside arithmetic");
    return v.expr;
  }
  static Value of(GiNaC::ex e) {
    Value v;
    v.expr = std::move(e);
    return v;
  }

  // Operator levels (math_grammar.cpp).
  static const char* relation_op(const Token& t);
  Value item();
  Value relation();
  Value expr_value();
  bool starts_primary() const;
  Value term();
  Value unary();
  Value power();
  Value postfix();

  // Primaries (math_primary.cpp).
  Value primary();
  Value number();
  Value letter();
  Value bracketed(char open, const char* close_a, const char* close_b);
  Value absolute_value();
  Value floor_or_ceiling();
  Value binomial();
  Value empty_set();
  Value fraction();
  Value root();
  Value matrix();
  Value function_call();
  Value argument();
  Value function_argument();

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;  // inside |...|: a '|' closes instead of opening
  Parser& parser_;
  const Deadline& deadline_;
};

}  // namespace r1::rewards::math

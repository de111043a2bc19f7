// The math parser's primaries: numbers, letters, brackets, absolute values, floors, binomials,
// fractions, roots, constants, matrices and functions (the grammar is in math_reader.h).
#include <cctype>

#include "rewards/math_arith.h"
#include "rewards/math_reader.h"

namespace r1::rewards::math {
namespace {

// f(a) for the functions the lexer knows (is_function), "sqrt" last.
GiNaC::ex apply_function(const std::string& f, const GiNaC::ex& a) {
  if (f == "sin") return GiNaC::sin(a);
  if (f == "cos") return GiNaC::cos(a);
  if (f == "tan") return GiNaC::tan(a);
  if (f == "cot") return 1 / GiNaC::tan(a);
  if (f == "sec") return 1 / GiNaC::cos(a);
  if (f == "csc") return 1 / GiNaC::sin(a);
  if (f == "arcsin") return GiNaC::asin(a);
  if (f == "arccos") return GiNaC::acos(a);
  if (f == "arctan") return GiNaC::atan(a);
  if (f == "sinh") return GiNaC::sinh(a);
  if (f == "cosh") return GiNaC::cosh(a);
  if (f == "tanh") return GiNaC::tanh(a);
  if (f == "log" || f == "ln") {
    if (a.is_zero()) fail("log of zero");
    return GiNaC::log(a);
  }
  if (f == "exp") return GiNaC::exp(a);
  return GiNaC::sqrt(a);
}

bool is_command(const Token& t, const char* prefix) { return t.kind == Token::kCommand && t.text.rfind(prefix, 0) == 0; }

}  // namespace

Value Reader::primary() {
  enter();
  const Token t = peek();
  Value v;
  if (t.kind == Token::kNumber) {
    v = number();
  } else if (t.kind == Token::kLetter) {
    v = letter();
  } else if (is("(")) {
    v = bracketed('(', ")", "]");
  } else if (is("[")) {
    v = bracketed('[', "]", ")");
  } else if (is("{")) {
    v = bracketed('{', "}", nullptr);
  } else if (is("\\{")) {
    v = bracketed('{', "\\}", nullptr);
  } else if (is("|") && abs_depth_ == 0) {
    v = absolute_value();
  } else if (is("\\lfloor") || is("\\lceil")) {
    v = floor_or_ceiling();
  } else if (is("\\binom") || is("\\dbinom") || is("\\tbinom")) {
    v = binomial();
  } else if (is("\\emptyset")) {
    v = empty_set();
  } else if (is("\\frac")) {
    v = fraction();
  } else if (is("\\sqrt")) {
    v = root();
  } else if (is("\\pi")) {
    ++i_;
    v = of(GiNaC::Pi);
  } else if (is("\\infty") || is("\\inf")) {
    ++i_;
    v = of(parser_.infinity());
  } else if (is_command(t, "\\begin{")) {
    v = matrix();
  } else if (t.kind == Token::kCommand && t.text.size() > 1 && is_function(t.text.substr(1))) {
    v = function_call();
  } else {
    fail(at_end() ? std::string("unexpected end") : "unexpected '" + t.text + "'");
  }
  leave();
  return v;
}

// A number; a decimal one records its significant digits (the comparison's tolerance), and an
// integer followed by a proper numeric fraction is a mixed number: 3\frac{1}{2} is 3 + 1/2.
Value Reader::number() {
  const Token t = t_[i_++];
  Value v = of(exact_number(t.text));
  if (t.text.find('.') != std::string::npos) {
    std::string digits;
    for (char c : t.text.substr(0, t.text.find_first_of("eE"))) {
      if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
    }
    size_t first = digits.find_first_not_of('0');
    parser_.saw_decimal(first == std::string::npos ? 1 : static_cast<int>(digits.size() - first));
  }
  bool integer = t.text.find_first_not_of("0123456789") == std::string::npos;
  if (integer && is("\\frac")) {
    size_t save = i_;
    Value frac = primary();
    const GiNaC::ex& f = as_expr(frac);
    if (GiNaC::is_a<GiNaC::numeric>(f) && GiNaC::ex_to<GiNaC::numeric>(f).is_rational() &&
        GiNaC::ex_to<GiNaC::numeric>(f) > 0 && GiNaC::ex_to<GiNaC::numeric>(f) < 1) {
      v = of(v.expr + f);
    } else {
      i_ = save;  // 2\frac{x}{3}: a product, read by the caller
    }
  }
  return v;
}

// e is Euler's number, i the imaginary unit, any other letter a variable.
Value Reader::letter() {
  const std::string name = t_[i_++].text;
  if (name == "e") return of(GiNaC::exp(GiNaC::ex(1)));
  if (name == "i") return of(GiNaC::I);
  return of(parser_.symbol(name));
}

Value Reader::bracketed(char open, const char* close_a, const char* close_b) {
  ++i_;
  Value inner = answer();
  char close;
  if (is(close_a)) close = close_a[std::string_view(close_a).size() - 1];
  else if (close_b && is(close_b)) close = close_b[0];
  else fail(std::string("missing '") + close_a + "'");
  ++i_;
  if (inner.kind == Value::kList && inner.open == 0) {
    inner.open = open;
    inner.close = close;
    return inner;
  }
  if (open == '{' && close == '}' && std::string_view(close_a) == "\\}") {  // \{5\}: a one-element set
    Value set;
    set.kind = Value::kList;
    set.open = '{';
    set.close = '}';
    set.items.push_back(std::move(inner));
    return set;
  }
  return inner;  // plain grouping
}

// |x|: inside it a '|' closes rather than opens (|a||b| is |a| times |b|).
Value Reader::absolute_value() {
  ++i_;
  ++abs_depth_;
  Value inner = answer();
  --abs_depth_;
  expect("|");
  return of(GiNaC::abs(as_expr(inner)));
}

Value Reader::floor_or_ceiling() {
  bool floor = is("\\lfloor");
  ++i_;
  Value inner = answer();
  expect(floor ? "\\rfloor" : "\\rceil");
  return of(round_numeric(as_expr(inner), floor));
}

Value Reader::binomial() {
  ++i_;
  GiNaC::ex n = as_expr(argument()), k = as_expr(argument());
  auto small_integer = [](const GiNaC::ex& e) {
    return GiNaC::is_a<GiNaC::numeric>(e) && GiNaC::ex_to<GiNaC::numeric>(e).is_nonneg_integer() &&
           GiNaC::ex_to<GiNaC::numeric>(e) <= 100000;
  };
  if (!small_integer(n) || !small_integer(k)) fail("\\binom needs non-negative integers up to 100000");
  return of(GiNaC::binomial(GiNaC::ex_to<GiNaC::numeric>(n), GiNaC::ex_to<GiNaC::numeric>(k)));
}

Value Reader::empty_set() {
  ++i_;
  Value v;
  v.kind = Value::kList;
  v.open = '{';
  v.close = '}';
  return v;
}

Value Reader::fraction() {
  ++i_;
  Value n = argument();
  Value d = argument();
  GiNaC::ex den = as_expr(d);
  if (den.is_zero()) fail("division by zero");
  return of(as_expr(n) / den);
}

// \sqrt A, \sqrt[n] A; an odd root of a negative number is the real one: \sqrt[3]{-8} = -2.
Value Reader::root() {
  ++i_;
  GiNaC::ex index = 2;
  if (is("[")) {
    ++i_;
    index = as_expr(answer());
    expect("]");
  }
  Value radicand = argument();
  GiNaC::ex r = as_expr(radicand);
  bool odd = GiNaC::is_a<GiNaC::numeric>(index) && GiNaC::ex_to<GiNaC::numeric>(index).is_odd();
  if (odd && GiNaC::is_a<GiNaC::numeric>(r) && GiNaC::ex_to<GiNaC::numeric>(r).is_real() &&
      GiNaC::ex_to<GiNaC::numeric>(r) < 0) {
    return of(-checked_power(-r, 1 / index));
  }
  return of(index == 2 ? GiNaC::sqrt(r) : checked_power(r, 1 / index));
}

Value Reader::matrix() {
  std::string env = t_[i_++].text;  // \begin{pmatrix}
  env = env.substr(7, env.size() - 8);
  if (env.find("matrix") == std::string::npos && env != "array") fail("unsupported environment '" + env + "'");
  if (env == "array" && is("{")) {  // column spec {cc}
    while (!at_end() && !is("}")) ++i_;
    expect("}");
  }
  Value m;
  m.kind = Value::kList;
  m.open = m.close = 'm';
  auto new_row = [] {
    Value row;
    row.kind = Value::kList;
    row.open = row.close = 'r';
    return row;
  };
  Value row = new_row();
  for (;;) {
    row.items.push_back(answer());
    if (is("&")) {
      ++i_;
      continue;
    }
    bool end = t_[i_].text.rfind("\\end{", 0) == 0;
    if (is("\\\\") || end) {
      if (!end) ++i_;
      m.items.push_back(std::move(row));
      row = new_row();
      if (t_[i_].text.rfind("\\end{", 0) == 0) break;
      continue;
    }
    fail("malformed matrix");
  }
  ++i_;  // \end{...}
  return m;
}

// \sin x, \sin^2 x, \log_2 8, \log_2^2 x, \sin(x): a power of the function, and for log a base.
Value Reader::function_call() {
  std::string f = t_[i_++].text.substr(1);
  GiNaC::ex exponent = 1;
  if (is("^")) {  // \sin^2 x
    ++i_;
    exponent = as_expr(argument());
  }
  GiNaC::ex base = 0;
  if (f == "log" && is("_")) {  // \log_2 8
    ++i_;
    base = as_expr(argument());
  }
  if (is("^") && exponent == 1) {  // \log_2^2 x
    ++i_;
    exponent = as_expr(argument());
  }
  GiNaC::ex a = as_expr(is("(") || is("{") ? primary() : function_argument());
  if (base != 0) {
    if (a.is_zero() || base == 1 || base.is_zero()) fail("log of zero or to base 1");
    return of(checked_power(GiNaC::log(a) / GiNaC::log(base), exponent));
  }
  return of(checked_power(apply_function(f, a), exponent));
}

// One LaTeX argument: {group} or a single token (\frac12, \sqrt2, x^2).
Value Reader::argument() {
  if (is("{")) {
    ++i_;
    Value v = answer();
    expect("}");
    return v;
  }
  const Token& t = peek();
  if (t.kind == Token::kNumber) {
    // \frac12: one digit per argument; the rest of the number stays a token.
    if (t.text.size() > 1 && t.text[0] != '.') {
      std::string first = t.text.substr(0, 1);
      t_[i_].text = t.text.substr(1);
      return of(exact_number(first));
    }
    ++i_;
    return of(exact_number(t.text));
  }
  return primary();
}

// An unbracketed function argument is a product of plain factors: \cos 2x = cos(2x), and
// \sin x \cos x = sin(x) cos(x) (another function ends the argument).
Value Reader::function_argument() {
  Value v = power();
  while (peek().kind == Token::kNumber || peek().kind == Token::kLetter) v = of(as_expr(v) * as_expr(power()));
  return v;
}

}  // namespace r1::rewards::math

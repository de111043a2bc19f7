// The math parser's operator levels, from a list of answers down to postfix factorials: see the
// grammar in math_reader.h.
#include "rewards/math_arith.h"
#include "rewards/math_reader.h"

namespace r1::rewards::math {

Value Reader::answer() {
  enter();
  std::vector<Value> items;
  items.push_back(item());
  while (is(",") || is(";")) {
    ++i_;
    items.push_back(item());
  }
  leave();
  if (items.size() == 1) return std::move(items[0]);
  Value list;
  list.kind = Value::kList;
  list.items = std::move(items);
  return list;
}

const char* Reader::relation_op(const Token& t) {
  if (t.kind == Token::kSymbol) {
    if (t.text == "=") return "=";
    if (t.text == "<") return "<";
    if (t.text == ">") return ">";
  }
  if (t.kind == Token::kCommand) {
    if (t.text == "=") return "=";
    if (t.text == "\\leq" || t.text == "\\leqslant" || t.text == "\\le" || t.text == "\\leqq") return "<=";
    if (t.text == "\\geq" || t.text == "\\geqslant" || t.text == "\\ge" || t.text == "\\geqq") return ">=";
    if (t.text == "\\lt") return "<";
    if (t.text == "\\gt") return ">";
    if (t.text == "\\neq" || t.text == "\\ne") return "!=";
    if (t.text == "\\in") return "=";  // x \in [1, 3): the solution is the set
  }
  return nullptr;
}

Value Reader::item() {
  Value first = relation();
  if (!is("\\cup")) return first;
  Value set;  // a union of intervals or sets: compared as a set of its parts
  set.kind = Value::kList;
  set.open = set.close = 'u';
  set.items.push_back(std::move(first));
  while (is("\\cup")) {
    ++i_;
    set.items.push_back(relation());
  }
  return set;
}

Value Reader::relation() {
  Value first = expr_value();
  if (!relation_op(peek())) return first;
  Value rel;
  rel.kind = Value::kRelation;
  rel.items.push_back(std::move(first));
  while (const char* op = relation_op(peek())) {
    ++i_;
    rel.ops.push_back(op);
    rel.items.push_back(expr_value());
  }
  return rel;
}

Value Reader::expr_value() {
  enter();
  Value left = term();
  for (;;) {
    if (is("+") || is("-") || is("\\pm") || is("\\mp")) {
      std::string op = t_[i_++].text;
      Value right = term();
      GiNaC::ex r = as_expr(right);
      if (op == "\\pm") r = parser_.pm() * r;
      if (op == "\\mp") r = -parser_.pm() * r;
      if (op == "-") r = -r;
      left = of(as_expr(left) + r);
    } else {
      break;
    }
  }
  leave();
  return left;
}

bool Reader::starts_primary() const {
  const Token& t = peek();
  if (t.kind == Token::kNumber || t.kind == Token::kLetter) return true;
  if (t.kind == Token::kSymbol) return t.text == "(" || t.text == "[" || t.text == "{" || (t.text == "|" && abs_depth_ == 0);
  if (t.kind == Token::kCommand) {
    return t.text == "\\frac" || t.text == "\\sqrt" || t.text == "\\pi" || t.text == "\\infty" || t.text == "\\{" ||
           t.text == "\\binom" || t.text == "\\dbinom" || t.text == "\\lfloor" || t.text == "\\lceil" ||
           t.text.rfind("\\begin{", 0) == 0 || (t.text.size() > 1 && is_function(t.text.substr(1)));
  }
  return false;
}

Value Reader::term() {
  enter();
  Value left = unary();
  for (;;) {
    if (is("*") || is("\\cdot") || is("\\times")) {
      ++i_;
      left = of(as_expr(left) * as_expr(unary()));
    } else if (is("/") || is("\\div")) {
      ++i_;
      GiNaC::ex d = as_expr(unary());
      if (d.is_zero()) fail("division by zero");
      left = of(as_expr(left) / d);
    } else if (starts_primary() && left.kind == Value::kExpr && !(peek().kind == Token::kNumber && i_ > 0 &&
                                                                    t_[i_ - 1].kind == Token::kNumber)) {
      // implicit: 2x, 4\sqrt{2}, 2(x+1); never two numbers side by side ("2 3" is no product, nor 23)
      left = of(as_expr(left) * as_expr(power()));
    } else {
      break;
    }
  }
  leave();
  return left;
}

Value Reader::unary() {
  enter();
  Value v;
  if (is("\\pm") || is("\\mp")) {  // \pm 3: the pair 3, -3
    bool minus = is("\\mp");
    ++i_;
    v = of((minus ? -1 : 1) * parser_.pm() * as_expr(unary()));
  } else if (is("-")) {
    ++i_;
    v = of(-as_expr(unary()));
  } else if (is("+")) {
    ++i_;
    v = unary();
  } else {
    v = power();
  }
  leave();
  return v;
}

Value Reader::power() {
  enter();
  Value base = postfix();
  if (is("^")) {
    ++i_;
    Value exponent = unary();  // right-associative, and -x in the exponent works
    base = of(checked_power(as_expr(base), as_expr(exponent)));
  }
  leave();
  return base;
}

Value Reader::postfix() {
  Value v = primary();
  while (is("!")) {
    ++i_;
    const GiNaC::ex& e = as_expr(v);
    if (!GiNaC::is_a<GiNaC::numeric>(e) || !GiNaC::ex_to<GiNaC::numeric>(e).is_nonneg_integer()) {
      fail("factorial of something that is not a non-negative integer");
    }
    if (GiNaC::ex_to<GiNaC::numeric>(e) > 1000) too_large("a factorial above 1000!");
    v = of(GiNaC::factorial(e));
  }
  return v;
}

}  // namespace r1::rewards::math

// Equivalence of parsed answers: see math_compare.h.
#include "rewards/math_compare.h"
#include "rewards/math_plain.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>

namespace r1::rewards::math {
namespace {

// Exact answers are compared numerically only when simplification cannot decide; GiNaC then works
// with 40 digits, so a tolerance of 1e-25 separates pi/2^40 from pi/(2^40+1). A decimal answer with
// at least 10 significant digits is an approximation accepted to within its last digit; shorter
// decimals must be exactly equal (0.333 is not 1/3, 3.14 is not pi).
constexpr double kExactTolerance = 1e-25;
constexpr double kProbeTolerance = 1e-12;

bool has_symbols(const GiNaC::ex& e) {
  if (GiNaC::is_a<GiNaC::symbol>(e)) return true;
  for (size_t i = 0; i < e.nops(); ++i) {
    if (has_symbols(e.op(i))) return true;
  }
  return false;
}

// How many terms expanding `e` could produce (saturating at 1e12): normal() expands numerators, and
// (a + b + c + d)^249 has 2.7 million terms. Above kMaxExpansion, equality is decided by probing.
double expansion_size(const GiNaC::ex& e) {
  constexpr double kCap = 1e12;
  if (GiNaC::is_a<GiNaC::add>(e)) {
    double sum = 0;
    for (size_t i = 0; i < e.nops(); ++i) sum = std::min(kCap, sum + expansion_size(e.op(i)));
    return sum;
  }
  if (GiNaC::is_a<GiNaC::mul>(e)) {
    double product = 1;
    for (size_t i = 0; i < e.nops(); ++i) product = std::min(kCap, product * expansion_size(e.op(i)));
    return product;
  }
  if (GiNaC::is_a<GiNaC::power>(e) && GiNaC::is_a<GiNaC::numeric>(e.op(1))) {
    double base = expansion_size(e.op(0));
    GiNaC::numeric n = GiNaC::abs(GiNaC::ex_to<GiNaC::numeric>(e.op(1)));
    if (base <= 1 || !n.is_integer()) return base;
    // Terms of (t_1 + ... + t_k)^n: C(n + k - 1, k - 1).
    double k = base, terms = 1, exponent = n.to_double();
    for (double j = 1; j < k && terms < kCap; ++j) terms = terms * (exponent + j) / j;
    return std::min(kCap, terms);
  }
  return 1;
}
constexpr double kMaxExpansion = 5000;

bool is_exact_number(const GiNaC::ex& e) {
  return GiNaC::is_a<GiNaC::numeric>(e) && GiNaC::ex_to<GiNaC::numeric>(e).is_crational();
}

std::optional<std::complex<double>> numeric_value(const GiNaC::ex& e) {
  try {
    GiNaC::ex v = GiNaC::evalf(e);
    if (!GiNaC::is_a<GiNaC::numeric>(v)) return std::nullopt;
    auto n = GiNaC::ex_to<GiNaC::numeric>(v);
    double re = GiNaC::real(n).to_double(), im = GiNaC::imag(n).to_double();
    if (!std::isfinite(re) || !std::isfinite(im)) return std::nullopt;
    return std::complex<double>(re, im);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool close(std::complex<double> a, std::complex<double> b, double tolerance) {
  double scale = std::max({1e-300, std::abs(a), std::abs(b)});
  return std::abs(a - b) <= tolerance * scale;
}

// |a - b| / max(|a|, |b|) computed by GiNaC at its working precision (doubles lose it for exact forms).
std::optional<double> relative_difference(const GiNaC::ex& a, const GiNaC::ex& b) {
  try {
    GiNaC::ex x = GiNaC::evalf(a), y = GiNaC::evalf(b);
    if (!GiNaC::is_a<GiNaC::numeric>(x) || !GiNaC::is_a<GiNaC::numeric>(y)) return std::nullopt;
    GiNaC::numeric nx = GiNaC::ex_to<GiNaC::numeric>(x), ny = GiNaC::ex_to<GiNaC::numeric>(y);
    GiNaC::numeric scale = std::max(GiNaC::abs(nx), GiNaC::abs(ny));
    if (scale.is_zero()) return 0.0;
    return (GiNaC::abs(nx - ny) / scale).to_double();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

class Comparer {
 public:
  Comparer(math::Parser& parser, const Deadline& deadline, int decimal_digits, double tolerance)
      : parser_(parser), deadline_(deadline), decimal_digits_(decimal_digits), tolerance_(tolerance) {}

  bool saw_false_equation() const { return false_equation_; }

  // `a` is the gold side: a recipe's tolerance applies when it is a number that is not an integer.
  bool exprs_equal(const GiNaC::ex& a, const GiNaC::ex& b) {
    if (deadline_.expired()) throw DeadlineExceeded{};
    if (tolerance_ > 0 && within_tolerance(a, b)) return true;
    if (is_exact_number(a) && is_exact_number(b)) return a == b;  // exact rationals: no tolerance at all
    if (expansion_size(a) + expansion_size(b) > kMaxExpansion) return probe(a, b);  // too big to expand
    GiNaC::ex diff;
    try {
      diff = (a - b).normal();
      if (diff.is_zero()) return true;
    } catch (const std::exception&) {
      return false;
    }
    if (is_exact_number(diff)) return false;
    if (!has_symbols(diff)) {
      auto rel = relative_difference(a, b);
      if (!rel) return false;
      if (decimal_digits_ == 0) return *rel <= kExactTolerance;
      if (decimal_digits_ < 10) return false;  // a short decimal equals only its exact value
      return *rel <= std::pow(10.0, 1 - decimal_digits_);
    }
    return probe(a, b);
  }

  bool within_tolerance(const GiNaC::ex& gold, const GiNaC::ex& pred) const {
    if (has_symbols(gold) || has_symbols(pred)) return false;
    if (GiNaC::is_a<GiNaC::numeric>(gold) && GiNaC::ex_to<GiNaC::numeric>(gold).is_integer()) return false;
    auto g = numeric_value(gold), p = numeric_value(pred);
    return g && p && std::abs(*g - *p) <= tolerance_ * std::abs(*g);
  }

  // Numeric probing: equal at several random points of every symbol (radicals, trigonometry).
  bool probe(const GiNaC::ex& a, const GiNaC::ex& b) {
    std::mt19937 rng(12345);
    std::uniform_real_distribution<double> value(0.3, 2.7);
    int agreed = 0;
    for (int attempt = 0; attempt < 12 && agreed < 4; ++attempt) {
      if (deadline_.expired()) throw DeadlineExceeded{};
      GiNaC::exmap point;
      for (const auto& [name, sym] : parser_.symbols()) point[sym] = GiNaC::numeric(value(rng));
      std::optional<std::complex<double>> x, y;
      try {
        x = numeric_value(a.subs(point));
        y = numeric_value(b.subs(point));
      } catch (const std::exception&) {
        continue;  // a pole at this point (GiNaC throws while substituting): try another
      }
      if (!x || !y) continue;  // a pole or a domain error at this point: try another
      if (!close(*x, *y, kProbeTolerance)) return false;
      ++agreed;
    }
    return agreed >= 3;
  }

  // Expands \pm into its two values; an answer without \pm is a single value.
  std::vector<GiNaC::ex> plus_minus(const GiNaC::ex& e) {
    if (!e.has(parser_.pm())) return {e};
    return {e.subs(parser_.pm() == 1), e.subs(parser_.pm() == -1)};
  }

  // "x = 3" -> 3 when the left side is a lone symbol; "(x, y) = (2, 5)" -> (2, 5).
  static const Value* solved_value(const Value& v) {
    if (v.kind != Value::kRelation || v.ops.size() != 1 || v.ops[0] != "=") return nullptr;
    auto is_symbol = [](const Value& x) { return x.kind == Value::kExpr && GiNaC::is_a<GiNaC::symbol>(x.expr); };
    if (is_symbol(v.items[0])) return &v.items[1];
    const Value& lhs = v.items[0];
    if (lhs.kind == Value::kList && lhs.open == '(' && std::all_of(lhs.items.begin(), lhs.items.end(), is_symbol) &&
        v.items[1].kind == Value::kList && v.items[1].items.size() == lhs.items.size()) {
      return &v.items[1];
    }
    return nullptr;
  }

  // A bare list whose first item is "x = 1": the list of values (n = 1, 2, 3).
  static Value strip_list_variable(const Value& v) {
    if (v.kind != Value::kList || v.items.empty()) return v;
    const Value* first = solved_value(v.items[0]);
    if (!first) return v;
    Value out = v;
    out.items[0] = *first;
    return out;
  }

  static bool is_interval(const Value& v) {
    return v.kind == Value::kList && v.items.size() == 2 && (v.open == '(' || v.open == '[') &&
           (v.close == ')' || v.close == ']');
  }

  bool lists_equal_ordered(const std::vector<Value>& a, const std::vector<Value>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!equal(a[i], b[i])) return false;
    }
    return true;
  }

  // Every item of `a` matches a distinct item of `b` (greedy matching: equality is transitive here).
  template <typename T, typename Equal>
  static bool match_unordered(const std::vector<T>& a, const std::vector<T>& b, Equal equal_items) {
    if (a.size() != b.size()) return false;
    std::vector<bool> used(b.size(), false);
    for (const auto& x : a) {
      bool found = false;
      for (size_t j = 0; j < b.size() && !found; ++j) {
        if (!used[j] && equal_items(x, b[j])) used[j] = found = true;
      }
      if (!found) return false;
    }
    return true;
  }

  bool lists_equal_unordered(const std::vector<Value>& a, const std::vector<Value>& b) {
    return match_unordered(a, b, [this](const Value& x, const Value& y) { return equal(x, y); });
  }

  // Relations as (difference, operator) with > and >= flipped to < and <=.
  bool relations_equal(const Value& a, const Value& b) {
    if (a.ops.size() != b.ops.size()) return false;
    bool same = true, reversed = true;
    for (size_t k = 0; k < a.ops.size(); ++k) {
      same = same && relation_equal(a.items[k], a.ops[k], a.items[k + 1], b.items[k], b.ops[k], b.items[k + 1]);
    }
    size_t n = b.ops.size();
    for (size_t k = 0; k < a.ops.size() && reversed; ++k) {
      // a chain written the other way round: 1 < x < 3 vs 3 > x > 1
      reversed = relation_equal(a.items[k], a.ops[k], a.items[k + 1], b.items[n - k], flip(b.ops[n - 1 - k]),
                                b.items[n - 1 - k]);
    }
    return same || reversed;
  }

  static std::string flip(const std::string& op) {
    if (op == "<") return ">";
    if (op == ">") return "<";
    if (op == "<=") return ">=";
    if (op == ">=") return "<=";
    return op;
  }

  bool relation_equal(const Value& l1, std::string op1, const Value& r1, const Value& l2, std::string op2,
                      const Value& r2) {
    if (l1.kind != Value::kExpr || r1.kind != Value::kExpr || l2.kind != Value::kExpr || r2.kind != Value::kExpr) {
      return false;
    }
    GiNaC::ex d1 = l1.expr - r1.expr, d2 = l2.expr - r2.expr;
    if (op1 == ">" || op1 == ">=") {
      d1 = -d1;
      op1 = op1 == ">" ? "<" : "<=";
    }
    if (op2 == ">" || op2 == ">=") {
      d2 = -d2;
      op2 = op2 == ">" ? "<" : "<=";
    }
    if (op1 != op2) return false;
    if (d2.is_zero()) return d1.is_zero();
    // Same relation when d1 = c * d2 with c a constant: any c != 0 for = and !=, c > 0 for < and <=.
    if (expansion_size(d1) + expansion_size(d2) > kMaxExpansion) return false;  // not decided: too big
    GiNaC::ex ratio;
    try {
      ratio = (d1 / d2).normal();
    } catch (const std::exception&) {
      return false;
    }
    if (has_symbols(ratio)) return false;
    auto c = numeric_value(ratio);
    if (!c || std::abs(c->imag()) > 1e-12 || std::abs(c->real()) < 1e-12) return false;
    return (op1 == "=" || op1 == "!=") || c->real() > 0;
  }

  static bool is_lone_symbol(const Value& v) { return v.kind == Value::kExpr && GiNaC::is_a<GiNaC::symbol>(v.expr); }
  static bool is_constant(const Value& v) { return v.kind == Value::kExpr && !has_symbols(v.expr); }
  static bool is_matrix(const Value& v) { return v.kind == Value::kList && v.open == 'm'; }

  // A chain of equalities answers with its last side: "y = 4 + 4 + 2 = 10" is y = 10 (10 against a
  // gold value), "6 \cdot 7 = 42" is 42, "A + B = \begin{pmatrix}...\end{pmatrix}" is the matrix. It
  // does so only when every side after the first is a constant (a matrix when the last one is) and
  // every constant side equals the last: one false step ("2 + 2 = 5") makes the whole answer wrong.
  // The first side is a lone symbol, a constant, or, before a matrix, any expression. kNone when
  // `v` is no such chain (a plain "x = 3" stays for solved_value); the value in `out` for kValue.
  enum class Chain { kNone, kFalse, kValue };
  Chain chain_value(const Value& v, bool gold_is_relation, Value& out) {
    if (v.kind != Value::kRelation || v.items.size() < 2) return Chain::kNone;
    for (const auto& op : v.ops) {
      if (op != "=") return Chain::kNone;
    }
    const Value& first = v.items.front();
    const Value& last = v.items.back();
    bool matrix = is_matrix(last);
    if (!is_constant(last) && !matrix) return Chain::kNone;
    bool symbol_first = is_lone_symbol(first);
    if (symbol_first && v.items.size() == 2) return Chain::kNone;
    if (!symbol_first && !is_constant(first) && !(matrix && first.kind == Value::kExpr)) return Chain::kNone;
    for (size_t k = symbol_first || !is_constant(first) ? 1 : 0; k + 1 < v.items.size(); ++k) {
      const Value& side = v.items[k];
      if (!(matrix ? is_matrix(side) : is_constant(side))) return Chain::kNone;
      if (!(matrix ? equal(side, last) : exprs_equal(side.expr, last.expr))) {
        false_equation_ = true;
        return Chain::kFalse;
      }
    }
    out = last;
    if (symbol_first && gold_is_relation) {  // y = 4 + 4 + 2 = 10 against y = 10
      out = v;
      out.items = {first, last};
      out.ops = {"="};
    }
    return Chain::kValue;
  }

  // Base-b numerals (312_4) equal the same digits in the same base, or the same digits written bare.
  static bool numerals_equal(const Value& a, const Value& b) {
    auto digits = [](const Value& v) -> std::optional<std::string> {
      if (v.kind == Value::kNumeral) return v.text;
      if (v.kind == Value::kExpr && GiNaC::is_a<GiNaC::numeric>(v.expr) &&
          GiNaC::ex_to<GiNaC::numeric>(v.expr).is_nonneg_integer()) {
        std::ostringstream out;
        out << v.expr;
        return out.str();
      }
      return std::nullopt;
    };
    if (a.kind == Value::kNumeral && b.kind == Value::kNumeral && a.base != b.base) return false;
    auto x = digits(a), y = digits(b);
    return x && y && *x == *y;
  }

  bool equal(const Value& gold_in, const Value& pred_in) {
    if (deadline_.expired()) throw DeadlineExceeded{};
    Value gold_last, pred_last;
    Chain gold_chain = chain_value(gold_in, false, gold_last);
    Chain pred_chain = chain_value(pred_in, gold_in.kind == Value::kRelation && gold_chain == Chain::kNone, pred_last);
    if (gold_chain == Chain::kFalse || pred_chain == Chain::kFalse) return false;
    if (gold_chain == Chain::kValue || pred_chain == Chain::kValue) {
      return equal(gold_chain == Chain::kValue ? gold_last : gold_in, pred_chain == Chain::kValue ? pred_last : pred_in);
    }
    if (gold_in.kind == Value::kNumeral || pred_in.kind == Value::kNumeral) return numerals_equal(gold_in, pred_in);
    // x = 3 against 3 (either side); n = 1, 2 against 1, 2.
    const Value* gold = &gold_in;
    const Value* pred = &pred_in;
    Value gold_list = strip_list_variable(gold_in), pred_list = strip_list_variable(pred_in);
    if (gold_in.kind == Value::kList) gold = &gold_list;
    if (pred_in.kind == Value::kList) pred = &pred_list;
    if (gold->kind != Value::kRelation || !solved_value(*gold) || pred->kind != Value::kRelation) {
      if (const Value* v = solved_value(*gold); v && pred->kind != Value::kRelation) gold = v;
      if (const Value* v = solved_value(*pred); v && gold->kind != Value::kRelation) pred = v;
    }

    if (gold->kind == Value::kChoice || pred->kind == Value::kChoice) {
      return gold->kind == pred->kind && gold->text == pred->text;
    }
    if (gold->kind == Value::kText || pred->kind == Value::kText) {
      return gold->kind == pred->kind && gold->text == pred->text;
    }
    if (gold->kind == Value::kRelation || pred->kind == Value::kRelation) {
      if (gold->kind == Value::kRelation && pred->kind == Value::kRelation) return relations_equal(*gold, *pred);
      // A gold inequality accepts the same set written as an interval, never the reverse.
      if (gold->kind == Value::kRelation && is_interval(*pred)) return relation_matches_interval(*gold, *pred);
      return false;
    }
    if (gold->kind == Value::kExpr && pred->kind == Value::kExpr) {
      auto g = plus_minus(gold->expr), p = plus_minus(pred->expr);
      if (g.size() == 1 && p.size() == 1) return exprs_equal(g[0], p[0]);
      return as_set_equal(g, p);
    }
    if (gold->kind == Value::kExpr && gold->expr.has(parser_.pm()) && pred->kind == Value::kList) {
      std::vector<GiNaC::ex> p;
      for (const auto& item : pred->items) {
        if (item.kind != Value::kExpr) return false;
        p.push_back(item.expr);
      }
      return as_set_equal(plus_minus(gold->expr), p);
    }
    if (gold->kind == Value::kList && pred->kind == Value::kExpr && pred->expr.has(parser_.pm())) {
      std::vector<GiNaC::ex> g;
      for (const auto& item : gold->items) {
        if (item.kind != Value::kExpr) return false;
        g.push_back(item.expr);
      }
      return as_set_equal(g, plus_minus(pred->expr));
    }
    if (gold->kind != Value::kList || pred->kind != Value::kList) return false;
    return lists_equal(*gold, *pred);
  }

  // Lists: intervals need the same brackets; sets and bare lists ignore order; tuples keep it.
  bool lists_equal(const Value& gold_list, const Value& pred_list) {
    const Value* gold = &gold_list;
    const Value* pred = &pred_list;
    if (gold->open == 'u' || pred->open == 'u') {
      return gold->open == pred->open && lists_equal_unordered(gold->items, pred->items);
    }
    if ((gold->open == 'm') != (pred->open == 'm')) {  // a vector against the tuple of its entries
      const Value& matrix = gold->open == 'm' ? *gold : *pred;
      const Value& other = gold->open == 'm' ? *pred : *gold;
      std::optional<std::vector<Value>> entries = vector_entries(matrix);
      return other.open == '(' && entries && lists_equal_ordered(*entries, other.items);
    }
    if (gold->open == 'm' || pred->open == 'm' || gold->open == 'r') {
      return gold->open == pred->open && lists_equal_ordered(gold->items, pred->items);
    }
    bool gold_interval = is_interval(*gold) && (gold->open != '(' || gold->close != ')');
    bool pred_interval = is_interval(*pred) && (pred->open != '(' || pred->close != ')');
    if (gold_interval || pred_interval) {
      return gold->open == pred->open && gold->close == pred->close && lists_equal_ordered(gold->items, pred->items);
    }
    // A set or a bare list of solutions ignores order, unless the prediction wrote an ordered tuple.
    if (gold->open == '{') return pred->open != '(' && lists_equal_unordered(gold->items, pred->items);
    if (gold->open == 0) {
      return pred->open == '(' ? lists_equal_ordered(gold->items, pred->items)
                               : lists_equal_unordered(gold->items, pred->items);
    }
    if (pred->open == '{') return false;  // a tuple is not a set
    return lists_equal_ordered(gold->items, pred->items);
  }

  // The entries of a one-column or one-row matrix of at least two, in order.
  static std::optional<std::vector<Value>> vector_entries(const Value& m) {
    std::vector<Value> out;
    if (m.items.size() == 1) out = m.items[0].items;
    else {
      for (const auto& row : m.items) {
        if (row.items.size() != 1) return std::nullopt;
        out.push_back(row.items[0]);
      }
    }
    if (out.size() < 2) return std::nullopt;
    return out;
  }

  bool as_set_equal(const std::vector<GiNaC::ex>& a, const std::vector<GiNaC::ex>& b) {
    return match_unordered(a, b, [this](const GiNaC::ex& x, const GiNaC::ex& y) { return exprs_equal(x, y); });
  }

  // 1 < x <= 3 against (1, 3]; x >= 2 against [2, \infty).
  bool relation_matches_interval(const Value& rel, const Value& interval) {
    GiNaC::ex lo, hi;
    bool lo_closed = false, hi_closed = false;
    auto is_var = [](const Value& v) { return v.kind == Value::kExpr && GiNaC::is_a<GiNaC::symbol>(v.expr); };
    auto expr_of = [](const Value& v) { return v.kind == Value::kExpr ? v.expr : GiNaC::ex(0); };
    if (rel.ops.size() == 2 && is_var(rel.items[1])) {
      std::string a = rel.ops[0], b = rel.ops[1];
      if ((a == "<" || a == "<=") && (b == "<" || b == "<=")) {
        lo = expr_of(rel.items[0]), hi = expr_of(rel.items[2]);
        lo_closed = a == "<=", hi_closed = b == "<=";
      } else if ((a == ">" || a == ">=") && (b == ">" || b == ">=")) {
        hi = expr_of(rel.items[0]), lo = expr_of(rel.items[2]);
        hi_closed = a == ">=", lo_closed = b == ">=";
      } else {
        return false;
      }
    } else if (rel.ops.size() == 1 && (is_var(rel.items[0]) || is_var(rel.items[1]))) {
      std::string op = is_var(rel.items[0]) ? rel.ops[0] : flip(rel.ops[0]);
      GiNaC::ex bound = expr_of(is_var(rel.items[0]) ? rel.items[1] : rel.items[0]);
      GiNaC::ex inf = parser_.infinity();
      if (op == "<" || op == "<=") lo = -inf, hi = bound, hi_closed = op == "<=";
      else if (op == ">" || op == ">=") lo = bound, hi = inf, lo_closed = op == ">=";
      else return false;
    } else {
      return false;
    }
    if (interval.items[0].kind != Value::kExpr || interval.items[1].kind != Value::kExpr) return false;
    return lo_closed == (interval.open == '[') && hi_closed == (interval.close == ']') &&
           exprs_equal(lo, interval.items[0].expr) && exprs_equal(hi, interval.items[1].expr);
  }

 private:
  math::Parser& parser_;
  const Deadline& deadline_;
  int decimal_digits_;
  double tolerance_;
  bool false_equation_ = false;
};

}  // namespace

void use_high_precision() {
  static std::once_flag once;
  std::call_once(once, [] { GiNaC::Digits = 40; });
}

Comparison compare_answers(const Value& gold, const Value& pred, Parser& parser, const Deadline& deadline,
                           int decimal_digits, double tolerance) {
  Comparer comparer(parser, deadline, decimal_digits, tolerance);
  Comparison out;
  out.equal = comparer.equal(gold, pred);
  out.false_equation = !out.equal && comparer.saw_false_equation();
  return out;
}

bool is_approximation(const Value& gold, const Value& pred, int pred_digits) {
  if (pred_digits <= 0 || gold.kind != Value::kExpr || pred.kind != Value::kExpr) return false;
  if (has_symbols(gold.expr) || has_symbols(pred.expr) || !is_exact_number(pred.expr)) return false;
  auto g = numeric_value(gold.expr), p = numeric_value(pred.expr);
  if (!g || !p || std::abs(p->imag()) > 0 || std::abs(g->imag()) > 0) return false;
  return within_last_digit(g->real(), p->real(), pred_digits);
}

}  // namespace r1::rewards::math

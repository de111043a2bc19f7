// LaTeX / plain-text answers into exact values. See math.h for what is accepted and the bounds.
//
// Grammar (recursive descent; every level counts towards the nesting bound):
//   answer   := item (("," | ";") item)*              several items: a bare list
//   item     := expr (relop expr)*                     one or more relations: a relation chain
//   expr     := term (("+" | "-" | "\pm" | "\mp") term)*
//   term     := unary (("*" | "\cdot" | "\times" | "/" | "\div" | <implicit>) unary)*
//   unary    := ("-" | "+") unary | power
//   power    := postfix ("^" unary)?                   right-associative: 2^3^2 = 2^9
//   postfix  := primary "!"*
//   primary  := number | letter | "(" answer ")" | "[" answer "]" | "{" answer "}" | "\{" answer "\}"
//             | \frac A B | \sqrt[n] A | \sqrt A | \sin A ... | \pi | \infty | \begin{pmatrix} ... \end{pmatrix}
#include "rewards/math_parse.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace r1::rewards::math {
namespace {

constexpr size_t kMaxLength = 4000;
constexpr int kMaxDepth = 100;
constexpr size_t kMaxDigits = 1000;
constexpr double kMaxResultDigits = 10000;
constexpr int kMaxSymbolicExponent = 1000;

[[noreturn]] void fail(const std::string& message) { throw ParseError{message, false}; }
[[noreturn]] void too_large(const std::string& message) { throw ParseError{"too large: " + message, true}; }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t at = 0;
  while ((at = s.find(from, at)) != std::string::npos) {
    s.replace(at, from.size(), to);
    at += to.size();
  }
}

// Replaces \cmd{content} by content (for \text, \mathrm, ...), with nested braces.
void unwrap_command(std::string& s, std::string_view cmd) {
  size_t at = 0;
  while ((at = s.find(cmd, at)) != std::string::npos) {
    size_t open = at + cmd.size();
    while (open < s.size() && s[open] == ' ') ++open;
    if (open >= s.size() || s[open] != '{') {
      at += cmd.size();
      continue;
    }
    int depth = 0;
    size_t close = open;
    for (; close < s.size(); ++close) {
      if (s[close] == '{') ++depth;
      else if (s[close] == '}' && --depth == 0) break;
    }
    if (close >= s.size()) return;  // unbalanced: leave it to the parser to refuse
    std::string content = s.substr(open + 1, close - open - 1);
    size_t after = close + 1;
    if (after + 1 < s.size() && s[after] == '^' && std::isdigit(static_cast<unsigned char>(s[after + 1]))) {
      content += s.substr(after, 2);  // \text{ cm}^2: the power belongs to the unit
      after += 2;
    }
    s = s.substr(0, at) + " " + content + " " + s.substr(after);
  }
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool is_thousands_number(const std::string& s) {
  // [+-]? d{1,3} (, d{3})+ (. d+)?
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t lead = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++lead;
  if (lead < 1 || lead > 3) return false;
  int groups = 0;
  while (i < s.size() && s[i] == ',') {
    ++i;
    size_t g = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++g;
    if (g != 3) return false;
    ++groups;
  }
  if (groups == 0) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t f = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++f;
    if (f == 0) return false;
  }
  return i == s.size();
}

const std::vector<std::string>& function_names() {
  static const std::vector<std::string> names = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos",
                                                 "arctan", "sinh", "cosh", "tanh", "log", "ln", "exp", "sqrt"};
  return names;
}

bool is_function(const std::string& word) {
  const auto& f = function_names();
  return std::find(f.begin(), f.end(), word) != f.end();
}


// Words that are units (or unit-like) and may follow a number in an answer: stripped.
bool is_unit(std::string word) {
  for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (word.size() > 2 && word[word.size() - 2] == '^') word = word.substr(0, word.size() - 2);  // cm^2
  if (auto slash = word.find('/'); slash != std::string::npos) {                               // km/h
    return is_unit(word.substr(0, slash)) && is_unit(word.substr(slash + 1));
  }
  static const std::vector<std::string> units = {
      "mm", "cm", "m", "km", "in", "inch", "inches", "ft", "foot", "feet", "yd", "yard", "yards", "mi", "mile", "miles",
      "meter", "meters", "metre", "metres", "centimeter", "centimeters", "millimeter", "millimeters", "kilometer",
      "kilometers", "mg", "g", "kg", "gram", "grams", "kilogram", "kilograms", "lb", "lbs", "pound", "pounds", "oz",
      "ounce", "ounces", "ton", "tons", "l", "ml", "liter", "liters", "litre", "litres", "gallon", "gallons", "s", "sec",
      "second", "seconds", "min", "minute", "minutes", "h", "hr", "hrs", "hour", "hours", "day", "days", "week", "weeks",
      "month", "months", "year", "years", "mph", "kmh", "dollar", "dollars", "cent", "cents", "euro", "euros", "degree",
      "degrees", "percent", "unit", "units", "square", "cubic", "sq", "cu", "people", "students", "times", "ways",
      "apples", "marbles", "balls", "cars", "points", "steps", "pages", "books", "boxes", "coins", "cookies", "eggs"};
  return std::find(units.begin(), units.end(), word) != units.end();
}
// True when the text before a unit ends in a number followed only by units ("3 square" + "meters").
bool is_unit_prefix(std::string_view text) {
  size_t e = text.size();
  for (;;) {
    while (e > 0 && text[e - 1] == ' ') --e;
    size_t b = e;
    while (b > 0 && std::isalpha(static_cast<unsigned char>(text[b - 1]))) --b;
    if (b == e) return e > 0 && (std::isdigit(static_cast<unsigned char>(text[e - 1])) || text[e - 1] == '}');
    if (!is_unit(std::string(text.substr(b, e - b)))) return false;
    e = b;
  }
}

// "0.\overline{3}" -> "(1/3)", "0.1\overline{6}" -> "(1/6)", "0.333\ldots" -> "(1/3)": repeating decimals.
std::string expand_repeating(std::string s) {
  auto as_fraction = [](const std::string& integer, const std::string& fixed, const std::string& period) {
    // x = I.F(P) repeating = (IFP - IF) / (10^|F| * (10^|P| - 1))
    std::string all = integer + fixed + period, head = integer + fixed;
    GiNaC::numeric num = GiNaC::numeric(all.empty() ? "0" : all.c_str()) - GiNaC::numeric(head.empty() ? "0" : head.c_str());
    GiNaC::numeric den = GiNaC::pow(GiNaC::numeric(10), GiNaC::numeric(static_cast<long>(fixed.size()))) *
                         (GiNaC::pow(GiNaC::numeric(10), GiNaC::numeric(static_cast<long>(period.size()))) - 1);
    std::ostringstream out;
    out << "(" << num / den << ")";
    return out.str();
  };
  for (size_t at; (at = s.find("\\overline{")) != std::string::npos;) {
    size_t close = s.find('}', at);
    if (close == std::string::npos) break;
    std::string period = s.substr(at + 10, close - at - 10);
    size_t dot = at;
    while (dot > 0 && std::isdigit(static_cast<unsigned char>(s[dot - 1]))) --dot;
    if (dot == 0 || s[dot - 1] != '.' || period.empty() ||
        period.find_first_not_of("0123456789") != std::string::npos || period.size() > 50) {
      break;  // not a repeating decimal: leave it for the parser to refuse
    }
    std::string fixed = s.substr(dot, at - dot);
    size_t begin = dot - 1;
    while (begin > 0 && std::isdigit(static_cast<unsigned char>(s[begin - 1]))) --begin;
    std::string integer = s.substr(begin, dot - 1 - begin);
    s = s.substr(0, begin) + as_fraction(integer, fixed, period) + s.substr(close + 1);
  }
  for (const char* dots : {"\\ldots", "\\dots", "...", "…"}) {
    size_t at = s.find(dots);
    if (at == std::string::npos) continue;
    size_t b = at;
    while (b > 0 && std::isdigit(static_cast<unsigned char>(s[b - 1]))) --b;
    if (b == 0 || s[b - 1] != '.') continue;
    std::string digits = s.substr(b, at - b);
    size_t ib = b - 1;
    while (ib > 0 && std::isdigit(static_cast<unsigned char>(s[ib - 1]))) --ib;
    std::string integer = s.substr(ib, b - 1 - ib);
    // The period: the shortest block that repeats to the end at least twice (0.333, 0.1666, 0.142857142857).
    for (size_t p = 1; p * 2 <= digits.size(); ++p) {
      size_t start = digits.size() - 2 * p;
      bool repeats = true;
      for (size_t k = start; k + p < digits.size() && repeats; ++k) repeats = digits[k] == digits[k + p];
      if (!repeats) continue;
      while (start >= p && digits.compare(start - p, p, digits, start, p) == 0) start -= p;  // earliest start
      s = s.substr(0, ib) + as_fraction(integer, digits.substr(0, start), digits.substr(start, p)) +
          s.substr(at + std::char_traits<char>::length(dots));
      break;
    }
  }
  return s;
}

}  // namespace

std::string normalize_latex(std::string_view answer) {
  std::string s(answer);
  for (const char* d : {"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big",
                        "\\displaystyle", "\\limits"}) {
    replace_all(s, d, "");
  }
  for (const char* d : {"\\!", "\\,", "\\;", "\\:", "\\qquad", "\\quad", "~", "\\(", "\\)", "\\[", "\\]", "\\$", "$$", "$", "\\%", "%", "^{\\circ}", "^\\circ", "\\circ", "°", "{,}", "\\dfrac", "\\tfrac"}) {
    std::string to = std::string_view(d) == "\\dfrac" || std::string_view(d) == "\\tfrac" ? "\\frac" : "";
    replace_all(s, d, to);
  }
  replace_all(s, "\\\\", "\x01");  // protect the matrix row separator from the "\ " rule
  replace_all(s, "\\ ", " ");
  replace_all(s, "\x01", " \\\\ ");
  replace_all(s, "\\mathbb{R}", "(-\\infty,\\infty)");
  for (const char* d : {"\\lvert", "\\rvert", "\\vert", "\\mid"}) replace_all(s, d, "|");
  replace_all(s, "\\varnothing", "\\emptyset");
  s = expand_repeating(s);
  for (const char* cmd : {"\\text", "\\textbf", "\\textit", "\\mathrm", "\\mathbf", "\\mathit", "\\operatorname", "\\boxed",
                          "\\mbox"}) {
    unwrap_command(s, cmd);
  }
  // Number words: "3 million" is 3000000, "2 squared" is 4 (never silently 3 or 2).
  for (auto [word, math] : std::initializer_list<std::pair<const char*, const char*>>{
           {" million", "\\cdot 10^{6}"}, {" billion", "\\cdot 10^{9}"}, {" thousand", "\\cdot 10^{3}"},
           {" hundred", "\\cdot 100"}, {" squared", "^{2}"}, {" cubed", "^{3}"}}) {
    replace_all(s, word, math);
  }
  // Words joining answers: "2 and 3" is a list, "x < 2 or x > 5" a union.
  replace_all(s, " and ", ",");
  replace_all(s, " or ", "\\cup ");
  s = trim(s);
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();  // a final full stop
  // Trailing units after a number: "10 cm", "28 percent", "3 square meters", "60 km/h", "25 cm^2".
  // Only known units go: "3 million" or "2 squared" must not quietly become 3 or 2.
  size_t end = s.size();
  for (;;) {
    size_t e = end;
    while (e > 0 && s[e - 1] == ' ') --e;
    size_t b = e;
    while (b > 0 && (std::isalpha(static_cast<unsigned char>(s[b - 1])) || s[b - 1] == '/' ||
                     (s[b - 1] == '^' && b < e) || (std::isdigit(static_cast<unsigned char>(s[b - 1])) && b > 1 && s[b - 2] == '^'))) {
      --b;
    }
    if (b == e || b == 0) break;
    std::string word = s.substr(b, e - b);
    size_t before = b;
    while (before > 0 && s[before - 1] == ' ') --before;
    char prev = before > 0 ? s[before - 1] : ' ';
    bool after_value = std::isdigit(static_cast<unsigned char>(prev)) || prev == '}' || prev == ')' ||
                       (is_unit(word) && std::isalpha(static_cast<unsigned char>(prev)) && is_unit_prefix(s.substr(0, before)));
    if (!is_unit(word) || !after_value) break;
    end = before;
  }
  s = trim(s.substr(0, end));
  if (is_thousands_number(s)) s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return s;
}

GiNaC::symbol& Parser::symbol(const std::string& name) {
  auto it = symbols_.find(name);
  if (it == symbols_.end()) it = symbols_.emplace(name, GiNaC::symbol(name)).first;
  return it->second;
}

namespace {

struct Token {
  enum Kind { kNumber, kLetter, kWord, kCommand, kSymbol, kEnd } kind;
  std::string text;
};

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (std::isdigit(c) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      size_t b = i;
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
      // Scientific notation: 1.5e3, 2E-4 (only with digits after the e, so "2e" stays 2 times e).
      if (i + 1 < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        size_t k = i + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          while (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) ++k;
          i = k;
        }
      }
      std::string num = s.substr(b, i - b);
      if (std::count(num.begin(), num.end(), '.') > 1) fail("malformed number '" + num + "'");
      if (num.size() > kMaxDigits) too_large("a number with " + std::to_string(num.size()) + " digits");
      out.push_back({Token::kNumber, num});
    } else if (std::isalpha(c)) {
      size_t b = i;
      while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
      std::string word = s.substr(b, i - b);
      if (is_function(word)) {
        out.push_back({Token::kCommand, "\\" + word});
      } else if (word.size() >= 3 || word == "or" || word == "and" || word == "no" || word == "is" || word == "of") {
        out.push_back({Token::kWord, word});
      } else {
        for (char ch : word) out.push_back({Token::kLetter, std::string(1, ch)});
      }
    } else if (c == '\\') {
      size_t b = i++;
      if (i < s.size() && !std::isalpha(static_cast<unsigned char>(s[i]))) {
        ++i;  // \{ \} \\ \,
      } else {
        while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
      }
      std::string cmd = s.substr(b, i - b);
      if ((cmd == "\\begin" || cmd == "\\end") && i < s.size() && s[i] == '{') {
        size_t close = s.find('}', i);
        if (close == std::string::npos) fail("missing '}' after " + cmd);
        cmd += s.substr(i, close - i + 1);  // \begin{pmatrix}
        i = close + 1;
      }
      out.push_back({Token::kCommand, cmd});
    } else if (c >= 0x80) {
      // Unicode operators models write: × ÷ ≤ ≥ ≠ − π √ ∞
      static const std::pair<const char*, Token> kUnicode[] = {
          {"×", {Token::kSymbol, "*"}},         {"÷", {Token::kSymbol, "/"}},          {"≤", {Token::kCommand, "\\leq"}},
          {"≥", {Token::kCommand, "\\geq"}},    {"≠", {Token::kCommand, "\\neq"}},     {"−", {Token::kSymbol, "-"}},
          {"π", {Token::kCommand, "\\pi"}},     {"√", {Token::kCommand, "\\sqrt"}},    {"∞", {Token::kCommand, "\\infty"}},
          {"±", {Token::kCommand, "\\pm"}},     {"·", {Token::kSymbol, "*"}}};
      bool found = false;
      for (const auto& [utf8, token] : kUnicode) {
        size_t n = std::char_traits<char>::length(utf8);
        if (s.compare(i, n, utf8) == 0) {
          out.push_back(token);
          i += n;
          found = true;
          break;
        }
      }
      if (!found) {
        size_t b = i++;
        while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
        out.push_back({Token::kWord, s.substr(b, i - b)});
      }
    } else {
      // Two-character operators.
      if (i + 1 < s.size()) {
        std::string two = s.substr(i, 2);
        if (two == "<=" || two == ">=" || two == "!=" || two == "==") {
          out.push_back({Token::kCommand, two == "<=" ? "\\leq" : two == ">=" ? "\\geq" : two == "!=" ? "\\neq" : "="});
          i += 2;
          continue;
        }
      }
      out.push_back({Token::kSymbol, std::string(1, static_cast<char>(c))});
      ++i;
    }
  }
  out.push_back({Token::kEnd, ""});
  return out;
}

// Exact value of a decimal literal: "12.50" -> 25/2.
GiNaC::numeric exact_number(const std::string& text_in) {
  std::string text = text_in;
  long exponent = 0;
  if (size_t e = text.find_first_of("eE"); e != std::string::npos) {
    std::string digits = text.substr(e + 1);
    if (digits.size() > 6) too_large("an exponent of " + digits);
    exponent = std::stol(digits);
    if (std::abs(exponent) > static_cast<long>(kMaxDigits)) too_large("an exponent of " + digits);
    text = text.substr(0, e);
    return exact_number(text) * GiNaC::pow(GiNaC::numeric(10), GiNaC::numeric(exponent));
  }
  size_t dot = text.find('.');
  if (dot == std::string::npos) return GiNaC::numeric(text.c_str());
  std::string digits = text.substr(0, dot) + text.substr(dot + 1);
  size_t decimals = text.size() - dot - 1;
  if (digits.empty() || digits == "") digits = "0";
  size_t first = digits.find_first_not_of('0');
  digits = first == std::string::npos ? "0" : digits.substr(first);
  return GiNaC::numeric(digits.c_str()) / GiNaC::pow(GiNaC::numeric(10), GiNaC::numeric(static_cast<long>(decimals)));
}

class Reader {
 public:
  Reader(std::vector<Token> tokens, Parser& parser, const Deadline& deadline)
      : t_(std::move(tokens)), parser_(parser), deadline_(deadline) {}

  Value answer(const std::string& stop = "") {
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

  bool at_end() const { return t_[i_].kind == Token::kEnd; }
  const Token& peek() const { return t_[i_]; }

 private:
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

  static const char* relation_op(const Token& t) {
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

  Value item() {
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

  Value relation() {
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

  static const GiNaC::ex& as_expr(const Value& v) {
    if (v.kind != Value::kExpr) fail("a list or relation inside arithmetic");
    return v.expr;
  }
  static Value of(GiNaC::ex e) {
    Value v;
    v.expr = std::move(e);
    return v;
  }

  Value expr_value() {
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

  bool starts_primary() const {
    const Token& t = peek();
    if (t.kind == Token::kNumber || t.kind == Token::kLetter) return true;
    if (t.kind == Token::kSymbol) return t.text == "(" || t.text == "[" || t.text == "{" || (t.text == "|" && abs_depth_ == 0);
    if (t.kind == Token::kCommand) {
      return t.text == "\\frac" || t.text == "\\sqrt" || t.text == "\\pi" || t.text == "\\infty" || t.text == "\\{" ||
             t.text == "\\binom" || t.text == "\\dbinom" || t.text == "\\lfloor" || t.text == "\\lceil" ||
             t.text.rfind("\\begin{", 0) == 0 || t.text.size() > 1 && is_function(t.text.substr(1));
    }
    return false;
  }

  Value term() {
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
      } else if (starts_primary() && left.kind == Value::kExpr) {
        left = of(as_expr(left) * as_expr(power()));  // implicit: 2x, 4\sqrt{2}, 2(x+1)
      } else {
        break;
      }
    }
    leave();
    return left;
  }

  Value unary() {
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

  static bool grows_fast(const GiNaC::ex& e) {
    if (GiNaC::is_a<GiNaC::power>(e)) {
      if (!GiNaC::is_a<GiNaC::numeric>(e.op(1))) return true;
      if (GiNaC::abs(GiNaC::ex_to<GiNaC::numeric>(e.op(1))) > 4) return true;
    }
    if (GiNaC::is_a<GiNaC::function>(e) && GiNaC::ex_to<GiNaC::function>(e).get_name() == "exp") return true;
    for (size_t i = 0; i < e.nops(); ++i) {
      if (grows_fast(e.op(i))) return true;
    }
    return false;
  }

  static GiNaC::ex checked_power(const GiNaC::ex& base, const GiNaC::ex& exponent) {
    // 0 to a negative power is a division by zero; GiNaC would throw from inside its allocator
    // (and leak), so it is refused here first.
    if (base.is_zero() && GiNaC::is_a<GiNaC::numeric>(exponent) &&
        !(GiNaC::ex_to<GiNaC::numeric>(exponent).is_real() && GiNaC::ex_to<GiNaC::numeric>(exponent) > 0)) {
      fail("division by zero");
    }
    // GiNaC evaluates numeric powers eagerly: bound the size of the result before asking.
    if (GiNaC::is_a<GiNaC::numeric>(exponent) && GiNaC::is_a<GiNaC::numeric>(base)) {
      auto b = GiNaC::ex_to<GiNaC::numeric>(base);
      auto e = GiNaC::ex_to<GiNaC::numeric>(exponent);
      if (!e.is_rational()) return GiNaC::pow(base, exponent);
      bool trivial = b.is_zero() || b == 1 || b == -1;
      if (!trivial) {
        double digits = 0;
        if (b.is_rational()) {
          double mag = std::max(std::abs(std::log10(std::abs(GiNaC::numer(b).to_double()) + 1)),
                                std::abs(std::log10(std::abs(GiNaC::denom(b).to_double()) + 1)));
          if (!std::isfinite(mag)) mag = static_cast<double>(std::max(GiNaC::numer(b).int_length(), GiNaC::denom(b).int_length())) * 0.30103;
          digits = mag * std::abs(e.to_double());
        } else {
          digits = std::abs(e.to_double());
        }
        if (!std::isfinite(digits) || digits > kMaxResultDigits || std::abs(e.to_double()) > 1e6) {
          char size[32];
          std::snprintf(size, sizeof size, "%.3g", digits);
          too_large(std::string("a power with about ") + (std::isfinite(digits) ? size : "infinitely many") + " digits");
        }
      }
    }
    // A symbolic exponent that itself grows fast (2^{x^{85}}, towers) cannot be evaluated at probe
    // points without astronomically large numbers: refuse it.
    if (!GiNaC::is_a<GiNaC::numeric>(exponent) && grows_fast(exponent)) too_large("an exponent that grows too fast");
    GiNaC::ex result = GiNaC::pow(base, exponent);
    // A symbolic base: simplification would expand (x+1)^100000 into 100001 huge terms. GiNaC also
    // folds powers of powers, so the check is on the result.
    if (GiNaC::is_a<GiNaC::power>(result) && GiNaC::is_a<GiNaC::numeric>(result.op(1)) &&
        !GiNaC::is_a<GiNaC::numeric>(result.op(0))) {
      auto e = GiNaC::ex_to<GiNaC::numeric>(result.op(1));
      if (GiNaC::abs(e) > kMaxSymbolicExponent) too_large("a power of degree above " + std::to_string(kMaxSymbolicExponent));
    }
    return result;
  }

  Value power() {
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

  Value postfix() {
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

  // One LaTeX argument: {group} or a single token (\frac12, \sqrt2, x^2).
  Value argument() {
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

  Value bracketed(char open, const char* close_a, const char* close_b) {
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

  Value matrix() {
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

  // An unbracketed function argument is a product of plain factors: \cos 2x = cos(2x), and
  // \sin x \cos x = sin(x) cos(x) (another function ends the argument).
  Value function_argument() {
    Value v = power();
    while (peek().kind == Token::kNumber || peek().kind == Token::kLetter) v = of(as_expr(v) * as_expr(power()));
    return v;
  }

  static GiNaC::ex round_numeric(const GiNaC::ex& x, bool floor) {
    GiNaC::ex value = GiNaC::evalf(x);
    if (!GiNaC::is_a<GiNaC::numeric>(value) || !GiNaC::ex_to<GiNaC::numeric>(value).is_real()) {
      fail("floor or ceiling of something that is not a real number");
    }
    if (GiNaC::is_a<GiNaC::numeric>(x) && GiNaC::ex_to<GiNaC::numeric>(x).is_rational()) {
      GiNaC::numeric q = GiNaC::ex_to<GiNaC::numeric>(x);
      GiNaC::numeric n = GiNaC::numer(q), d = GiNaC::denom(q);
      GiNaC::numeric t = GiNaC::iquo(n, d);  // truncates towards zero
      if (t * d != n && (floor ? q < 0 : q > 0)) t += floor ? -1 : 1;
      return t;
    }
    double d = GiNaC::ex_to<GiNaC::numeric>(value).to_double();
    if (!std::isfinite(d) || std::abs(d) > 1e15) too_large("floor or ceiling of a huge number");
    return GiNaC::numeric(static_cast<long>(floor ? std::floor(d) : std::ceil(d)));
  }

  Value primary() {
    enter();
    const Token t = peek();
    Value v;
    if (t.kind == Token::kNumber) {
      ++i_;
      v = of(exact_number(t.text));
      if (t.text.find('.') != std::string::npos) {
        std::string digits;
        for (char c : t.text.substr(0, t.text.find_first_of("eE"))) {
          if (std::isdigit(static_cast<unsigned char>(c))) digits.push_back(c);
        }
        size_t first = digits.find_first_not_of('0');
        parser_.saw_decimal(first == std::string::npos ? 1 : static_cast<int>(digits.size() - first));
      }
      // A mixed number: 3\frac{1}{2} is 3 + 1/2 when the fraction is a proper numeric one.
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
    } else if (t.kind == Token::kLetter) {
      ++i_;
      if (t.text == "e") v = of(GiNaC::exp(GiNaC::ex(1)));
      else if (t.text == "i") v = of(GiNaC::I);
      else v = of(parser_.symbol(t.text));
    } else if (is("(")) {
      v = bracketed('(', ")", "]");
    } else if (is("[")) {
      v = bracketed('[', "]", ")");
    } else if (is("{")) {
      v = bracketed('{', "}", nullptr);
    } else if (is("\\{")) {
      v = bracketed('{', "\\}", nullptr);
    } else if (is("|") && abs_depth_ == 0) {
      ++i_;
      ++abs_depth_;
      Value inner = answer();
      --abs_depth_;
      expect("|");
      v = of(GiNaC::abs(as_expr(inner)));
    } else if (is("\\lfloor") || is("\\lceil")) {
      bool floor = is("\\lfloor");
      ++i_;
      Value inner = answer();
      expect(floor ? "\\rfloor" : "\\rceil");
      v = of(round_numeric(as_expr(inner), floor));
    } else if (is("\\binom") || is("\\dbinom") || is("\\tbinom")) {
      ++i_;
      GiNaC::ex n = as_expr(argument()), k = as_expr(argument());
      auto small_integer = [](const GiNaC::ex& e) {
        return GiNaC::is_a<GiNaC::numeric>(e) && GiNaC::ex_to<GiNaC::numeric>(e).is_nonneg_integer() &&
               GiNaC::ex_to<GiNaC::numeric>(e) <= 100000;
      };
      if (!small_integer(n) || !small_integer(k)) fail("\\binom needs non-negative integers up to 100000");
      v = of(GiNaC::binomial(GiNaC::ex_to<GiNaC::numeric>(n), GiNaC::ex_to<GiNaC::numeric>(k)));
    } else if (is("\\emptyset")) {
      ++i_;
      v.kind = Value::kList;
      v.open = '{';
      v.close = '}';
    } else if (is("\\frac")) {
      ++i_;
      Value n = argument();
      Value d = argument();
      GiNaC::ex den = as_expr(d);
      if (den.is_zero()) fail("division by zero");
      v = of(as_expr(n) / den);
    } else if (is("\\sqrt")) {
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
        v = of(-checked_power(-r, 1 / index));  // the real odd root: \sqrt[3]{-8} = -2
      } else {
        v = of(index == 2 ? GiNaC::sqrt(r) : checked_power(r, 1 / index));
      }
    } else if (is("\\pi")) {
      ++i_;
      v = of(GiNaC::Pi);
    } else if (is("\\infty") || is("\\inf")) {
      ++i_;
      v = of(parser_.infinity());
    } else if (t.kind == Token::kCommand && t.text.rfind("\\begin{", 0) == 0) {
      v = matrix();
    } else if (t.kind == Token::kCommand && t.text.size() > 1 && is_function(t.text.substr(1))) {
      ++i_;
      std::string f = t.text.substr(1);
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
        v = of(checked_power(GiNaC::log(a) / GiNaC::log(base), exponent));
        leave();
        return v;
      }
      GiNaC::ex r;
      if (f == "sin") r = GiNaC::sin(a);
      else if (f == "cos") r = GiNaC::cos(a);
      else if (f == "tan") r = GiNaC::tan(a);
      else if (f == "cot") r = 1 / GiNaC::tan(a);
      else if (f == "sec") r = 1 / GiNaC::cos(a);
      else if (f == "csc") r = 1 / GiNaC::sin(a);
      else if (f == "arcsin") r = GiNaC::asin(a);
      else if (f == "arccos") r = GiNaC::acos(a);
      else if (f == "arctan") r = GiNaC::atan(a);
      else if (f == "sinh") r = GiNaC::sinh(a);
      else if (f == "cosh") r = GiNaC::cosh(a);
      else if (f == "tanh") r = GiNaC::tanh(a);
      else if (f == "log" || f == "ln") {
        if (a.is_zero()) fail("log of zero");
        r = GiNaC::log(a);
      }
      else if (f == "exp") r = GiNaC::exp(a);
      else r = GiNaC::sqrt(a);
      v = of(checked_power(r, exponent));
    } else {
      fail(at_end() ? std::string("unexpected end") : "unexpected '" + t.text + "'");
    }
    leave();
    return v;
  }

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;
  Parser& parser_;
  const Deadline& deadline_;
};

std::string normalize_text(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

Value Parser::parse(std::string_view raw) {
  decimal_digits_ = 0;
  if (raw.size() > kMaxLength) too_large("an answer of " + std::to_string(raw.size()) + " characters");
  std::string s = normalize_latex(raw);
  if (s.empty()) fail("empty answer");
  // Multiple choice: "B", "(B)", "B)", "[B]".
  {
    std::string letters;
    for (char c : s) {
      if (std::isalpha(static_cast<unsigned char>(c))) letters.push_back(c);
      else if (c != '(' && c != ')' && c != '[' && c != ']' && c != ' ' && c != '.' && c != ':') letters = "??";
    }
    if (letters.size() == 1 && std::isupper(static_cast<unsigned char>(letters[0])) && s.size() <= 4) {
      Value v;
      v.kind = Value::kChoice;
      v.text = letters;
      return v;
    }
  }
  std::vector<Token> tokens = tokenize(s);
  bool words = std::any_of(tokens.begin(), tokens.end(), [](const Token& t) { return t.kind == Token::kWord; });
  if (!words) {
    Reader reader(tokens, *this, deadline_);
    try {
      Value v = reader.answer();
      if (reader.at_end()) return v;
      fail("unexpected '" + reader.peek().text + "'");
    } catch (const GiNaC::pole_error&) {
      fail("division by zero");
    } catch (const std::domain_error& e) {
      fail(e.what());
    }
  }
  Value text;
  text.kind = Value::kText;
  text.text = normalize_text(s);
  return text;
}

std::string to_string(const Value& v) {
  std::ostringstream out;
  switch (v.kind) {
    case Value::kExpr: out << v.expr; break;
    case Value::kText: out << '"' << v.text << '"'; break;
    case Value::kChoice: out << "choice " << v.text; break;
    case Value::kRelation:
      for (size_t i = 0; i < v.items.size(); ++i) out << (i ? " " + v.ops[i - 1] + " " : "") << to_string(v.items[i]);
      break;
    case Value::kList: {
      std::string open = v.open == 'm' ? "matrix[" : v.open == 'r' ? "[" : v.open ? std::string(1, v.open) : "";
      std::string close = v.close == 'm' || v.close == 'r' ? "]" : v.close ? std::string(1, v.close) : "";
      out << open;
      for (size_t i = 0; i < v.items.size(); ++i) out << (i ? ", " : "") << to_string(v.items[i]);
      out << close;
      break;
    }
  }
  return out.str();
}

}  // namespace r1::rewards::math

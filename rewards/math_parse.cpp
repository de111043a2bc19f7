// LaTeX / plain-text answers into exact values: see math.h for what is accepted and the bounds.
//
// An answer is normalised (math_normalize.cpp), read as a multiple-choice letter, else tokenised
// (math_lex.cpp) and read by the recursive-descent Reader (math_reader.h: math_grammar.cpp,
// math_primary.cpp) with bounded arithmetic (math_arith.cpp); an answer with words in it is text.
#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>

#include "rewards/math_lex.h"
#include "rewards/math_parse.h"
#include "rewards/math_reader.h"

namespace r1::rewards::math {
namespace {

// Multiple choice: "B", "(B)", "B)", "[B]".
std::optional<std::string> choice_letter(const std::string& s) {
  std::string letters;
  for (char c : s) {
    if (std::isalpha(static_cast<unsigned char>(c))) letters.push_back(c);
    else if (c != '(' && c != ')' && c != '[' && c != ']' && c != ' ' && c != '.' && c != ':') letters = "??";
  }
  if (letters.size() == 1 && std::isupper(static_cast<unsigned char>(letters[0])) && s.size() <= 4) return letters;
  return std::nullopt;
}

// A numeral in base 2-36 written with its base: 312_4, 312_{4}, 2A_{16} (digits valid in the base,
// leading zeros dropped, letters upper-cased).
struct Numeral {
  std::string digits;
  int base;
};
std::optional<Numeral> numeral(const std::string& s) {
  size_t bar = s.find('_');
  if (bar == std::string::npos || bar == 0) return std::nullopt;
  std::string digits = s.substr(0, bar), base = s.substr(bar + 1);
  if (base.size() > 2 && base.front() == '{' && base.back() == '}') base = base.substr(1, base.size() - 2);
  if (base.empty() || base.size() > 2 || base.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  int b = std::stoi(base);
  if (b < 2 || b > 36) return std::nullopt;
  for (char& c : digits) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::isupper(static_cast<unsigned char>(c)) ? c - 'A' + 10 : 99;
    if (d >= b) return std::nullopt;
  }
  if (!std::isdigit(static_cast<unsigned char>(digits[0]))) return std::nullopt;  // a_2 is a variable
  size_t first = digits.find_first_not_of('0');
  return Numeral{first == std::string::npos ? "0" : digits.substr(first), b};
}

// Text answers compare lower-cased, white space runs as one space, without a final full stop.
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

GiNaC::symbol& Parser::symbol(const std::string& name) {
  auto it = symbols_.find(name);
  if (it == symbols_.end()) it = symbols_.emplace(name, GiNaC::symbol(name)).first;
  return it->second;
}

Prepared prepare(std::string_view raw) {
  if (raw.size() > kMaxLength) too_large("an answer of " + std::to_string(raw.size()) + " characters");
  Prepared p;
  p.normalized = normalize_latex(raw);
  const std::string& s = p.normalized;
  if (s.empty()) fail("empty answer");
  if (std::optional<std::string> letter = choice_letter(s)) {
    p.kind = Prepared::kChoice;
    p.text = *letter;
  } else if (std::optional<Numeral> n = numeral(s)) {
    p.kind = Prepared::kNumeral;
    p.text = n->digits;
    p.base = n->base;
  } else {
    p.tokens = tokenize(s);
    bool words = std::any_of(p.tokens.begin(), p.tokens.end(), [](const Token& t) { return t.kind == Token::kWord; });
    if (words) {
      p.kind = Prepared::kText;
      p.text = normalize_text(s);
      p.tokens.clear();
    }
  }
  return p;
}

Value Parser::read(const Prepared& p) {
  decimal_digits_ = 0;
  Value v;
  switch (p.kind) {
    case Prepared::kChoice: v.kind = Value::kChoice; v.text = p.text; return v;
    case Prepared::kNumeral: v.kind = Value::kNumeral; v.text = p.text; v.base = p.base; return v;
    case Prepared::kText: v.kind = Value::kText; v.text = p.text; return v;
    case Prepared::kTokens: break;
  }
  Reader reader(p.tokens, *this, deadline_);
  try {
    v = reader.answer();
    if (!reader.at_end()) fail("unexpected '" + reader.peek().text + "'");
    return v;
  } catch (const GiNaC::pole_error&) {
    fail("division by zero");
  } catch (const std::domain_error& e) {
    fail(e.what());
  }
}

Value Parser::parse(std::string_view raw) { return read(prepare(raw)); }

bool reads_as_text(std::string_view raw) {
  try {
    return prepare(raw).kind == Prepared::kText;
  } catch (const ParseError&) {
    return false;
  }
}

std::string to_string(const Value& v) {
  std::ostringstream out;
  switch (v.kind) {
    case Value::kExpr: out << v.expr; break;
    case Value::kText: out << '"' << v.text << '"'; break;
    case Value::kChoice: out << "choice " << v.text; break;
    case Value::kNumeral: out << v.text << "_" << v.base; break;
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

// The math parser's tokens: see math_lex.h.
#include "rewards/math_lex.h"

#include <algorithm>
#include <cctype>

namespace r1::rewards::math {
namespace {

const std::vector<std::string>& function_names() {
  static const std::vector<std::string> names = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos",
                                                 "arctan", "sinh", "cosh", "tanh", "log", "ln", "exp", "sqrt"};
  return names;
}

bool starts_number(const std::string& s, size_t i) {
  return std::isdigit(static_cast<unsigned char>(s[i])) ||
         (s[i] == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])));
}

// A number literal: 12, 0.5, .5, and scientific notation.
void lex_number(const std::string& s, size_t& i, std::vector<Token>& out) {
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
}

// A function name ("sin x" as \sin x), a word, or single letters (variables: "xy" is x times y).
void lex_word(const std::string& s, size_t& i, std::vector<Token>& out) {
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
}

// \frac, \{ (one character after the backslash), \begin{pmatrix} (the environment's name included).
void lex_command(const std::string& s, size_t& i, std::vector<Token>& out) {
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
}

// Unicode operators models write: × ÷ ≤ ≥ ≠ − π √ ∞ ± ·; any other character is a word.
void lex_unicode(const std::string& s, size_t& i, std::vector<Token>& out) {
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
}

// <= >= != == as commands; any other character is a symbol.
void lex_operator(const std::string& s, size_t& i, std::vector<Token>& out) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (i + 1 < s.size()) {
    std::string two = s.substr(i, 2);
    if (two == "<=" || two == ">=" || two == "!=" || two == "==") {
      out.push_back({Token::kCommand, two == "<=" ? "\\leq" : two == ">=" ? "\\geq" : two == "!=" ? "\\neq" : "="});
      i += 2;
      return;
    }
  }
  out.push_back({Token::kSymbol, std::string(1, static_cast<char>(c))});
  ++i;
}

}  // namespace

bool is_function(const std::string& word) {
  const auto& f = function_names();
  return std::find(f.begin(), f.end(), word) != f.end();
}

std::vector<Token> tokenize(const std::string& s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (std::isspace(c)) ++i;
    else if (starts_number(s, i)) lex_number(s, i, out);
    else if (std::isalpha(c)) lex_word(s, i, out);
    else if (c == '\\') lex_command(s, i, out);
    else if (c >= 0x80) lex_unicode(s, i, out);
    else lex_operator(s, i, out);
  }
  out.push_back({Token::kEnd, ""});
  return out;
}

}  // namespace r1::rewards::math

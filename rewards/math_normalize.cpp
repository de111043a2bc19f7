// LaTeX clean-up before parsing (math_parse.h's normalize_latex): delimiters and spacing commands
// go, \text{} and friends are unwrapped, number words become arithmetic, words joining answers become
// separators, repeating decimals become fractions, and trailing units after a number are dropped.
#include <algorithm>
#include <cctype>

#include "core/text.h"
#include "rewards/math_parse.h"

namespace r1::rewards::math {
namespace {

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
      "apples", "marbles", "balls", "cars", "points", "steps", "pages", "books", "boxes", "coins", "cookies", "eggs",
      "pct"};
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

// "0.\overline{3}" -> "((3-0)/9)", "0.1\overline{6}" -> "((16-1)/90)", "0.333\ldots" -> "((3-0)/9)":
// repeating decimals.
std::string expand_repeating(std::string s) {
  // x = I.F(P) repeating = (IFP - IF) / (10^|F| * (10^|P| - 1)): the denominator is |P| nines then
  // |F| zeros. Written as arithmetic for the parser, so this clean-up stays free of GiNaC (math.h:
  // everything before the lock must be).
  auto as_fraction = [](const std::string& integer, const std::string& fixed, const std::string& period) {
    std::string all = integer + fixed + period, head = integer + fixed;
    return "((" + (all.empty() ? std::string("0") : all) + "-" + (head.empty() ? std::string("0") : head) + ")/" +
           std::string(period.size(), '9') + std::string(fixed.size(), '0') + ")";
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

// Trailing units after a number: "10 cm", "28 percent", "3 square meters", "60 km/h", "25 cm^2".
// Only known units go: "3 million" or "2 squared" must not quietly become 3 or 2.
std::string strip_trailing_units(const std::string& s) {
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
  return trim(s.substr(0, end));
}

}  // namespace

bool is_unit_word(const std::string& word) { return is_unit(word); }

bool is_thousands_number(const std::string& s) {
  // [+-]? d{1,3} (, d{3})+ (. d+)?
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t lead = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, ++lead;
  if (lead < 1 || lead > 3 || s[i - lead] == '0') return false;  // "0,125" is a decimal comma
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

namespace {

// Thousands separators: "2,500", "3 000" and "1 234.5" lose them wherever a number stands in the
// answer ("y = 2,000 + 500 = 2,500"). A run is a separator only when it groups exactly: 1-3 leading
// digits (not a lone 0: "0,125" is a decimal comma), then groups of exactly three, one separator
// kind, and no further digit group after it ("1,000,00" and "2 500 0" stay as written). Commas
// group only outside brackets, where "(2,500)" is a pair.
std::string join_digit_groups(const std::string& s) {
  auto digit = [&](size_t i) { return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); };
  std::string out;
  int depth = 0;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '(' || c == '[') ++depth;
    if ((c == ')' || c == ']') && depth > 0) --depth;
    bool starts = digit(i) && (i == 0 || (!std::isalnum(static_cast<unsigned char>(s[i - 1])) && s[i - 1] != '.' &&
                                          s[i - 1] != ',' && s[i - 1] != '_'));
    if (!starts) {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t e = i;
    while (digit(e)) ++e;
    size_t lead = e - i;
    std::string number = s.substr(i, lead);
    char sep = 0;
    size_t groups = 0;
    while (e + 4 <= s.size() && (s[e] == ',' || s[e] == ' ') && (sep == 0 || s[e] == sep) && digit(e + 1) && digit(e + 2) &&
           digit(e + 3) && !digit(e + 4) && (s[e] == ' ' || depth == 0)) {
      sep = s[e];
      number += s.substr(e + 1, 3);
      e += 4;
      ++groups;
    }
    bool more = e + 1 < s.size() && (s[e] == ',' || s[e] == ' ') && digit(e + 1) && (sep == 0 || s[e] == sep);
    bool valid = groups > 0 && lead <= 3 && s[i] != '0' && !more;
    out += valid ? number : s.substr(i, e - i);
    i = e;
  }
  return out;
}

// "\frac{2}{3} \approx 0.667" answers with its exact side; "\approx 0.667" alone is an
// approximation, never an exact answer.
std::string exact_side(const std::string& s) {
  size_t at = std::string::npos;
  for (const char* approx : {"\\approx", "\\simeq", "≈"}) at = std::min(at, s.find(approx));
  std::string lead = trim(s.substr(0, std::min(at, s.size())));
  std::string low = lead;
  for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* word : {"approximately", "approx", "about", "roughly", "around", "nearly", "almost"}) {
    if (low.rfind(word, 0) == 0) throw ParseError{"approximation: '" + lead.substr(0, 40) + "'", ParseError::kApproximation};
  }
  if (at == std::string::npos) return s;
  if (lead.empty() || lead.back() == '=') throw ParseError{"approximation: only an approximate value", ParseError::kApproximation};
  return lead;
}

}  // namespace

std::string normalize_latex(std::string_view answer) {
  std::string s(answer);
  // Most answers are plain ("42", "3/4"): the LaTeX rules cannot match without a backslash.
  const bool latex = s.find('\\') != std::string::npos;
  auto replace = [&](std::string_view from, std::string_view to) {
    if (latex || from[0] != '\\') replace_all(s, from, to);
  };
  for (std::string_view d : {"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big",
                             "\\displaystyle", "\\limits"}) {
    replace(d, "");
  }
  for (std::string_view d : {"\\!", "\\,", "\\;", "\\:", "\\qquad", "\\quad", "~", "\\(", "\\)", "\\[", "\\]", "\\$", "$$", "$", "\\%", "%", "^{\\circ}", "^\\circ", "\\circ", "°", "{,}", "\\dfrac", "\\tfrac", "\\cfrac"}) {
    replace(d, d == "\\dfrac" || d == "\\tfrac" || d == "\\cfrac" ? "\\frac" : "");
  }
  replace("\\\\", "\x01");  // protect the matrix row separator from the "\ " rule
  replace("\\ ", " ");
  if (latex) replace_all(s, "\x01", " \\\\ ");
  replace("\\mathbb{R}", "(-\\infty,\\infty)");
  for (std::string_view d : {"\\lvert", "\\rvert", "\\vert", "\\mid"}) replace(d, "|");
  replace("\\varnothing", "\\emptyset");
  s = exact_side(s);
  s = expand_repeating(s);
  for (std::string_view cmd : {"\\text", "\\textbf", "\\textit", "\\mathrm", "\\mathbf", "\\mathit", "\\operatorname", "\\boxed",
                               "\\mbox", "\\textnormal", "\\textrm", "\\textsf", "\\mathsf", "\\vec", "\\fbox"}) {
    if (latex) unwrap_command(s, cmd);
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
  s = strip_trailing_units(s);
  if (is_thousands_number(s)) s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return join_digit_groups(s);
}

}  // namespace r1::rewards::math

// Plain rational answers without GiNaC: see math_plain.h.
#include "rewards/math_plain.h"

#include <cctype>
#include <cmath>
#include <string>


namespace r1::rewards::math {
namespace {

using Int = __int128;  // numerators and denominators below 10^18: cross products fit

struct Plain {
  Int num = 0, den = 1;  // den > 0
  int decimal_digits = 0;  // significant digits of a decimal literal (0: not a decimal)
};

// Up to 18 digits (leading zeros aside) as a number; nullopt otherwise.
std::optional<Int> digits_value(std::string_view d) {
  if (d.empty() || d.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  size_t first = d.find_first_not_of('0');
  if (first != std::string_view::npos && d.size() - first > 18) return std::nullopt;
  Int v = 0;
  for (char c : d) v = v * 10 + (c - '0');
  return v;
}

// "12", "-3.50", "2/3", "\frac{2}{3}", "-\frac{2}{3}" (a normalised answer, nothing around it).
std::optional<Plain> plain(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  Plain p;
  if (s.rfind("\\frac{", 0) == 0) {
    size_t mid = s.find("}{");
    if (mid == std::string_view::npos || s.back() != '}') return std::nullopt;
    auto n = digits_value(s.substr(6, mid - 6)), d = digits_value(s.substr(mid + 2, s.size() - mid - 3));
    if (!n || !d || *d == 0) return std::nullopt;
    p.num = *n, p.den = *d;
  } else if (size_t slash = s.find('/'); slash != std::string_view::npos) {
    auto n = digits_value(s.substr(0, slash)), d = digits_value(s.substr(slash + 1));
    if (!n || !d || *d == 0) return std::nullopt;
    p.num = *n, p.den = *d;
  } else if (size_t dot = s.find('.'); dot != std::string_view::npos) {
    std::string_view whole = s.substr(0, dot), fraction = s.substr(dot + 1);
    if (whole.empty() || fraction.empty() || fraction.size() > 18) return std::nullopt;
    std::string all = std::string(whole) + std::string(fraction);
    auto n = digits_value(all);
    if (!n) return std::nullopt;
    p.num = *n;
    for (size_t k = 0; k < fraction.size(); ++k) p.den *= 10;
    size_t first = all.find_first_not_of('0');
    p.decimal_digits = first == std::string::npos ? 1 : static_cast<int>(all.size() - first);
  } else {
    auto n = digits_value(s);
    if (!n) return std::nullopt;
    p.num = *n;
  }
  if (negative) p.num = -p.num;
  return p;
}

Int gcd(Int a, Int b) {
  if (a < 0) a = -a;
  while (b != 0) {
    Int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

std::string to_text(Int v) {
  if (v == 0) return "0";
  bool negative = v < 0;
  std::string out;
  for (; v != 0; v /= 10) out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(negative ? -(v % 10) : v % 10)));
  return negative ? "-" + out : out;
}

// As GiNaC prints an exact rational: "25/2", "-3", "0".
std::string reduced(const Plain& p) {
  Int g = gcd(p.num, p.den);
  if (g == 0) g = 1;
  Int n = p.num / g, d = p.den / g;
  return d == 1 ? to_text(n) : to_text(n) + "/" + to_text(d);
}

long double value(const Plain& p) { return static_cast<long double>(p.num) / static_cast<long double>(p.den); }

}  // namespace

bool within_last_digit(long double gold, long double pred, int pred_digits) {
  if (pred_digits <= 0 || pred == 0) return false;
  const long double unit = std::pow(10.0L, std::floor(std::log10(std::fabs(pred))) + 1 - pred_digits);
  const long double gap = std::fabs(gold - pred);
  return gap > 0 && gap <= unit;
}

std::optional<MathVerdict> compare_plain(std::string_view gold_normalized, std::string_view pred_normalized) {
  std::optional<Plain> gold = plain(gold_normalized), pred = plain(pred_normalized);
  if (!gold || !pred) return std::nullopt;
  MathVerdict v;
  v.gold_parsed = reduced(*gold);
  v.pred_parsed = reduced(*pred);
  v.correct = gold->num * pred->den == pred->num * gold->den;
  if (!v.correct) v.reason = within_last_digit(value(*gold), value(*pred), pred->decimal_digits) ? "approximation" : "not equal";
  return v;
}

}  // namespace r1::rewards::math

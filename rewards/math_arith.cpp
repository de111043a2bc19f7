// Exact arithmetic under the size bounds: see math_arith.h.
#include "rewards/math_arith.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "rewards/math_lex.h"

namespace r1::rewards::math {
namespace {

// True when `e` holds a power with a symbolic or large exponent, or an exp(): such an exponent
// cannot be evaluated at probe points without astronomically large numbers.
bool grows_fast(const GiNaC::ex& e) {
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

}  // namespace

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

GiNaC::ex checked_power(const GiNaC::ex& base, const GiNaC::ex& exponent) {
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

GiNaC::ex round_numeric(const GiNaC::ex& x, bool floor) {
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

}  // namespace r1::rewards::math

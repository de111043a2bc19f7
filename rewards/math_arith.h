// Internal to the math parser (math_parse.h): exact arithmetic under the verifier's size bounds
// (math_lex.h). GiNaC evaluates numeric powers and factorials eagerly, so each operation that could
// build a huge number checks the size of its result before asking GiNaC for it.
#pragma once

#include <ginac/ginac.h>

#include <string>

namespace r1::rewards::math {

// Exact value of a decimal literal: "12.50" -> 25/2, "1.5e3" -> 1500. Exponents beyond the digit
// bound are refused as too large.
GiNaC::numeric exact_number(const std::string& text);

// base^exponent, refusing a division by zero (0 to a non-positive power), a numeric result of more
// than kMaxResultDigits digits, an exponent that itself grows fast (towers, exp), and a symbolic
// base raised beyond kMaxSymbolicExponent.
GiNaC::ex checked_power(const GiNaC::ex& base, const GiNaC::ex& exponent);

// floor(x) or ceil(x) of a real number: exactly for rationals, else through its numeric value.
GiNaC::ex round_numeric(const GiNaC::ex& x, bool floor);

}  // namespace r1::rewards::math

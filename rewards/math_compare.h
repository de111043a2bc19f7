// Internal to the math verifier (math.h): are two parsed answers equal?
//
// Exact rationals compare exactly; other expressions by simplification ((a - b).normal() == 0), then,
// for what that cannot prove, by 40-digit evaluation (exact forms within 1e-25; decimals of 10 or
// more significant digits within their last digit; shorter decimals only exactly) or, with
// variables, by probing at random points (relative 1e-12). Structures: "x = 3" is 3, \pm pairs are
// sets of two, sets and bare lists ignore order, tuples, intervals and matrices keep it, relations
// compare as (difference, operator) up to a constant factor, and a gold inequality accepts the same
// interval.
#pragma once

#include "rewards/math_parse.h"

namespace r1::rewards::math {

// Sets GiNaC's working precision to the 40 digits the tolerances assume (once per process).
void use_high_precision();

// `decimal_digits`: the fewest significant digits of a decimal literal in either answer (0: both
// exact). Throws DeadlineExceeded when the deadline passes.
bool answers_equal(const Value& gold, const Value& pred, Parser& parser, const Deadline& deadline, int decimal_digits);

}  // namespace r1::rewards::math

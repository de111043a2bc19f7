// Internal to the math verifier (math.h): are two parsed answers equal?
//
// Exact rationals compare exactly; other expressions by simplification ((a - b).normal() == 0), then,
// for what that cannot prove, by 40-digit evaluation (exact forms within 1e-25; decimals of 10 or
// more significant digits within their last digit; shorter decimals only exactly) or, with
// variables, by probing at random points (relative 1e-12). Structures: "x = 3" is 3, \pm pairs are
// sets of two, sets and bare lists ignore order, tuples, intervals and matrices keep it, relations
// compare as (difference, operator) up to a constant factor, and a gold inequality accepts the same
// interval. A chain of equalities answers with its last side when every step is true; a column or
// row vector equals the tuple of its entries; base-b numerals compare digit by digit.
#pragma once

#include "rewards/math_parse.h"

namespace r1::rewards::math {

// Sets GiNaC's working precision to the 40 digits the tolerances assume (once per process).
void use_high_precision();

struct Comparison {
  bool equal = false;
  bool false_equation = false;  // the prediction's chain of equalities has a false step ("2 + 2 = 5")
};

// `decimal_digits`: the fewest significant digits of a decimal literal in either answer (0: both
// exact). `tolerance`: a relative tolerance for answers that are not integers (0: exact; the
// recipe's numeric_tolerance). Throws DeadlineExceeded when the deadline passes.
Comparison compare_answers(const Value& gold, const Value& pred, Parser& parser, const Deadline& deadline,
                           int decimal_digits, double tolerance);

// True when a wrong prediction is a rounded decimal of the gold's value (0.667 for 2/3, 3.14 for pi):
// within one unit of its last significant digit (`pred_digits` of them).
bool is_approximation(const Value& gold, const Value& pred, int pred_digits);

}  // namespace r1::rewards::math

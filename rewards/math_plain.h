// Internal to the math verifier (math.h): answers that are plain rational numbers, compared without
// GiNaC. Most answers a reward sees are integers, decimals or simple fractions; GiNaC is not
// thread-safe (its shared constants carry plain reference counts), so the verifier holds one lock
// around every GiNaC use, and comparing plain numbers here, outside it, is what lets the reward
// pool's threads verify in parallel.
#pragma once

#include <optional>
#include <string_view>

#include "rewards/math.h"

namespace r1::rewards::math {

// The verdict for a gold and a predicted answer, both normalised (math_parse.h's normalize_latex),
// that are plain rationals: an integer, a decimal, a/b or \frac{a}{b}, signed, each part within 18
// digits. nullopt for anything
// else, which the full verifier decides. The same verdict, reason and parsed forms the full
// verifier gives (exact rationals compare exactly; a rounded decimal of the gold is an
// "approximation"). Touches no GiNaC object.
// The rule that makes a wrong decimal an "approximation" of the gold: within one unit of its last
// significant digit (0.667 -> 0.001, 3.14 -> 0.01, 0.2 -> 0.1), and not equal.
bool within_last_digit(long double gold, long double pred, int pred_digits);

std::optional<MathVerdict> compare_plain(std::string_view gold_normalized, std::string_view pred_normalized);

}  // namespace r1::rewards::math

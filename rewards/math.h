// The math answer verifier: is a model's final answer equal to the reference answer?
//
//   1. extract the answer from a completion: the <answer> block, the last \boxed{...}/\fbox{...}
//      (with the boxes only connectives separate from it, as a list), "the answer is ...", or the
//      final statement (the last sentence that states a number or a formula; never digits inside
//      words), in a configurable priority order (math_extract.h);
//   2. parse LaTeX or plain text into exact values (GiNaC expressions with exact rationals and big
//      integers) inside structures: tuples, sets, intervals, equations and inequalities, \pm pairs,
//      multiple-choice letters, or plain text;
//   3. compare: exact rationals exactly, then simplification ((a - b).normal() == 0), then, for what
//      that cannot prove, 40-digit evaluation (exact forms within 1e-25; long decimals within their
//      last digit) or probing at random points (relative 1e-12) when there are variables.
//
// It is built not to accept wrong answers (1/2^99 vs 1/2^98 are different, a bare equation is not its
// right-hand side, 4\sqrt(2) is not 4, "A or B" is not A, an empty answer is wrong) and to answer
// hostile input in bounded time and memory: answers over 4,000 characters, nesting over 100 levels,
// numbers over 1,000 digits and powers whose result would exceed 10,000 digits are refused as
// "too large"; the caller's deadline is polled while parsing and probing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rewards/reward.h"

namespace r1::rewards {

enum class Extraction { kAnswerTag, kBoxed, kAnswerIs, kLastNumber };

struct MathOptions {
  std::vector<Extraction> extraction = {Extraction::kAnswerTag, Extraction::kBoxed, Extraction::kAnswerIs,
                                        Extraction::kLastNumber};
  std::string answer_field = "answer";  // the reference field holding the gold answer
  std::string answer_tag = "answer";
  // A relative tolerance for numeric answers that are not integers (|pred - gold| <= tol * |gold|):
  // 0, the default, compares exactly. Never applied to an integer gold.
  double numeric_tolerance = 0;
};

struct MathVerdict {
  bool correct = false;
  // Why not ("" when correct): "no answer found", "empty answer", "unreadable answer: ...",
  // "approximation", "a false equation", "not equal", "too large: ...", "timeout",
  // "gold answer unreadable: ...".
  std::string reason;
  std::string gold_parsed;   // the parsed forms, for debugging
  std::string pred_parsed;
};

// The answer text a completion gives, by the first extraction rule that finds one ("" if none).
std::string extract_answer(std::string_view completion, const MathOptions& options = {});

// Compares a gold answer with a prediction (a whole completion or just an answer; extraction applies
// when it finds something). Never throws for bad input: a verdict with a reason instead.
MathVerdict verify_math(std::string_view gold, std::string_view prediction, const MathOptions& options = {},
                        const Deadline& deadline = Deadline());

// The "math" reward: 1 when the completion's answer equals the sample's reference answer, else 0.
class MathReward : public Reward {
 public:
  MathReward(std::string name, MathOptions options) : name_(std::move(name)), options_(std::move(options)) {}
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components&, const Deadline& deadline) const override;
  const MathOptions& options() const { return options_; }  // how it reads answers (evaluation's vote reads them alike)

 private:
  std::string name_;
  MathOptions options_;
};

}  // namespace r1::rewards

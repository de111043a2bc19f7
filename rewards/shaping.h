// Length and repetition shaping rewards (formulas also in docs/rewards.md).
//
// Overlong (DAPO's soft overlong punishment), L = completion_tokens, L_max = max_length,
// B = buffer (L_cache in the paper):
//     0                         if L <= L_max - B
//     ((L_max - B) - L) / B     if L_max - B < L <= L_max      (linear from 0 down to -1)
//     -1                        if L > L_max
//
// Cosine length scaling ("Demystifying long chain-of-thought", as open-r1 writes it), p = L / L_max
// clamped to [0, 1], c = cos(p * pi):
//     correct: r = lo_c + (hi_c - lo_c) * (1 + c) / 2   short correct answers earn most (hi_c = 1.0 at L = 0,
//                                                        lo_c = 0.5 at L_max)
//     wrong:   r = hi_w + (lo_w - hi_w) * (1 + c) / 2   long wrong answers are punished least (lo_w = -1.0 at
//                                                        L = 0, hi_w = -0.5 at L_max)
// "Correct" is read from an earlier reward of the same set (correct_from, default "math"):
// correct when its value >= correct_threshold (default 1).
//
// Repetition penalty (open-r1): the completion's words (split on white space) form n-grams; with
// T n-grams of which U are distinct, r = max_penalty * (1 - U / T) (0 when there are fewer than n words;
// core/text.h's repeated_ngram_fraction).
// max_penalty is negative.
#pragma once

#include <string>
#include <vector>

#include "rewards/reward.h"

namespace r1::rewards {

struct OverlongOptions {
  int64_t max_length = 4096;
  int64_t buffer = 512;
};

class OverlongReward : public Reward {
 public:
  OverlongReward(std::string name, OverlongOptions options);
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components&, const Deadline&) const override;

 private:
  std::string name_;
  OverlongOptions options_;
};

struct CosineOptions {
  int64_t max_length = 4096;
  double min_value_correct = 0.5, max_value_correct = 1.0;
  double min_value_wrong = -1.0, max_value_wrong = -0.5;
  std::string correct_from = "math";
  double correct_threshold = 1.0;
};

class CosineLengthReward : public Reward {
 public:
  CosineLengthReward(std::string name, CosineOptions options);
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components& earlier, const Deadline&) const override;

 private:
  std::string name_;
  CosineOptions options_;
};

// The highest of earlier components ("of", listed before it in the same set): one "accuracy" over a
// prompt set that mixes kinds, e.g. math rows judged by `math` and code rows by `code`, each of
// which scores 0 on the other's rows. Give the parts weight 0 so only the combination counts.
class MaxOfReward : public Reward {
 public:
  MaxOfReward(std::string name, std::vector<std::string> of);
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components& earlier, const Deadline&) const override;

 private:
  std::string name_;
  std::vector<std::string> of_;
};

struct RepetitionOptions {
  int ngram_size = 3;
  double max_penalty = -1.0;
};

class RepetitionPenalty : public Reward {
 public:
  RepetitionPenalty(std::string name, RepetitionOptions options);
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components&, const Deadline&) const override;

 private:
  std::string name_;
  RepetitionOptions options_;
};

}  // namespace r1::rewards

// Held-out evaluation (no LibTorch): K completions per problem through the rollout workers, scored by
// the rewards, measured as eval_metrics.h says (pass@k, maj@k, format, language, length, truncation;
// overall and per data source). One function for `r1 eval`, the eval stage (each model of its
// table) and a GRPO stage's held-out evaluation (report.h's evaluate(), K = 1).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "run/dataset.h"
#include "run/eval_data.h"
#include "run/eval_metrics.h"
#include "run/sampling.h"

namespace r1::rewards {
class BatchScorer;
class RewardSet;
}

namespace r1::run {

struct EvalOptions {
  int64_t samples_per_problem = 1;  // K
  int64_t limit = 0;                // the first N problems (0: all)
  int64_t max_new_tokens = 256;
  double temperature = 0;           // 0: greedy
  double top_p = 1, min_p = 0;
  int64_t top_k = 0;
  uint64_t seed = 1;                // problem i samples with seed + 77 + i (as a GRPO stage's evaluation always has)
  std::string accuracy = "accuracy";  // the reward component that says correct (>= 1)
  std::string format = "format";      // the one that says well-formed (>= 1)
  std::string target_language = "en";
  // A sample reflects when its completion holds one of these (run/reflection.h); empty: not measured.
  std::vector<std::string> reflection_phrases;
};

// Called on the calling thread as each problem's samples are scored (problems in finishing order):
// how many are done of how many, the problem's row, its samples and what they count for.
using OnProblem = std::function<void(size_t done, size_t total, const PromptRow& row, const std::vector<ScoredSample>& samples,
                                     const ProblemOutcome& outcome)>;

// Samples, scores and measures the first `limit` problems of `data`. The vote reads each sample's
// final answer as the accuracy component's math reward reads it (its extraction rules; the default
// ones when that component is not a math reward) and groups answers the math verifier finds equal.
EvalReport evaluate_samples(Sampler& sampler, const PromptDataset& data, const EvalOptions& options,
                            const OnProblem& on_problem = nullptr, double* seconds = nullptr);

// `fields` as the rewards need them: when the accuracy component is a math reward, every row needs a
// gold answer, written where that reward reads it (its answer_field); otherwise (code tests, a
// plugin) rows are passed on as they are and a gold answer is only read where there is one.
EvalFields eval_fields_for(const rewards::RewardSet& set, const std::string& accuracy, EvalFields fields);

// What evaluating a model needs besides the data and the options.
struct ModelEvalSetup {
  std::string prompt_template = "r1-zero";  // a chat template name or file; "" = the model's own
  bool skip_bad_lines = false;              // a prompt too long for the model's context: left out, or an error
  RolloutConfig rollout;                    // its workers (started for this model, stopped after)
  std::string r1_binary;                    // what starts local workers
  std::shared_ptr<const rewards::BatchScorer> scorer;
  nlohmann::json tools;                     // a checked "tools" object (read_stage_tools): trajectories call them; null: none
};

// evaluate_samples on `model_dir` (Hugging Face layout), with rollout workers started for it. The
// prompts that leave fewer than max_new_tokens of the model's context are refused (naming the line)
// or, with skip_bad_lines, left out.
EvalReport evaluate_model(const std::string& model_dir, const PromptDataset& data, const ModelEvalSetup& setup,
                          const EvalOptions& options, const OnProblem& on_problem = nullptr, double* seconds = nullptr);

}  // namespace r1::run

// Evaluation on a held-out set and the end-of-run report of a GRPO run.
//
// evaluate(): eval.k completions per held-out problem (one unless the stage's eval says otherwise;
// greedy unless eval.temperature does) through the rollout workers, scored by the run's rewards and
// measured by evaluate.h's evaluate_samples: accuracy = mean of the accuracy component, format rate =
// share of completions whose format component is 1, language consistency (target-language share of
// the chain-of-thought words), mean response length in tokens, pass@k, maj@k, truncation rate.
//
// write_run_report(): summary.json
//   {"base": {"accuracy", "format_rate", "mean_response_tokens", "samples"}, "final": {...}, "steps", "wall_s"}
// and plot.svg (reward, accuracy and format rate, response length against step, from metrics.jsonl;
// the held-out curve from heldout.jsonl and the rows' "heldout"; the reflection rate and tool use
// when the rows have them), then prints the summary table.
#pragma once

#include <string>

#include "run/dataset.h"
#include "run/evaluate.h"
#include "run/grpo_config.h"

namespace r1::run {

class Sampler;

// The evaluation options an EvalConfig gives (max_new_tokens 0: `default_max_new_tokens`).
EvalOptions eval_options(const EvalConfig& eval, int64_t default_max_new_tokens, const std::string& target_language,
                         uint64_t seed);
EvalResult evaluate(Sampler& sampler, const PromptDataset& data, const EvalConfig& eval, int64_t default_max_new_tokens,
                    const std::string& target_language, uint64_t seed, double* seconds);
inline EvalResult evaluate(Sampler& sampler, const PromptDataset& data, const GrpoConfig& c, double* seconds) {
  return evaluate(sampler, data, c.eval, c.max_new_tokens, c.target_language, c.seed, seconds);
}

void write_run_report(const std::string& run_dir, const GrpoResult& result);

// The plot of a run's metrics.jsonl and heldout.jsonl (plot.svg beside them); a run with no metrics
// yet draws "no data". Panels: reward; accuracy and format rate; response length (mean, max, and of
// the correct and the wrong samples when the rows have them); with held-out points, "Held-out
// accuracy" (accuracy, format rate) and "Held-out response length"; "Reflection" with a
// reflection_rate; "Tool use" with tools.
void plot_run(const std::string& run_dir);

}  // namespace r1::run

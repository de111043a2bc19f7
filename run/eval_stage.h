// The `eval` recipe stage (no LibTorch): several models, one held-out set, one table. Each model
// answers every held-out prompt `k` times (default once) through the rollout workers (started for
// it, stopped after), scored by the stage's rewards and measured by evaluate.h's evaluate_model, the
// function `r1 eval` runs: accuracy, format rate, language consistency of the chain of thought, mean
// response length, pass@k, maj@k, truncation rate, overall and per data source. The held-out rows are
// read as eval_data.h says (GSM8K, MATH and AIME rows as they ship).
//
//   {"name": "table", "kind": "eval", "data": "@base/heldout.jsonl",
//    "models": [{"name": "base", "model": "@base/model"},
//               {"name": "R1-Zero", "model": "runs/r1-zero-tiny/zero/model", "optional": true}, ...],
//    "template": "r1-zero", "rewards": [...], "max_new_tokens": 128, "temperature": 0.6, "k": 1, "rollout": {...}}
//
// An entry marked optional whose model folder is missing is left out of the table with a note (a
// model another recipe makes); a missing required one is an error before anything runs.
//
// With a "tools" object the models answer in multi-turn trajectories that call those tools (an entry
// with "tools": false answers without them: the same model or a model trained without tools, measured
// on the same set); the table then has a tool-calls column (calls per trajectory).
//
// Noise: each model's accuracy is shown with pass@1's 95% interval across problems ("0.520 ± 0.048",
// eval_metrics.h), and each model is compared with a reference row, "baseline": "<entry name>"
// (default: the first entry present), problem by problem on the problems both answered
// (eval_stats.h's paired_difference): "+0.105 ± 0.041", marked "(within noise)" when the interval
// holds 0. "reflection_phrases": ["wait,", ...] measures the share of samples that reflect
// (run/reflection.h). Rows with an integer "difficulty" add a per-difficulty block.
//
// Run folder: summary.json {"<name>": EvalResult's keys + "tools", "vs_baseline", ...} (one object per
// model, by its name); eval.json {"data", "k", "baseline", "rows": [{"name", "model", "seconds",
// "tools", "by_source", "per_problem" (each problem's pass@1, held-out order), "vs_baseline" ({"name",
// "difference", "ci95", "within_noise", "problems"}; null on the baseline's own row), and EvalResult's
// keys (eval_metrics.h): "accuracy", "accuracy_ci95", "format_rate", "language_consistency",
// "mean_response_tokens", "samples", "problems", "samples_per_problem", "pass_at_k", "maj_at_k",
// "truncation_rate", "reflection_rate", "reflection_measured", "by_difficulty"}]} and table.md (the
// same as a Markdown table, also printed; pass@k and maj@k columns when k > 1).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "run/eval_stats.h"
#include "run/grpo_config.h"
#include "rewards/reward_set.h"
#include "run/sampling.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

struct EvalStageConfig {
  struct Entry {
    std::string name, model;
    bool optional = false;
    bool tools = true;  // with the stage's tools (when it has them); false: without
  };
  std::vector<Entry> models;
  EvalConfig eval;                     // data, limit, max_new_tokens, temperature, top_p, k, component names, reflection phrases
  std::string baseline;                // the entry the others are compared with ("": the first present)
  std::string prompt_template = "r1-zero";
  std::string target_language = "en";
  bool skip_bad_lines = false;
  nlohmann::json rewards;
  nlohmann::json tools;                // the stage's "tools" object, checked (docs/tools.md); null: none
  RolloutConfig rollout;
  uint64_t seed = 1;

  static EvalStageConfig read(ConfigReader& r);
};

struct EvalRow {
  std::string name, model;
  EvalResult result;
  double seconds = 0;
  bool tools = false;  // answered with the stage's tools
  std::vector<double> per_problem;     // each problem's pass@1, held-out order
  std::vector<int64_t> problem_lines;  // the held-out line of each
  // Compared with the baseline row (named `baseline`); none on the baseline's own row, or when the
  // baseline was not evaluated.
  std::string baseline;
  std::optional<PairedDifference> vs_baseline;
};

// `row` - `baseline` on the problems both answered (matched by held-out line), as paired_difference.
PairedDifference compare_rows(const EvalRow& row, const EvalRow& baseline);

// "+0.105 ± 0.041", with " (within noise)" when the interval holds 0.
std::string difference_cell(const PairedDifference& d);

// Evaluates every model present; writes eval.json and table.md into run_dir and prints the table.
// `r1_binary` starts the rollout workers; `services` are what the rewards use from outside.
std::vector<EvalRow> run_eval_stage(const EvalStageConfig& config, const std::string& run_dir, const std::string& r1_binary,
                                    const rewards::RewardServices& services = {});

// The Markdown table of eval rows (one header line, one line per model; a vs-baseline column when
// there are several), then the per-difficulty block when the rows have one.
std::string eval_table(const std::vector<EvalRow>& rows);

}  // namespace r1::run

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
// Run folder: summary.json {"<name>": EvalResult's keys, ...} (one object per model, by its name);
// eval.json {"data", "k", "rows": [{"name", "model", "seconds", "tools", "by_source", and
// EvalResult's keys (eval_metrics.h): "accuracy", "format_rate", "language_consistency",
// "mean_response_tokens", "samples", "problems", "samples_per_problem", "pass_at_k", "maj_at_k",
// "truncation_rate"}]} and table.md (the same as a Markdown table, also printed; pass@k and maj@k
// columns when k > 1).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

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
  EvalConfig eval;                     // data, limit, max_new_tokens, temperature, top_p, k, component names
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
};

// Evaluates every model present; writes eval.json and table.md into run_dir and prints the table.
// `r1_binary` starts the rollout workers; `services` are what the rewards use from outside.
std::vector<EvalRow> run_eval_stage(const EvalStageConfig& config, const std::string& run_dir, const std::string& r1_binary,
                                    const rewards::RewardServices& services = {});

// The Markdown table of eval rows (one header line, one line per model).
std::string eval_table(const std::vector<EvalRow>& rows);

}  // namespace r1::run

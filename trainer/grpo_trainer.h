// The GRPO loop (docs/recipes.md): prompts from a JSON-lines dataset → groups of G completions from
// the rollout workers (FP8, over gRPC; started by the trainer itself unless addresses are given) →
// rule-based rewards on a thread pool → group advantages → μ passes of the clipped, importance-
// corrected objective (trainer/grpo.h) → new weights pushed to the workers → metrics, rollouts,
// checkpoints. With max_staleness 1 the generation of step t+1 runs while step t is trained on
// (one-step off-policy; the importance correction covers it); with 0 the loop is strictly on-policy.
//
// Everything lives in the run folder: metrics.jsonl, rollouts.jsonl, tensorboard/, checkpoints/,
// model/ (the final policy, Hugging Face layout), summary.json and plot.svg.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/grpo.h"
#include "trainer/optim.h"
#include "trainer/sampling.h"

namespace r1 {
class ConfigReader;
}

namespace r1::trainer {



struct EvalConfig {
  std::string data;                    // JSON lines; "" = no evaluation
  int64_t limit = 0;                   // first N rows (0: all)
  int64_t max_new_tokens = 0;          // 0: the training limit
  double temperature = 0;              // 0: greedy
  std::string accuracy = "accuracy";   // the reward component that says "correct" (1) or not
  std::string format = "format";       // the one that says "well-formed"
};

struct GrpoConfig {
  std::string model;                   // the starting policy (Hugging Face layout)
  std::string train_data;
  std::string prompt_template = "r1-zero";  // a chat template name or file; "" = the model's own
  bool skip_bad_lines = false;
  std::string target_language = "en";  // for the language-consistency reward (a row's own wins)

  int64_t steps = 100, prompts_per_step = 32, group_size = 16;
  int64_t iterations = 1;              // μ passes over each batch
  int64_t minibatches = 1;             // optimiser steps per pass (the batch split by groups)
  double temperature = 1.0, top_p = 1.0;
  int64_t max_new_tokens = 1024;

  AdvantageScale scale = AdvantageScale::kGroup;
  double advantage_eps = 1e-4;
  bool dynamic_sampling = false;       // drop all-equal groups and refill (DAPO)
  int64_t max_refill_rounds = 3;
  bool mask_truncated = false;         // completions that hit max_new_tokens teach nothing
  GrpoLossOptions loss;
  int64_t reference_reset_every = 0;   // 0: never (β > 0 only)

  OptimConfig optim;
  int64_t micro_batch_tokens = 8192;
  std::string compute_dtype = "auto";  // matrix products: auto (the faster here) | fp32 | bf16
  bool activation_checkpointing = false;  // recompute each layer in the backward pass (less memory)
  nlohmann::json rewards;              // a RewardSet config ({"rewards": [...]})
  int reward_threads = 0;

  RolloutConfig rollout;
  int64_t save_every = 0;              // 0: at the end only
  int keep_last = 2;
  EvalConfig eval;
  uint64_t seed = 1;

  // From a recipe stage (`path` prefixes errors); unknown keys are refused naming the closest one.
  static GrpoConfig read(ConfigReader& r);
};

struct EvalResult {
  double accuracy = 0, format_rate = 0, mean_response_tokens = 0;
  // Target-language words / all words of the chains of thought (the <think> blocks, or whole
  // completions without one), pooled over the samples: rewards/language.h's measure.
  double language_consistency = 0;
  int64_t samples = 0;
  nlohmann::json to_json() const;
};

struct GrpoResult {
  EvalResult base, final;
  bool evaluated = false;
  int64_t steps = 0;
  double wall_s = 0;
  std::string model_dir;               // the final policy
};

struct GrpoRun {
  std::string run_dir;                 // created if missing
  std::string r1_binary;               // for local workers
  bool resume = false;                 // continue from the latest checkpoint in run_dir
  int threads = 0;                     // LibTorch threads of the trainer (0: one per core)
};

GrpoResult run_grpo(const GrpoConfig& config, const GrpoRun& run);

}  // namespace r1::trainer

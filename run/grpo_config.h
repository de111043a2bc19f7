// A GRPO stage's configuration, as plain data (no LibTorch): what the recipe's JSON says, read and
// checked by GrpoConfig::read (run/grpo_config.cpp; docs/recipes.md lists the keys with TRL's and
// verl's names), and the results a run reports. The loop that runs it is trainer/grpo_trainer.h; the
// objective the loss options configure is trainer/grpo.h; the schedule OptimConfig names is
// trainer/optim.h's.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/choices.h"
#include "run/eval_metrics.h"
#include "run/lora_stage.h"
#include "run/sampling.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

enum class AdvantageScale { kGroup, kBatch, kNone };
enum class LossAggregation { kSeqMeanTokenMean, kTokenMean, kSeqMeanTokenSumNorm };
enum class ImportanceLevel { kNone, kToken, kSequence };

AdvantageScale parse_advantage_scale(const std::string& name);     // group | batch | none
LossAggregation parse_loss_aggregation(const std::string& name);   // seq-mean-token-mean | token-mean | seq-mean-token-sum-norm
ImportanceLevel parse_importance_level(const std::string& name);   // none | token | sequence

struct GrpoLossOptions {
  double clip_low = 0.2, clip_high = 0.2;
  double beta = 0.0;  // KL coefficient; 0: no reference model
  LossAggregation aggregation = LossAggregation::kSeqMeanTokenMean;
  ImportanceLevel importance = ImportanceLevel::kToken;
  double importance_cap = 2.0;  // C
};

struct OptimConfig {
  double lr = 1e-6;
  double min_lr_ratio = 0.1;
  LrSchedule schedule = LrSchedule::kConstant;
  int64_t warmup_steps = 0;
  double beta1 = 0.9, beta2 = 0.99, eps = 1e-8;
  double weight_decay = 0.01;
  double max_grad_norm = 1.0;  // 0: no clipping
  // 1: in a data-parallel job, AdamW's moments are partitioned across the ranks (ZeRO stage 1, as
  // DeepSpeed names it): each rank updates the parameters it owns and sends them to the others. 0: every
  // rank holds all the moments. Checkpoints hold the whole state either way.
  // 2: the gradients too (ZeRO stage 2): each rank keeps only the sums of the parameters it owns.
  int64_t zero_stage = 0;
  // In a data-parallel job the gradients are summed over the ranks in buckets of bucket_cap_mb
  // (PyTorch DDP's name); with overlap_comm (DeepSpeed's) a bucket's sum starts during the backward,
  // as soon as its gradients are there, else all of them after it.
  bool overlap_comm = true;
  double bucket_cap_mb = 25;
  // Reads lr, min_lr_ratio, schedule, warmup_steps, betas [b1, b2], eps, weight_decay, max_grad_norm,
  // zero_stage, overlap_comm, bucket_cap_mb.
  static OptimConfig read(ConfigReader& r, OptimConfig defaults);
};

struct EvalConfig {
  std::string data;                    // JSON lines; "" = no evaluation
  int64_t limit = 0;                   // first N rows (0: all)
  int64_t max_new_tokens = 0;          // 0: the training limit
  double temperature = 0;              // 0: greedy
  double top_p = 1;
  int64_t k = 1;                       // samples per problem (pass@k, maj@k: run/eval_metrics.h)
  std::string accuracy = "accuracy";   // the reward component that says "correct" (1) or not
  std::string format = "format";       // the one that says "well-formed"
  bool tools = true;                   // a stage with tools evaluates with them (false: without)
  // A sample reflects when its completion holds one of these, case-insensitively (run/reflection.h);
  // empty: the reflection rate is not measured.
  std::vector<std::string> reflection_phrases;
  // During a GRPO stage: the held-out evaluation every `every` steps as well (0: only at step 0 and
  // at the end), with every_k samples per problem on the first every_limit rows (0: `limit`'s rows),
  // so that the points between stay cheap; heldout.jsonl and metrics' "heldout" (run/heldout_curve.h).
  int64_t every = 0;
  int64_t every_k = 1;
  int64_t every_limit = 0;
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
  DeviceChoice device;                 // auto | cpu | cuda | cuda:N: where the model trains (model/device.h)
  std::string device_key = "device";   // its key path in the recipe, for errors
  ComputeDtype compute_dtype = ComputeDtype::kAuto;  // matrix products: auto (the faster here) | fp32 | bf16
  bool activation_checkpointing = false;  // recompute each layer in the backward pass (less memory)
  StageLora lora;                      // train a LoRA adapter over the frozen model (run/lora_stage.h)
  nlohmann::json rewards;              // a RewardSet config in the current spelling ([{"kind": ...}, ...])
  // Multi-turn trajectories with tool calls: the "tools" object (tools/tool_config.h, docs/tools.md),
  // the stage's template filled in as its "template"; null: no tools.
  nlohmann::json tools;
  int reward_threads = 0;
  // Each step, the share of the sampled completions holding any of these (ASCII case ignored:
  // core/text.h's contains_any_phrase) as metric reflection_rate; empty: not measured.
  std::vector<std::string> reflection_phrases;

  RolloutConfig rollout;
  int64_t save_every = 0;              // 0: at the end only
  int keep_last = 2;
  EvalConfig eval;
  uint64_t seed = 1;

  // From a recipe stage (`path` prefixes errors); unknown keys are refused naming the closest one.
  static GrpoConfig read(ConfigReader& r);
};

// EvalResult (what evaluate() measures): run/eval_metrics.h.

struct GrpoResult {
  EvalResult base, final;
  bool evaluated = false;
  int64_t steps = 0;
  double wall_s = 0;
  std::string model_dir;               // the final policy
  std::string adapter_dir;             // with LoRA: the trained adapter (PEFT's folder)
};

}  // namespace r1::run

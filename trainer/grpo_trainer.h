// The GRPO loop (docs/recipes.md): prompts from a JSON-lines dataset → groups of G completions from
// the rollout workers (FP8, over gRPC; started by the trainer itself unless addresses are given) →
// rule-based rewards on a thread pool → group advantages → μ passes of the clipped, importance-
// corrected objective (trainer/grpo.h) → new weights pushed to the workers → metrics, rollouts,
// checkpoints. With max_staleness 1 the generation of step t+1 runs while step t is trained on
// (one-step off-policy; the importance correction covers it); with 0 the loop is strictly on-policy.
//
// Everything lives in the run folder: metrics.jsonl, rollouts.jsonl, tensorboard/, checkpoints/,
// model/ (the final policy, Hugging Face layout), base_eval.json and heldout.jsonl (the held-out
// evaluations: at step 0, every eval.every steps, at the end; run/heldout_curve.h), summary.json and
// plot.svg.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "rewards/reward_set.h"
#include "rollout/client.h"
#include "run/collective.h"
#include "run/grpo_config.h"

namespace r1::model {
class Transformer;
}

namespace r1::trainer {

struct GrpoRun {
  std::string run_dir;                 // created if missing
  std::string r1_binary;               // for local workers
  bool resume = false;                 // continue from the latest checkpoint in run_dir
  int threads = 0;                     // LibTorch threads of the trainer (0: one per core)
  rewards::RewardServices reward_services;  // what the rewards use from outside (the sandbox for "code")
  // The ranks of a data-parallel job (null: this process alone). Rank 0 is the controller: it drives
  // the rollout workers and rewards, assigns advantages, sends each step's batch to the other ranks,
  // pushes weights, logs and checkpoints; every rank holds the policy and takes its share of each
  // update (grpo_update), so all ranks' weights stay equal.
  run::Collective* group = nullptr;
};

run::GrpoResult run_grpo(const run::GrpoConfig& config, const GrpoRun& run);

// The trainer's fp32 weights as a weight update's tensors, in host memory: borrowed from a model on
// the CPU (which must outlive the push), copied once from one on a GPU (`staged` holds the copies).
// Throws r1::Error for a weight that is not contiguous fp32.
struct HostWeights {
  std::vector<at::Tensor> staged;
  std::vector<rollout::WeightTensor> tensors;
};
HostWeights weight_tensors(const model::Transformer& m);
// The same for a LoRA policy's adapter alone: A and B of each module, PEFT's names.
HostWeights adapter_tensors(const model::Transformer& m);

}  // namespace r1::trainer

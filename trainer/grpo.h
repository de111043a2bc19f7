// The GRPO objective (DeepSeekMath) with the variants users know from DAPO, Dr. GRPO, TRL and verl.
//
// Advantages. Every completion of a group gets one scalar, given to all its tokens:
//   A_i = (r_i - mean_group(r)) / (std(r) + eps)        scale = group (GRPO)
//   A_i = (r_i - mean_group(r)) / (std_batch(r) + eps)  scale = batch (the std of the whole batch)
//   A_i =  r_i - mean_group(r)                          scale = none  (Dr. GRPO: no std division)
// std is the population std (divide by G), as in the reference implementations.
//
// Per-token loss of completion i, token t (ρ = π_θ / π_old, the ratio to the policy that produced
// the group as the trainer computes it before this step's first update):
//   pg  = -min(ρ·A_i, clip(ρ, 1 - clip_low, 1 + clip_high)·A_i)          (clip-higher: DAPO)
//   kl  = π_ref/π_θ - log(π_ref/π_θ) - 1                                  (k3, ≥ 0; only when β > 0)
//   ℓ   = w·pg + β·kl
// w corrects for the rollout worker sampling from slightly different probabilities than the trainer
// computes (FP8 weights, a stale policy): truncated importance sampling (Yao et al. 2025)
//   token level:    w_t = min(π_old(t) / π_rollout(t), C)
//   sequence level: w_i = min(Π_t π_old(t) / π_rollout(t), C)   (the same for all tokens of i)
// and w = 1 with correction off. w is a constant (no gradient flows through it).
//
// Aggregation over the batch of N sequences with L_i completion tokens each (masked tokens excluded):
//   seq-mean-token-mean       (1/N) Σ_i (1/L_i) Σ_t ℓ_it   (original GRPO)
//   token-mean                (1/Σ L_i) Σ_i Σ_t ℓ_it      (DAPO)
//   seq-mean-token-sum-norm   (1/(N·L_max)) Σ_i Σ_t ℓ_it  (Dr. GRPO: a constant instead of L_i)
// The normalisers are those of the whole batch, passed in, so a batch split into micro-batches whose
// losses are backpropagated one after the other gets exactly the gradient of the whole batch.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "run/grpo_config.h"

namespace r1::trainer {

// Advantages of `rewards`, laid out group after group (rewards.size() must be a multiple of group_size).
std::vector<double> group_advantages(const std::vector<double>& rewards, size_t group_size, run::AdvantageScale scale,
                                     double eps = 1e-4);
// Dynamic sampling (DAPO): true when every reward of the group is the same (its advantages are all 0
// and it teaches nothing). `tolerance` absorbs floating-point noise.
bool group_is_degenerate(const double* rewards, size_t group_size, double tolerance = 1e-9);

// One micro-batch. Tensors are [B, T] over completion positions (fp32), except advantages [B].
struct GrpoBatch {
  at::Tensor logprobs;          // log π_θ, with gradient
  at::Tensor old_logprobs;      // log π_old (no gradient)
  at::Tensor rollout_logprobs;  // log π_rollout as the worker reported them (importance correction)
  at::Tensor ref_logprobs;      // log π_ref (β > 0 only)
  at::Tensor advantages;        // [B]
  at::Tensor mask;              // 1 for a completion token that counts, 0 for padding / masked-out
};

// Normalisers of the whole batch (all micro-batches of one optimiser step).
struct GrpoNorm {
  double sequences = 0;   // N
  double tokens = 0;      // Σ L_i
  double max_length = 0;  // L_max (Dr. GRPO's constant: the completion-length limit)
};

// Sums over the micro-batch's counted tokens (divide by `tokens` for means); the loss carries the
// gradient, the rest are plain numbers for the metrics.
struct GrpoLossStats {
  double tokens = 0;
  double clipped = 0;       // tokens where the clip took effect (the gradient of pg is 0)
  double kl = 0;            // Σ k3
  double ratio = 0;         // Σ ρ
  double is_weight = 0;     // Σ w
  double is_capped = 0;     // tokens whose w was cut to C
  double is_weight_max = 0;
  double pg = 0;            // Σ w·pg (before aggregation)
  GrpoLossStats& operator+=(const GrpoLossStats& o);  // sums, and the larger is_weight_max
};

struct GrpoLoss {
  at::Tensor loss;  // scalar, this micro-batch's share of the batch loss
  GrpoLossStats stats;
};

GrpoLoss grpo_loss(const GrpoBatch& batch, const run::GrpoLossOptions& options, const GrpoNorm& norm);

}  // namespace r1::trainer

// One GRPO update over a step's scored groups, and the step's metrics.
//
// The batch (kept groups, sample-major) is split into `minibatches` by whole groups; each minibatch
// is one optimiser step, accumulated over micro-batches of at most micro_batch_tokens padded tokens;
// the whole is repeated μ = iterations times. π_old is the policy before the step's first update:
// with μ = 1 and one minibatch it equals π_θ at the moment of the (only) forward, so it is taken from
// that forward (ratio 1) instead of a separate pass.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "model/transformer.h"
#include "trainer/grad_sync.h"
#include "trainer/grpo.h"
#include "trainer/logprobs.h"
#include "trainer/optim.h"
#include "run/collective.h"
#include "run/sampling.h"

namespace r1::trainer {

// What one update trains on: every completion of the kept groups (sample-major) with its advantage
// and the log-probabilities the worker sampled it with. Advantages are assigned before (grpo.h's
// group_advantages, in the loop's one place for it).
struct TrainBatch {
  std::vector<TokenSequence> sequences;
  std::vector<std::vector<float>> rollout_logprobs;
  std::vector<double> advantages;
  std::vector<size_t> group;  // of each sequence, 0..groups-1
  size_t groups = 0;
  // The samples of `kept` groups; an empty completion, or a truncated one with mask_truncated, is left out.
  static TrainBatch from_groups(const std::vector<std::vector<run::ScoredSample>>& kept, bool mask_truncated);
  // Bytes for the other ranks of a data-parallel job (rank 0 collects, every rank trains), and back.
  std::string encode() const;
  static TrainBatch decode(const std::string& bytes);
};

// The model being trained, its optimiser and the frozen reference (only with β > 0): a model of its
// own, or, when the policy is a LoRA adapter over a frozen base (model/lora.h), `reference` null and
// the policy itself with its adapter switched off. In a job of several ranks, `gradients` sums the
// gradients over them (made for the update when not given).
struct TrainedPolicy {
  model::Transformer& model;
  Optimizer& optim;
  const model::Transformer* reference = nullptr;
  GradientSync* gradients = nullptr;
};

struct UpdateOptions {
  run::GrpoLossOptions loss;
  int64_t iterations = 1;            // μ
  int64_t minibatches = 1;           // optimiser steps per pass
  int64_t micro_batch_tokens = 8192;
  int64_t max_new_tokens = 1024;     // Dr. GRPO's constant L_max
  double temperature = 1.0;          // the sampling temperature: log-probs are of logits / T
  int64_t step = 0;                  // for the LR schedule and messages (0-based)
  static UpdateOptions of(const run::GrpoConfig& config, int64_t step);
};

struct StepUpdate {
  bool skipped = false;     // a non-finite loss or gradient, or nothing to train on: no parameter changed
  bool non_finite = false;  // skipped for a non-finite loss or gradient
  double loss = 0, grad_norm = 0, tokens = 0, entropy = 0;
  GrpoLossStats stats;      // summed over every pass
  int64_t optimizer_steps = 0;
  double allreduce_s = 0;   // waiting for the gradient sums of a data-parallel job after the backward (the others included)
  int64_t gradient_bytes = 0;  // this rank's gradients once summed (ZeRO-2: its own parameters' only)
};

// With `group` (the ranks of a data-parallel job, each holding the same policy and the same `batch`),
// each rank backpropagates every world_size-th sequence of each minibatch under the minibatch's
// normalisers, gradients are summed over the ranks before each optimiser step, and the returned
// figures are the whole batch's on every rank: the update equals one process's, up to float order.
StepUpdate grpo_update(TrainedPolicy& policy, const TrainBatch& batch, const UpdateOptions& options,
                       run::Collective* group = nullptr);

// The metrics row of a step: rewards (mean/std per component), accuracy, format rate, response
// lengths (of all samples; response_tokens: of the correct ones and the wrong ones, as the accuracy
// component judges), reflection_rate (with reflection_phrases), the update's statistics. `dropped`:
// groups generated but not trained on; every sample counts, theirs too.
nlohmann::json step_metrics(const std::vector<std::vector<run::ScoredSample>>& kept,
                            const std::vector<std::vector<run::ScoredSample>>& dropped, const run::GrpoConfig& config,
                            const StepUpdate& update);
// A run stops, naming why, when its updates keep failing: 10 steps in a row with a non-finite loss or
// gradient (the policy or its learning rate diverged), or, at its end, every step it ran. A step with
// nothing to train on (no learning signal) is no failure.
class NonFiniteGuard {
 public:
  static constexpr int64_t kMaxInARow = 10;
  void record(int64_t step, const StepUpdate& update);  // throws r1::Error; `step` is 0-based
  void finish() const;                                  // throws r1::Error when every recorded step failed
 private:
  int64_t steps_ = 0, failed_ = 0, in_a_row_ = 0;
};

// The progress line's fields: "reward 0.53  acc 0.41  fmt 0.90  len 38".
std::string progress_fields(const nlohmann::json& metrics);

}  // namespace r1::trainer

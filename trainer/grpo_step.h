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
#include "trainer/grpo.h"
#include "trainer/optim.h"
#include "run/sampling.h"

namespace r1::trainer {

struct StepUpdate {
  bool skipped = false;     // a non-finite loss or gradient: no parameter changed
  double loss = 0, grad_norm = 0, tokens = 0, entropy = 0;
  GrpoLossStats stats;      // summed over every pass
  int64_t optimizer_steps = 0;
};

StepUpdate grpo_update(model::Transformer& policy, const model::Transformer* reference, Optimizer& optim,
                       const std::vector<std::vector<ScoredSample>>& groups, const GrpoConfig& config, int64_t step);

// The metrics row of a step: rewards (mean/std per component), accuracy, format rate, response
// lengths, the update's statistics. `dropped`: groups generated but not trained on.
nlohmann::json step_metrics(const std::vector<std::vector<ScoredSample>>& kept,
                            const std::vector<std::vector<ScoredSample>>& dropped, const GrpoConfig& config,
                            const StepUpdate& update);
// The progress line's fields: "reward 0.53  acc 0.41  fmt 0.90  len 38".
std::string progress_fields(const nlohmann::json& metrics);

}  // namespace r1::trainer

// The GRPO objective: see grpo.h for the formulas.
#include "trainer/grpo.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/stats.h"

namespace r1::trainer {

std::vector<double> group_advantages(const std::vector<double>& rewards, size_t group_size, run::AdvantageScale scale,
                                     double eps) {
  if (group_size == 0 || rewards.size() % group_size != 0)
    throw Error("group_advantages: " + std::to_string(rewards.size()) + " rewards do not split into groups of " +
                std::to_string(group_size));
  std::vector<double> out(rewards.size());
  const double batch_std = mean_std(rewards).std;
  for (size_t g = 0; g < rewards.size(); g += group_size) {
    const MeanStd group = mean_std(&rewards[g], group_size);
    double denom = 1;
    if (scale == run::AdvantageScale::kGroup) denom = group.std + eps;
    if (scale == run::AdvantageScale::kBatch) denom = batch_std + eps;
    for (size_t i = 0; i < group_size; ++i) out[g + i] = (rewards[g + i] - group.mean) / denom;
  }
  return out;
}

bool group_is_degenerate(const double* rewards, size_t group_size, double tolerance) {
  for (size_t i = 1; i < group_size; ++i)
    if (std::abs(rewards[i] - rewards[0]) > tolerance) return false;
  return true;
}

GrpoLossStats& GrpoLossStats::operator+=(const GrpoLossStats& o) {
  tokens += o.tokens;
  clipped += o.clipped;
  kl += o.kl;
  ratio += o.ratio;
  is_weight += o.is_weight;
  is_capped += o.is_capped;
  is_weight_max = std::max(is_weight_max, o.is_weight_max);
  pg += o.pg;
  return *this;
}

GrpoLoss grpo_loss(const GrpoBatch& b, const run::GrpoLossOptions& o, const GrpoNorm& norm) {
  const at::Tensor mask = b.mask.to(at::kFloat);
  const at::Tensor lp = b.logprobs.to(at::kFloat);
  const at::Tensor old = b.old_logprobs.to(at::kFloat).detach();
  const at::Tensor adv = b.advantages.to(at::kFloat).detach().unsqueeze(1);  // [B, 1]

  const at::Tensor ratio = at::exp(lp - old);
  const at::Tensor unclipped = ratio * adv;
  const at::Tensor clipped = at::clamp(ratio, 1.0 - o.clip_low, 1.0 + o.clip_high) * adv;
  at::Tensor pg = -at::min(unclipped, clipped);

  // Importance weights: constants.
  at::Tensor w;
  if (o.importance == run::ImportanceLevel::kNone || !b.rollout_logprobs.defined()) {
    w = at::ones_like(lp);
  } else {
    const at::Tensor log_w = (old - b.rollout_logprobs.to(at::kFloat)) * mask;
    if (o.importance == run::ImportanceLevel::kToken)
      w = at::exp(log_w);
    else
      w = at::exp(log_w.sum(1, true)).expand_as(lp);
    w = at::clamp_max(w, o.importance_cap).detach();
  }
  at::Tensor per_token = w * pg;

  at::Tensor kl;
  if (o.beta > 0) {
    if (!b.ref_logprobs.defined()) throw Error("grpo_loss: beta > 0 needs the reference log-probs");
    const at::Tensor d = b.ref_logprobs.to(at::kFloat).detach() - lp;
    kl = at::exp(d) - d - 1;
    per_token = per_token + o.beta * kl;
  }

  const at::Tensor masked = per_token * mask;
  at::Tensor loss;
  switch (o.aggregation) {
    case run::LossAggregation::kSeqMeanTokenMean: {
      const at::Tensor len = at::clamp_min(mask.sum(1), 1.0);
      loss = (masked.sum(1) / len).sum() / std::max(norm.sequences, 1.0);
      break;
    }
    case run::LossAggregation::kTokenMean:
      loss = masked.sum() / std::max(norm.tokens, 1.0);
      break;
    case run::LossAggregation::kSeqMeanTokenSumNorm:
      loss = masked.sum() / std::max(norm.sequences * norm.max_length, 1.0);
      break;
  }

  GrpoLoss out;
  out.loss = loss;
  at::NoGradGuard no_grad;
  GrpoLossStats& s = out.stats;
  s.tokens = mask.sum().item<double>();
  const at::Tensor adv_b = adv.expand_as(lp);
  const at::Tensor is_clipped = ((adv_b > 0) & (ratio > 1.0 + o.clip_high)) | ((adv_b < 0) & (ratio < 1.0 - o.clip_low));
  s.clipped = (is_clipped.to(at::kFloat) * mask).sum().item<double>();
  s.ratio = (ratio * mask).sum().item<double>();
  s.is_weight = (w * mask).sum().item<double>();
  if (o.importance != run::ImportanceLevel::kNone && b.rollout_logprobs.defined()) {
    s.is_capped = ((w >= o.importance_cap).to(at::kFloat) * mask).sum().item<double>();
    s.is_weight_max = s.tokens > 0 ? (w * mask).max().item<double>() : 0;
  } else {
    s.is_weight_max = s.tokens > 0 ? 1 : 0;
  }
  if (kl.defined()) s.kl = (kl * mask).sum().item<double>();
  s.pg = masked.sum().item<double>() - (kl.defined() ? o.beta * s.kl : 0);
  return out;
}

}  // namespace r1::trainer

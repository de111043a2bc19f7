// One GRPO update and its metrics: see grpo_step.h.
#include "trainer/grpo_step.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "core/log.h"
#include "core/stats.h"
#include "trainer/policy.h"

namespace r1::trainer {

StepUpdate grpo_update(model::Transformer& policy, const model::Transformer* reference, Optimizer& optim,
                       const std::vector<std::vector<ScoredSample>>& groups, const GrpoConfig& c, int64_t step) {
  StepUpdate u;
  // Flatten to sequences; a truncated completion is masked out entirely when asked.
  std::vector<TokenSequence> seqs;
  std::vector<std::vector<float>> rollout_lp;
  std::vector<double> adv;
  std::vector<size_t> group_of;
  for (size_t g = 0; g < groups.size(); ++g)
    for (const ScoredSample& s : groups[g]) {
      if (s.ids.empty() || (c.mask_truncated && s.truncated)) continue;
      seqs.push_back({*s.prompt_ids, s.ids});
      rollout_lp.push_back(s.logprobs);
      adv.push_back(s.advantage);
      group_of.push_back(g);
    }
  if (seqs.empty()) {
    u.skipped = true;
    log::warn() << "step " << step + 1 << ": nothing to train on (every completion empty or masked)";
    return u;
  }
  // Minibatches by whole groups.
  const size_t M = static_cast<size_t>(std::max<int64_t>(1, std::min<int64_t>(c.minibatches, static_cast<int64_t>(groups.size()))));
  std::vector<std::vector<size_t>> minibatch(M);
  for (size_t i = 0; i < seqs.size(); ++i) minibatch[group_of[i] * M / groups.size()].push_back(i);

  const bool separate_old = c.iterations > 1 || M > 1;
  std::vector<at::Tensor> old_lp(seqs.size()), ref_lp(seqs.size());  // per sequence [L]
  auto per_sequence = [&](const model::Transformer& m, std::vector<at::Tensor>& into) {
    at::NoGradGuard no_grad;
    for (const auto& idx : micro_batches(seqs, c.micro_batch_tokens)) {
      CompletionScores s = score_completions(m, seqs, idx);
      for (size_t b = 0; b < idx.size(); ++b)
        into[idx[b]] = s.logprobs[static_cast<int64_t>(b)].narrow(0, 0, static_cast<int64_t>(seqs[idx[b]].completion.size())).clone();
    }
  };
  if (separate_old) per_sequence(policy, old_lp);
  if (reference && c.loss.beta > 0) per_sequence(*reference, ref_lp);

  auto stack = [&](const std::vector<at::Tensor>& rows, const std::vector<size_t>& idx, int64_t L) {
    at::Tensor out = at::zeros({static_cast<int64_t>(idx.size()), L}, at::kFloat);
    for (size_t b = 0; b < idx.size(); ++b) out[static_cast<int64_t>(b)].narrow(0, 0, rows[idx[b]].size(0)).copy_(rows[idx[b]]);
    return out;
  };

  double loss_sum = 0, entropy_sum = 0, norm_sum = 0;
  for (int64_t it = 0; it < c.iterations && !u.skipped; ++it) {
    for (size_t mbi = 0; mbi < M && !u.skipped; ++mbi) {
      const std::vector<size_t>& members = minibatch[mbi];
      if (members.empty()) continue;
      GrpoNorm norm;
      norm.sequences = static_cast<double>(members.size());
      for (size_t i : members) norm.tokens += static_cast<double>(seqs[i].completion.size());
      norm.max_length = static_cast<double>(c.max_new_tokens);
      std::vector<TokenSequence> sub;
      for (size_t i : members) sub.push_back(seqs[i]);
      for (const auto& micro : micro_batches(sub, c.micro_batch_tokens)) {
        std::vector<size_t> idx;
        for (size_t k : micro) idx.push_back(members[k]);
        CompletionScores s = score_completions(policy, seqs, idx);
        const int64_t L = s.logprobs.size(1);
        GrpoBatch b;
        b.logprobs = s.logprobs;
        b.old_logprobs = separate_old ? stack(old_lp, idx, L) : s.logprobs.detach();
        b.rollout_logprobs = pad_rows(rollout_lp, idx).narrow(1, 0, L);
        if (reference && c.loss.beta > 0) b.ref_logprobs = stack(ref_lp, idx, L);
        std::vector<float> a;
        for (size_t i : idx) a.push_back(static_cast<float>(adv[i]));
        b.advantages = at::tensor(a, at::kFloat);
        b.mask = s.mask;
        GrpoLoss l = grpo_loss(b, c.loss, norm);
        const double lv = l.loss.item<double>();
        if (!std::isfinite(lv)) {
          u.skipped = true;
          break;
        }
        l.loss.backward();
        loss_sum += lv;
        entropy_sum += (s.entropy * s.mask).sum().item<double>();
        u.stats += l.stats;
      }
      if (u.skipped) break;
      const double gn = optim.step(step);
      if (!std::isfinite(gn)) {
        u.skipped = true;
        break;
      }
      norm_sum += gn;
      ++u.optimizer_steps;
    }
  }
  if (u.skipped) {
    optim.zero_grad();
    log::warn() << "step " << step + 1 << ": non-finite loss or gradient; step skipped, no weights changed after it";
  }
  u.loss = loss_sum / std::max<double>(1, static_cast<double>(c.iterations) * static_cast<double>(M));
  u.grad_norm = norm_sum / std::max<int64_t>(1, u.optimizer_steps);
  u.tokens = u.stats.tokens;
  u.entropy = u.stats.tokens > 0 ? entropy_sum / u.stats.tokens : 0;
  return u;
}

namespace {

nlohmann::json mean_std_json(const std::vector<double>& x) {
  const MeanStd m = mean_std(x);
  return {{"mean", m.mean}, {"std", m.std}};
}

}  // namespace

nlohmann::json step_metrics(const std::vector<std::vector<ScoredSample>>& kept,
                            const std::vector<std::vector<ScoredSample>>& dropped, const GrpoConfig& c,
                            const StepUpdate& u) {
  std::vector<double> reward, length;
  std::map<std::string, std::vector<double>> comp;
  double truncated = 0, max_len = 0;
  for (const auto* part : {&kept, &dropped})
    for (const auto& g : *part)
      for (const auto& s : g) {
        reward.push_back(s.score.value);
        length.push_back(static_cast<double>(s.ids.size()));
        max_len = std::max(max_len, static_cast<double>(s.ids.size()));
        truncated += s.truncated ? 1 : 0;
        for (const auto& [k, v] : s.score.components) comp[k].push_back(v);
      }
  nlohmann::json m;
  m["samples"] = reward.size();
  m["reward"] = mean_std_json(reward);
  nlohmann::json components = nlohmann::json::object();
  for (const auto& [k, v] : comp) components[k] = mean_std_json(v);
  m["rewards"] = components;
  if (comp.count(c.eval.accuracy)) m["accuracy"] = components[c.eval.accuracy]["mean"];
  if (comp.count(c.eval.format)) m["format_rate"] = components[c.eval.format]["mean"];
  nlohmann::json len = mean_std_json(length);
  len["max"] = max_len;
  len["truncated_fraction"] = reward.empty() ? 0 : truncated / static_cast<double>(reward.size());
  m["response_length"] = len;
  m["groups"] = {{"kept", kept.size()}, {"dropped", dropped.size()}};
  const double tok = std::max(1.0, u.stats.tokens);
  m["loss"] = u.loss;
  m["skipped"] = u.skipped;
  m["grad_norm"] = u.grad_norm;
  m["entropy"] = u.entropy;
  m["kl"] = u.stats.kl / tok;
  m["clip_fraction"] = u.stats.clipped / tok;
  m["ratio_mean"] = u.stats.ratio / tok;
  m["importance"] = {{"weight_mean", u.stats.is_weight / tok}, {"weight_max", u.stats.is_weight_max},
                     {"capped_fraction", u.stats.is_capped / tok}};
  return m;
}

std::string progress_fields(const nlohmann::json& m) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "reward %.2f  acc %.2f  fmt %.2f  len %.0f", m["reward"]["mean"].get<double>(),
                m.value("accuracy", 0.0), m.value("format_rate", 0.0), m["response_length"]["mean"].get<double>());
  return buf;
}

}  // namespace r1::trainer

// One GRPO update and its metrics: see grpo_step.h.
#include "trainer/grpo_step.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/text.h"
#include "trainer/distributed.h"
#include "trainer/trained_weights.h"

namespace r1::trainer {

TrainBatch TrainBatch::from_groups(const std::vector<std::vector<run::ScoredSample>>& kept, bool mask_truncated) {
  TrainBatch b;
  b.groups = kept.size();
  for (size_t g = 0; g < kept.size(); ++g)
    for (const run::ScoredSample& s : kept[g]) {
      if (s.ids.empty() || (mask_truncated && s.truncated)) continue;
      b.sequences.push_back({*s.prompt_ids, s.ids, s.sampled});
      b.rollout_logprobs.push_back(s.logprobs);
      b.advantages.push_back(s.advantage);
      b.group.push_back(g);
    }
  return b;
}

namespace {

template <typename T>
void put(std::string& out, const std::vector<T>& v) {
  const uint64_t n = v.size();
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out.append(reinterpret_cast<const char*>(v.data()), n * sizeof(T));
}

template <typename T>
std::vector<T> take(const std::string& in, size_t& at) {
  uint64_t n = 0;
  if (at + sizeof n > in.size()) throw Error("train batch: truncated bytes");
  std::memcpy(&n, in.data() + at, sizeof n);
  at += sizeof n;
  if (n > (in.size() - at) / sizeof(T)) throw Error("train batch: truncated bytes");
  std::vector<T> v(n);
  std::memcpy(v.data(), in.data() + at, n * sizeof(T));
  at += n * sizeof(T);
  return v;
}

}  // namespace

std::string TrainBatch::encode() const {
  std::string out;
  put(out, std::vector<uint64_t>{groups, sequences.size()});
  for (size_t i = 0; i < sequences.size(); ++i) {
    put(out, sequences[i].prompt);
    put(out, sequences[i].completion);
    put(out, sequences[i].sampled);
    put(out, rollout_logprobs[i]);
  }
  put(out, advantages);
  put(out, group);
  return out;
}

TrainBatch TrainBatch::decode(const std::string& bytes) {
  TrainBatch b;
  size_t at = 0;
  const std::vector<uint64_t> head = take<uint64_t>(bytes, at);
  if (head.size() != 2) throw Error("train batch: bad header");
  b.groups = head[0];
  for (uint64_t i = 0; i < head[1]; ++i) {
    TokenSequence s;
    s.prompt = take<int64_t>(bytes, at);
    s.completion = take<int64_t>(bytes, at);
    s.sampled = take<uint8_t>(bytes, at);
    if (!s.sampled.empty() && s.sampled.size() != s.completion.size()) throw Error("train batch: inconsistent bytes");
    b.sequences.push_back(std::move(s));
    b.rollout_logprobs.push_back(take<float>(bytes, at));
  }
  b.advantages = take<double>(bytes, at);
  b.group = take<size_t>(bytes, at);
  if (b.advantages.size() != b.sequences.size() || b.group.size() != b.sequences.size() || at != bytes.size())
    throw Error("train batch: inconsistent bytes");
  return b;
}

UpdateOptions UpdateOptions::of(const run::GrpoConfig& c, int64_t step) {
  UpdateOptions o;
  o.loss = c.loss;
  o.iterations = c.iterations;
  o.minibatches = c.minibatches;
  o.micro_batch_tokens = c.micro_batch_tokens;
  o.max_new_tokens = c.max_new_tokens;
  o.temperature = c.temperature;
  o.step = step;
  return o;
}

namespace {

// Sequence indices per minibatch: whole groups, in order, as evenly as the group count allows.
std::vector<std::vector<size_t>> split_minibatches(const TrainBatch& batch, int64_t minibatches) {
  const size_t M = static_cast<size_t>(
      std::max<int64_t>(1, std::min<int64_t>(minibatches, static_cast<int64_t>(batch.groups))));
  std::vector<std::vector<size_t>> out(M);
  for (size_t i = 0; i < batch.sequences.size(); ++i) out[batch.group[i] * M / batch.groups].push_back(i);
  return out;
}

// The completion log-probabilities [L_i] under `m`, without gradient (π_old, π_ref), of the sequences
// `wanted` (in a data-parallel job, this rank's share); the others' entries stay undefined.
std::vector<at::Tensor> sequence_logprobs(const model::Transformer& m, const std::vector<TokenSequence>& seqs,
                                          const std::vector<size_t>& wanted, int64_t micro_batch_tokens,
                                          double temperature) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> out(seqs.size());
  std::vector<TokenSequence> sub;
  for (size_t i : wanted) sub.push_back(seqs[i]);
  for (const auto& idx : micro_batches(sub, micro_batch_tokens)) {
    CompletionScores s = score_completions(m, sub, idx, temperature);
    for (size_t b = 0; b < idx.size(); ++b)
      out[wanted[idx[b]]] = s.logprobs[static_cast<int64_t>(b)]
                                .narrow(0, 0, static_cast<int64_t>(sub[idx[b]].completion.size()))
                                .clone();
  }
  return out;
}

// This rank's share of a minibatch: every world_size-th member, starting at its rank.
std::vector<size_t> share_of(const std::vector<size_t>& members, const run::Collective& group) {
  std::vector<size_t> mine;
  for (size_t k = static_cast<size_t>(group.rank()); k < members.size(); k += static_cast<size_t>(group.world_size()))
    mine.push_back(members[k]);
  return mine;
}

// Per-sequence rows laid out [B, L] for the micro-batch `idx`, zero-padded.
at::Tensor stack_rows(const std::vector<at::Tensor>& rows, const std::vector<size_t>& idx, int64_t L) {
  at::Tensor out = at::zeros({static_cast<int64_t>(idx.size()), L}, rows[idx.front()].options());
  for (size_t b = 0; b < idx.size(); ++b)
    out[static_cast<int64_t>(b)].narrow(0, 0, rows[idx[b]].size(0)).copy_(rows[idx[b]]);
  return out;
}

// One update's state across its minibatches: π_old and π_ref per sequence, and the sums it reports.
struct UpdateRun {
  TrainedPolicy& policy;
  const TrainBatch& batch;
  const UpdateOptions& o;
  StepUpdate& u;
  run::Collective& group;
  GradientSync& sync;                  // the gradient sums over the ranks
  bool separate_old = false;           // π_old from a pass of its own (μ > 1 or several minibatches)
  std::vector<at::Tensor> old_lp{}, ref_lp{};
  double loss_sum = 0, entropy_sum = 0, norm_sum = 0;

  // The loss of one micro-batch, backpropagated; false when it is not finite (nothing is accumulated).
  bool micro_step(const std::vector<size_t>& idx, const GrpoNorm& norm) {
    CompletionScores s = score_completions(policy.model, batch.sequences, idx, o.temperature);
    const int64_t L = s.logprobs.size(1);
    GrpoBatch b;
    b.logprobs = s.logprobs;
    b.old_logprobs = separate_old ? stack_rows(old_lp, idx, L) : s.logprobs.detach();
    b.rollout_logprobs = pad_rows(batch.rollout_logprobs, idx).narrow(1, 0, L).to(policy.model.device());
    if (!ref_lp.empty()) b.ref_logprobs = stack_rows(ref_lp, idx, L);
    std::vector<float> a;
    for (size_t i : idx) a.push_back(static_cast<float>(batch.advantages[i]));
    b.advantages = at::tensor(a, at::kFloat).to(policy.model.device());
    b.mask = s.mask;
    GrpoLoss l = grpo_loss(b, o.loss, norm);
    const double lv = l.loss.item<double>();
    if (!std::isfinite(lv)) return false;
    l.loss.backward();
    loss_sum += lv;
    entropy_sum += (s.entropy * s.mask).sum().item<double>();
    u.stats += l.stats;
    return true;
  }

  // One optimiser step over the minibatch `members`, accumulated over micro-batches with the
  // minibatch's normalisers (grpo.h); false when the loss or the gradient is not finite. In a job of
  // several ranks each takes every world_size-th member, and the gradients are summed before the step;
  // a non-finite loss on any rank skips the step on all.
  bool minibatch_step(const std::vector<size_t>& members) {
    GrpoNorm norm;
    norm.sequences = static_cast<double>(members.size());
    for (size_t i : members) norm.tokens += static_cast<double>(batch.sequences[i].sampled_tokens());
    norm.max_length = static_cast<double>(o.max_new_tokens);
    const std::vector<size_t> mine = share_of(members, group);
    std::vector<TokenSequence> sub;
    for (size_t i : mine) sub.push_back(batch.sequences[i]);
    sync.begin();
    double failed = 0;
    const std::vector<std::vector<size_t>> micros = micro_batches(sub, o.micro_batch_tokens);
    for (size_t m = 0; m < micros.size(); ++m) {
      std::vector<size_t> idx;
      for (size_t k : micros[m]) idx.push_back(mine[k]);
      if (m + 1 == micros.size()) sync.arm();  // the last backward: its gradients are summed as they land
      if (!micro_step(idx, norm)) {
        failed = 1;
        break;
      }
    }
    if (group.world_size() > 1) {
      // Every rank finishes the sums, even one whose loss was not finite, so the collectives pair up;
      // then a failure anywhere skips the step everywhere.
      const auto t = std::chrono::steady_clock::now();
      sync.finish();
      u.gradient_bytes = sync.gradient_bytes();
      group.all_reduce_sum(&failed, 1);
      u.allreduce_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    }
    if (failed > 0) return false;
    const double gn = policy.optim.step(o.step);
    if (!std::isfinite(gn)) return false;
    norm_sum += gn;
    ++u.optimizer_steps;
    return true;
  }

  // The sums each rank made over its own sequences, made the whole batch's on every rank.
  void sum_over_ranks() {
    if (group.world_size() == 1) return;
    double sums[] = {loss_sum, entropy_sum, u.stats.tokens, u.stats.clipped, u.stats.kl, u.stats.ratio,
                     u.stats.is_weight, u.stats.is_capped, u.stats.pg};
    group.all_reduce_sum(sums, static_cast<int64_t>(std::size(sums)));
    loss_sum = sums[0];
    entropy_sum = sums[1];
    u.stats.tokens = sums[2];
    u.stats.clipped = sums[3];
    u.stats.kl = sums[4];
    u.stats.ratio = sums[5];
    u.stats.is_weight = sums[6];
    u.stats.is_capped = sums[7];
    u.stats.pg = sums[8];
    uint64_t bits = 0;
    std::memcpy(&bits, &u.stats.is_weight_max, sizeof bits);
    for (uint64_t b : group.all_gather(bits)) {
      double v = 0;
      std::memcpy(&v, &b, sizeof v);
      u.stats.is_weight_max = std::max(u.stats.is_weight_max, v);
    }
  }
};

}  // namespace

StepUpdate grpo_update(TrainedPolicy& policy, const TrainBatch& batch, const UpdateOptions& o, run::Collective* group) {
  StepUpdate u;
  if (batch.sequences.empty()) {
    u.skipped = true;
    if (!group || group->leader()) log::warn() << "step " << o.step + 1 << ": nothing to train on (every completion empty or masked)";
    return u;
  }
  run::SingleProcess alone;
  run::Collective& ranks = group ? *group : alone;
  const std::vector<std::vector<size_t>> minibatches = split_minibatches(batch, o.minibatches);
  std::optional<GradientSync> own_sync;
  if (!policy.gradients) {
    own_sync.emplace(ranks, trained_parameters(policy.model), policy.optim.gradient_sync());
  }
  UpdateRun run{policy, batch, o, u, ranks, policy.gradients ? *policy.gradients : *own_sync};
  run.separate_old = o.iterations > 1 || minibatches.size() > 1;
  // π_old and π_ref only for the sequences this rank trains on.
  std::vector<size_t> wanted;
  for (const auto& members : minibatches)
    for (size_t i : share_of(members, run.group)) wanted.push_back(i);
  if (run.separate_old)
    run.old_lp = sequence_logprobs(policy.model, batch.sequences, wanted, o.micro_batch_tokens, o.temperature);
  if (policy.reference && o.loss.beta > 0) {
    run.ref_lp = sequence_logprobs(*policy.reference, batch.sequences, wanted, o.micro_batch_tokens, o.temperature);
  } else if (policy.model.lora() && o.loss.beta > 0) {  // LoRA: the reference is the base alone
    const AdapterOff base(policy.model);
    run.ref_lp = sequence_logprobs(policy.model, batch.sequences, wanted, o.micro_batch_tokens, o.temperature);
  }
  const AdapterTraining dropout(policy.model, true);  // an adapter's dropout in the update's forward passes

  for (int64_t it = 0; it < o.iterations && !u.skipped; ++it)
    for (const auto& members : minibatches)
      if (!members.empty() && !run.minibatch_step(members)) {
        u.skipped = u.non_finite = true;
        break;
      }
  if (u.skipped) {
    policy.optim.zero_grad();
    if (run.group.leader())
      log::warn() << "step " << o.step + 1 << ": non-finite loss or gradient; step skipped, no weights changed after it";
  }
  run.sum_over_ranks();
  u.loss = run.loss_sum / std::max<double>(1, static_cast<double>(o.iterations) * static_cast<double>(minibatches.size()));
  u.grad_norm = run.norm_sum / std::max<int64_t>(1, u.optimizer_steps);
  u.tokens = u.stats.tokens;
  u.entropy = u.stats.tokens > 0 ? run.entropy_sum / u.stats.tokens : 0;
  return u;
}

namespace {

nlohmann::json mean_std_json(const std::vector<double>& x) {
  const MeanStd m = mean_std(x);
  return {{"mean", m.mean}, {"std", m.std}};
}

}  // namespace

nlohmann::json step_metrics(const std::vector<std::vector<run::ScoredSample>>& kept,
                            const std::vector<std::vector<run::ScoredSample>>& dropped, const run::GrpoConfig& c,
                            const StepUpdate& u) {
  std::vector<double> reward, length;
  std::map<std::string, std::vector<double>> comp;
  nlohmann::json failures = nlohmann::json::object();  // samples each reward failed on (timeout, error, non-finite)
  double truncated = 0, max_len = 0, reflecting = 0;
  double right_tokens = 0, right = 0, wrong_tokens = 0, wrong = 0;  // judged by the accuracy component (>= 1: correct)
  for (const auto* part : {&kept, &dropped})
    for (const auto& g : *part)
      for (const auto& s : g) {
        const auto tokens = static_cast<double>(s.ids.size());
        reward.push_back(s.score.value);
        length.push_back(tokens);
        max_len = std::max(max_len, tokens);
        truncated += s.truncated ? 1 : 0;
        for (const auto& [k, v] : s.score.components) comp[k].push_back(v);
        for (const auto& k : s.score.failed) failures[k] = failures.value(k, 0) + 1;
        if (const auto acc = s.score.components.find(c.eval.accuracy); acc != s.score.components.end()) {
          const bool correct = acc->second >= 1.0;
          (correct ? right_tokens : wrong_tokens) += tokens;
          (correct ? right : wrong) += 1;
        }
        if (!c.reflection_phrases.empty() && contains_any_phrase(s.text, c.reflection_phrases)) reflecting += 1;
      }
  nlohmann::json m;
  m["samples"] = reward.size();
  m["reward_failures"] = failures;
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
  // Mean completion tokens of the correct samples and of the others (a class without samples: none).
  nlohmann::json by_outcome = nlohmann::json::object();
  if (right > 0) by_outcome["correct"] = right_tokens / right;
  if (wrong > 0) by_outcome["wrong"] = wrong_tokens / wrong;
  if (!by_outcome.empty()) m["response_tokens"] = by_outcome;
  if (!c.reflection_phrases.empty()) m["reflection_rate"] = reward.empty() ? 0 : reflecting / static_cast<double>(reward.size());
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

void NonFiniteGuard::record(int64_t step, const StepUpdate& u) {
  ++steps_;
  if (!u.non_finite) {
    in_a_row_ = 0;
    return;
  }
  ++failed_;
  if (++in_a_row_ >= kMaxInARow)
    throw Error("steps " + std::to_string(step + 2 - in_a_row_) + "-" + std::to_string(step + 1) + ": " +
                std::to_string(in_a_row_) + " updates in a row had a non-finite loss or gradient, so none changed the "
                "policy; the run stops (its weights or learning rate diverged, or its inputs hold NaN: see metrics.jsonl)");
}

void NonFiniteGuard::finish() const {
  if (steps_ > 0 && failed_ == steps_)
    throw Error("every one of the run's " + std::to_string(steps_) + " steps had a non-finite loss or gradient, so "
                "none changed the policy (its weights or learning rate diverged, or its inputs hold NaN: see metrics.jsonl)");
}

std::string progress_fields(const nlohmann::json& m) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "reward %.2f  acc %.2f  fmt %.2f  len %.0f", m["reward"]["mean"].get<double>(),
                m.value("accuracy", 0.0), m.value("format_rate", 0.0), m["response_length"]["mean"].get<double>());
  return buf;
}

}  // namespace r1::trainer

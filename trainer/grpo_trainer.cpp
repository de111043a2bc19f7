// The GRPO loop: see grpo_trainer.h. One step:
//   1. draw prompts_per_step rows (dataset position saved in checkpoints); generate G samples each;
//      score each group as it arrives; with dynamic sampling drop all-equal groups and draw more
//   2. advantages per group (or batch); every sample appended to rollouts.jsonl
//   3. μ passes × minibatches optimiser steps over micro-batches under a token budget
//   4. the new weights to the workers (version = step); metrics; a checkpoint every save_every
#include "trainer/grpo_trainer.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <numeric>

#include "checkpoint/config.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/thread_pool.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "rewards/reward_set.h"
#include "run/checkpoint_store.h"
#include "trainer/grpo.h"
#include "trainer/grpo_step.h"
#include "trainer/policy.h"
#include "run/report.h"
#include "telemetry/run_log.h"
#include "trainer/run_start.h"
#include "run/sampling.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Everything one step generated (all groups, dropped ones included, for the metrics) and the
// groups it trains on.
struct StepSamples {
  std::vector<std::vector<ScoredSample>> kept, dropped;
  DatasetPosition position;  // after the rows this step drew
  double generation_s = 0, reward_s = 0;
};

nlohmann::json rollout_row(const ScoredSample& s, int64_t step, bool dropped) {
  nlohmann::json components = nlohmann::json::object();
  for (const auto& [k, v] : s.score.components) components[k] = v;
  nlohmann::json row = {{"step", step},           {"row", s.row},         {"sample", s.index},
                        {"prompt", s.prompt},     {"completion", s.text}, {"reward", s.score.value},
                        {"components", components}, {"advantage", s.advantage}, {"policy_version", s.version},
                        {"tokens", s.ids.size()}, {"truncated", s.truncated}};
  if (!s.score.reason.empty()) row["reason"] = s.score.reason;
  if (dropped) row["dropped"] = true;
  return row;
}

std::vector<rollout::WeightTensor> weight_tensors(const model::Transformer& m) {
  std::vector<rollout::WeightTensor> out;
  for (const auto& [name, t] : m.weights()) {
    if (t.scalar_type() != at::kFloat || !t.is_contiguous()) throw Error("weight push: " + name + " is not contiguous fp32");
    out.push_back({name, "F32", t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
  }
  return out;
}

// A copy of the model's weights in a second model (the frozen reference).
void copy_weights(const model::Transformer& from, model::Transformer& to) {
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : from.weights()) to.weight(name) = t.detach().clone();
}

}  // namespace

GrpoResult run_grpo(const GrpoConfig& c, const GrpoRun& run) {
  const auto started = Clock::now();
  // Threads, allocator, seed, the run folder; the base model or the latest checkpoint.
  RunStart begun = begin_run(run.run_dir, run.threads, static_cast<uint64_t>(c.seed), c.keep_last, run.resume, c.model);
  CheckpointStore& checkpoints = begun.checkpoints;
  const int64_t start_step = begun.from.step;
  const std::string& policy_dir = begun.from.model_dir;
  DatasetPosition& position = begun.position;
  model::Transformer policy = model::Transformer::load(policy_dir, at::kFloat);
  Tokenizer tokenizer = Tokenizer::load(policy_dir);
  for (auto& t : policy.parameters()) t.requires_grad_(true);
  const at::ScalarType compute = model::resolve_compute_dtype(c.compute_dtype) == "bf16" ? at::kBFloat16 : at::kFloat;
  policy.set_compute_dtype(compute);
  policy.set_activation_checkpointing(c.activation_checkpointing);
  log::info() << "trainer: matrix products in " << (compute == at::kBFloat16 ? "bf16" : "fp32")
              << (c.compute_dtype == "auto" ? " (auto)" : "") << (c.activation_checkpointing ? ", activation checkpointing" : "");
  std::vector<std::pair<std::string, at::Tensor>> named(policy.weights().begin(), policy.weights().end());
  Optimizer optim(named, c.optim, c.steps);
  if (start_step > 0) optim.load((fs::path(policy_dir) / "optimizer.pt").string());
  std::optional<model::Transformer> reference;
  if (c.loss.beta > 0) {
    reference.emplace(policy.config(), at::kFloat);
    const fs::path ref_dir = fs::path(policy_dir) / "reference";
    if (start_step > 0 && fs::exists(ref_dir))
      reference.emplace(model::Transformer::load(ref_dir.string(), at::kFloat));
    else
      copy_weights(policy, *reference);
    reference->set_compute_dtype(compute);
  }

  PromptDataset train = PromptDataset::load(c.train_data, c.skip_bad_lines, c.seed);
  std::optional<PromptDataset> heldout;
  if (!c.eval.data.empty()) heldout.emplace(PromptDataset::load(c.eval.data, c.skip_bad_lines, c.seed));
  auto reward_set = std::make_shared<rewards::RewardSet>(rewards::RewardSet::from_json(c.rewards, "rewards", run.reward_services));
  auto scorer = std::make_shared<rewards::BatchScorer>(reward_set, static_cast<size_t>(c.reward_threads));

  rollout::ClientOptions co =
      c.rollout.client_options(run.r1_binary, policy_dir, c.group_size, static_cast<uint64_t>(start_step));
  // Remote workers must serve the same starting weights (started with --model and
  // --policy-version as the trainer's start); local ones are started so.
  rollout::RolloutClient client(co);
  Sampler sampler(client, tokenizer, c.prompt_template, scorer, c.target_language, model::read_eos_token_ids(policy_dir));
  RunLog runlog(run.run_dir, run.resume ? start_step : -1);

  GrpoResult result;
  const fs::path base_eval_path = fs::path(run.run_dir) / "base_eval.json";
  if (heldout) {
    if (start_step > 0 && fs::exists(base_eval_path)) {
      const auto j = read_json_file(base_eval_path.string());
      result.base = {j.at("accuracy").get<double>(), j.at("format_rate").get<double>(),
                     j.at("mean_response_tokens").get<double>(), j.at("samples").get<int64_t>()};
    } else {
      log::info() << "evaluating the starting policy on " << c.eval.data;
      double s = 0;
      result.base = evaluate(sampler, *heldout, c, &s);
      std::ofstream(base_eval_path) << result.base.to_json().dump(2) << "\n";
      log::info() << "base: accuracy " << result.base.accuracy << ", format " << result.base.format_rate
                  << ", response " << result.base.mean_response_tokens << " tokens (" << s << " s)";
    }
  }

  // One step's samples; runs on a helper thread when generation overlaps the update.
  auto collect = [&](int64_t step, DatasetPosition pos) {
    StepSamples out;
    const auto t0 = Clock::now();
    int64_t round = 0;
    while (static_cast<int64_t>(out.kept.size()) < c.prompts_per_step) {
      const size_t need = static_cast<size_t>(c.prompts_per_step - static_cast<int64_t>(out.kept.size()));
      std::vector<size_t> rows = train.next(need, pos);
      SamplingSpec spec{c.group_size, c.max_new_tokens, c.temperature, c.top_p,
                        c.seed * 1000003ULL + static_cast<uint64_t>(step) * 7919ULL * 64 + static_cast<uint64_t>(round) * 4096};
      sampler.run(train, rows, spec, [&](size_t, std::vector<ScoredSample>&& g) {
        std::vector<double> r;
        for (const auto& s : g) r.push_back(s.score.value);
        const bool degenerate = c.dynamic_sampling && group_is_degenerate(r.data(), r.size());
        if (c.scale != AdvantageScale::kBatch) {
          auto a = group_advantages(r, r.size(), c.scale, c.advantage_eps);
          for (size_t i = 0; i < g.size(); ++i) g[i].advantage = a[i];
        }
        for (const auto& s : g) runlog.rollout(rollout_row(s, step + 1, degenerate));
        (degenerate ? out.dropped : out.kept).push_back(std::move(g));
      }, &out.reward_s);
      if (!c.dynamic_sampling || ++round > c.max_refill_rounds) break;
    }
    if (c.scale == AdvantageScale::kBatch) {
      std::vector<double> r;
      for (const auto& g : out.kept) for (const auto& s : g) r.push_back(s.score.value);
      auto a = group_advantages(r, static_cast<size_t>(c.group_size), c.scale, c.advantage_eps);
      size_t k = 0;
      for (auto& g : out.kept) for (auto& s : g) s.advantage = a[k++];
    }
    out.position = pos;
    out.generation_s = since(t0) - out.reward_s;
    return out;
  };

  StepProgress progress("grpo", c.steps, start_step);
  std::future<StepSamples> prefetch;
  int64_t step = start_step;
  for (; step < c.steps; ++step) {
    const auto step_start = Clock::now();
    StepSamples batch;
    const auto wait_start = Clock::now();
    if (prefetch.valid()) {
      batch = prefetch.get();
    } else {
      batch = collect(step, position);
    }
    const double wait_s = since(wait_start);
    position = batch.position;
    if (c.rollout.max_staleness >= 1 && step + 1 < c.steps)
      prefetch = std::async(std::launch::async, collect, step + 1, position);

    // The update. With a generation in flight, the checkpoint below still records the position
    // after this step's rows: a resumed run generates the next step's again.
    const auto update_start = Clock::now();
    StepUpdate upd = grpo_update(policy, reference ? &*reference : nullptr, optim, batch.kept, c, step);
    const double update_s = since(update_start);

    double sync_s = 0;
    if (!upd.skipped) {
      const auto t = Clock::now();
      client.update_weights(static_cast<uint64_t>(step + 1), weight_tensors(policy));
      sync_s = since(t);
    }
    if (reference && c.reference_reset_every > 0 && (step + 1) % c.reference_reset_every == 0) copy_weights(policy, *reference);

    nlohmann::json m = step_metrics(batch.kept, batch.dropped, c, upd);
    m["lr"] = optim.lr_at(step);
    m["time"] = {{"step_s", since(step_start)}, {"generation_s", batch.generation_s}, {"rewards_s", batch.reward_s},
                 {"wait_rollouts_s", wait_s}, {"update_s", update_s}, {"weight_sync_s", sync_s}};
    const double gen_tokens = m["response_length"]["mean"].get<double>() * m["samples"].get<double>();
    m["throughput"] = {{"generated_tokens_per_s", batch.generation_s > 0 ? gen_tokens / batch.generation_s : 0},
                       {"train_tokens_per_s", update_s > 0 ? upd.tokens / update_s : 0}};
    runlog.metrics(step + 1, m);
    progress.update(step + 1, progress_fields(m));

    const bool last = step + 1 == c.steps;
    if (!upd.skipped && ((c.save_every > 0 && (step + 1) % c.save_every == 0) || last)) {
      nlohmann::json state = {{"step", step + 1}, {"dataset", position.to_json()}, {"seed", c.seed},
                              {"policy_version", step + 1}};
      try {
        checkpoints.save(step + 1, state, [&](const std::string& dir) {
          policy.save(dir);
          optim.save((fs::path(dir) / "optimizer.pt").string());
          if (reference) reference->save((fs::path(dir) / "reference").string());
        });
      } catch (const Error& e) {
        log::error() << "checkpoint of step " << step + 1 << " not written, the previous one stays: " << e.what();
      }
    }
  }
  if (prefetch.valid()) prefetch.wait();
  progress.finish();

  result.steps = step;
  result.model_dir = (fs::path(run.run_dir) / "model").string();
  policy.save(result.model_dir);
  if (heldout) {
    double s = 0;
    result.final = evaluate(sampler, *heldout, c, &s);
    result.evaluated = true;
  }
  result.wall_s = since(started);
  write_run_report(run.run_dir, result);
  return result;
}

}  // namespace r1::trainer

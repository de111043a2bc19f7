// The GRPO loop: see grpo_trainer.h. One step, in the order run_grpo's loop reads:
//   1. collect: draw prompts_per_step rows (dataset position saved in checkpoints); generate G
//      samples each; score each group as it arrives; with dynamic sampling drop all-equal groups
//      and draw more (on a helper thread while the previous step trains, with max_staleness 1)
//   2. advantages: per group (or over the batch), the one place they are assigned; every sample
//      appended to rollouts.jsonl (groups in dataset-row order, whatever order they finished in)
//   3. update: μ passes × minibatches optimiser steps over micro-batches under a token budget
//   4. push the new weights to the workers (version = step)
//   5. log the step's metrics, with a held-out evaluation every eval.every steps and after the last
//   6. checkpoint every save_every steps and at the end
#include "trainer/grpo_trainer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <numeric>
#include <optional>
#include <random>

#include "checkpoint/config.h"
#include "core/config.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/stop.h"
#include "core/log.h"
#include "core/text.h"
#include "core/thread_pool.h"
#include "checkpoint/lora_config.h"
#include "model/device.h"
#include "model/lora.h"
#include "model/runtime.h"
#include "model/transformer.h"
#include "rewards/reward_set.h"
#include "rollout/node_workers.h"
#include "run/checkpoint_store.h"
#include "run/heldout_curve.h"
#include "trainer/colocated.h"
#include "tools/tool_host.h"
#include "sandbox/sandbox.h"
#include "trainer/distributed.h"
#include "trainer/grpo.h"
#include "trainer/grpo_step.h"
#include "trainer/logprobs.h"
#include "run/report.h"
#include "telemetry/run_log.h"
#include "trainer/run_start.h"
#include "trainer/trained_weights.h"
#include "run/sampling.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {


// One group as sampled and scored; `dropped` by dynamic sampling (all rewards equal) or kept.
struct SampledGroup {
  std::vector<run::ScoredSample> samples;
  bool dropped = false;
};

// Everything one step generated, in the order the groups arrived.
struct StepSamples {
  std::vector<SampledGroup> groups;
  run::DatasetPosition position;  // after the rows this step drew
  double generation_s = 0, reward_s = 0;

  std::vector<std::vector<run::ScoredSample>> part(bool dropped) const {
    std::vector<std::vector<run::ScoredSample>> out;
    for (const auto& g : groups)
      if (g.dropped == dropped) out.push_back(g.samples);
    return out;
  }
};

// The model being trained, its optimiser and the frozen reference, as a run starts or resumes.
struct Trainee {
  model::Transformer policy;
  std::unique_ptr<Optimizer> optim;
  std::optional<model::Transformer> reference;
  std::unique_ptr<GradientSync> gradients;  // in a job of several ranks

  TrainedPolicy trained() { return {policy, *optim, reference ? &*reference : nullptr, gradients.get()}; }
};

// A copy of the model's weights in a second model (the frozen reference).
void copy_weights(const model::Transformer& from, model::Transformer& to) {
  at::NoGradGuard no_grad;
  for (const auto& [name, t] : from.weights()) to.weight(name) = t.detach().clone();
}

// The policy (every weight, or a LoRA adapter over the frozen base: trained_weights.h), its optimiser
// and, with β > 0, its reference: a frozen copy of the starting policy (the checkpoint's on resume), or
// with LoRA none: the base with the adapter off is the reference.
Trainee load_trainee(const run::GrpoConfig& c, const run::StartPoint& from, run::Collective* group) {
  const at::Device device = model::resolve_device(c.device, c.device_key);
  Trainee t{load_trained(c.lora, c.model, from, device, c.seed), nullptr, std::nullopt, nullptr};
  const ComputeDtype dtype = make_trainable(t.policy, c.compute_dtype, c.activation_checkpointing);
  const at::ScalarType compute = dtype == ComputeDtype::kBf16 ? at::kBFloat16 : at::kFloat;
  log::info() << "trainer: on " << model::describe_device(device) << ", matrix products in " << name(dtype)
              << (c.compute_dtype == ComputeDtype::kAuto ? " (auto)" : "")
              << (c.activation_checkpointing ? ", activation checkpointing" : "");
  const std::vector<std::pair<std::string, at::Tensor>> named = trained_parameters(t.policy);
  t.optim = std::make_unique<Optimizer>(named, c.optim, c.steps, group);
  if (from.step > 0) t.optim->load((fs::path(from.model_dir) / "optimizer.pt").string());
  if (group && group->world_size() > 1) t.gradients = std::make_unique<GradientSync>(*group, named, t.optim->gradient_sync());
  if (c.loss.beta > 0 && !c.lora.enabled) {
    const fs::path ref_dir = fs::path(from.model_dir) / "reference";
    if (from.step > 0 && fs::exists(ref_dir)) {
      t.reference.emplace(model::Transformer::load(ref_dir.string(), at::kFloat, device));
    } else {
      t.reference.emplace(t.policy.config(), at::kFloat, device);
      copy_weights(t.policy, *t.reference);
    }
    t.reference->set_compute_dtype(compute);
  }
  return t;
}

// Step 1, collect: prompts_per_step groups, scored; with dynamic sampling, groups whose rewards are
// all equal are dropped and more rows drawn, up to max_refill_rounds times.
StepSamples collect_step(run::Sampler& sampler, const run::PromptDataset& train, const run::GrpoConfig& c, int64_t step,
                         run::DatasetPosition pos) {
  StepSamples out;
  const auto t0 = Clock::now();
  int64_t kept = 0;
  for (int64_t round = 0; kept < c.prompts_per_step; ++round) {
    std::vector<size_t> rows = train.next(static_cast<size_t>(c.prompts_per_step - kept), pos);
    rollout::SamplingParams params;
    params.n = c.group_size;
    params.max_new_tokens = c.max_new_tokens;
    params.temperature = c.temperature;
    params.top_p = c.top_p;
    params.seed = c.seed * 1000003ULL + static_cast<uint64_t>(step) * 7919ULL * 64 + static_cast<uint64_t>(round) * 4096;
    sampler.run(train, rows, params, [&](size_t, std::vector<run::ScoredSample>&& g) {
      std::vector<double> r;
      for (const auto& s : g) r.push_back(s.score.value);
      const bool dropped = c.dynamic_sampling && group_is_degenerate(r.data(), r.size());
      kept += dropped ? 0 : 1;
      out.groups.push_back({std::move(g), dropped});
    }, &out.reward_s);
    if (!c.dynamic_sampling || round + 1 > c.max_refill_rounds) break;
  }
  // Groups finish in an order the workers decide; in dataset-row order instead, the minibatches an
  // update splits them into (and rollouts.jsonl) are the same in every run, resumed ones included.
  std::stable_sort(out.groups.begin(), out.groups.end(), [](const SampledGroup& a, const SampledGroup& b) {
    return a.samples.front().row < b.samples.front().row;
  });
  out.position = pos;
  out.generation_s = seconds_since(t0) - out.reward_s;
  return out;
}

// Step 2, advantages, for every group: per group (scale group or none), or over the kept groups
// together (scale batch; dropped groups keep 0, as they teach nothing). The one place they are set.
void assign_advantages(StepSamples& batch, const run::GrpoConfig& c) {
  auto rewards_of = [](const std::vector<run::ScoredSample>& g, std::vector<double>& into) {
    for (const auto& s : g) into.push_back(s.score.value);
  };
  if (c.scale != run::AdvantageScale::kBatch) {
    for (auto& g : batch.groups) {
      std::vector<double> r;
      rewards_of(g.samples, r);
      const auto a = group_advantages(r, r.size(), c.scale, c.advantage_eps);
      for (size_t i = 0; i < g.samples.size(); ++i) g.samples[i].advantage = a[i];
    }
    return;
  }
  std::vector<double> r;
  for (const auto& g : batch.groups)
    if (!g.dropped) rewards_of(g.samples, r);
  const auto a = group_advantages(r, static_cast<size_t>(c.group_size), c.scale, c.advantage_eps);
  size_t k = 0;
  for (auto& g : batch.groups)
    if (!g.dropped)
      for (auto& s : g.samples) s.advantage = a[k++];
}

nlohmann::json rollout_row(const run::ScoredSample& s, int64_t step, bool dropped) {
  nlohmann::json components = nlohmann::json::object();
  for (const auto& [k, v] : s.score.components) components[k] = v;
  nlohmann::json row = {{"step", step},           {"row", s.row},         {"sample", s.index},
                        {"prompt", s.prompt},     {"completion", s.text}, {"reward", s.score.value},
                        {"components", components}, {"advantage", s.advantage}, {"policy_version", s.version},
                        {"tokens", s.ids.size()}, {"truncated", s.truncated}};
  if (!s.score.reason.empty()) row["reason"] = s.score.reason;
  if (s.tools.turns > 0)
    row["tools"] = {{"turns", s.tools.turns},           {"calls", s.tools.calls},
                    {"errors", s.tools.errors},         {"tool_tokens", s.tools.tool_tokens},
                    {"tool_seconds", s.tools.tool_seconds}, {"limit", s.tool_limit}};
  if (dropped) row["dropped"] = true;
  return row;
}

// Seconds spent in each part of a step, for the metrics row.
struct StepTimes {
  Clock::time_point start = Clock::now();
  double wait_rollouts_s = 0, update_s = 0, weight_sync_s = 0;
  rollout::RolloutClient::PushStats push;  // the weight sync's bytes
};

// What the step's trajectories did with their tools: calls, errors and turns per trajectory, the error
// rate of calls, the share of completion tokens that tools wrote, time in tools, and how many ended at
// a bound.
nlohmann::json tool_metrics(const StepSamples& batch) {
  double n = 0, calls = 0, errors = 0, turns = 0, tool_tokens = 0, tokens = 0, seconds = 0, limited = 0, calling = 0;
  for (const auto& g : batch.groups)
    for (const run::ScoredSample& s : g.samples) {
      n += 1;
      calls += static_cast<double>(s.tools.calls);
      calling += s.tools.calls > 0 ? 1 : 0;
      errors += static_cast<double>(s.tools.errors);
      turns += static_cast<double>(s.tools.turns);
      tool_tokens += static_cast<double>(s.tools.tool_tokens);
      tokens += static_cast<double>(s.ids.size());
      seconds += s.tools.tool_seconds;
      limited += s.tool_limit ? 1 : 0;
    }
  auto per = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  return {{"calls_per_trajectory", per(calls, n)}, {"trajectories_calling", per(calling, n)},
          {"error_rate", per(errors, calls)},     {"turns", per(turns, n)},
          {"tool_token_share", per(tool_tokens, tokens)}, {"tool_s", seconds},
          {"limit_rate", per(limited, n)}};
}

nlohmann::json metrics_row(const StepSamples& batch, const std::vector<std::vector<run::ScoredSample>>& kept,
                           const StepUpdate& upd, const StepTimes& t, const run::GrpoConfig& c, double lr) {
  nlohmann::json m = step_metrics(kept, batch.part(true), c, upd);
  m["lr"] = lr;
  m["time"] = {{"step_s", seconds_since(t.start)},          {"generation_s", batch.generation_s}, {"rewards_s", batch.reward_s},
               {"wait_rollouts_s", t.wait_rollouts_s}, {"update_s", t.update_s},           {"weight_sync_s", t.weight_sync_s},
               {"allreduce_s", upd.allreduce_s}};
  m["weight_sync"] = {{"what", c.lora.enabled ? "adapter" : "weights"},
                      {"bytes_sent", t.push.bytes_sent},
                      {"full_bytes", t.push.full_bytes},
                      {"workers_delta", t.push.workers_delta},
                      {"workers_full", t.push.workers_full}};
  if (!c.tools.is_null()) m["tools"] = tool_metrics(batch);
  const double gen_tokens = m["response_length"]["mean"].get<double>() * m["samples"].get<double>();
  m["throughput"] = {{"generated_tokens_per_s", batch.generation_s > 0 ? gen_tokens / batch.generation_s : 0},
                     {"train_tokens_per_s", t.update_s > 0 ? upd.tokens / t.update_s : 0}};
  return m;
}

// Whether step `step` (0-based) ends with a checkpoint: every save_every steps and at the end, unless
// its update was skipped. The same on every rank.
bool saves_at(const run::GrpoConfig& c, int64_t step, const StepUpdate& upd) {
  const bool last = step + 1 == c.steps;
  return !upd.skipped && ((c.save_every > 0 && (step + 1) % c.save_every == 0) || last);
}

// The signal any rank was asked to stop with (0: none), so that every rank stops after the same step.
int agreed_stop(run::Collective* group) {
  const auto mine = static_cast<uint64_t>(stop_requested());
  return static_cast<int>(group ? run::max_over_ranks(*group, mine) : mine);
}

// Whether a stop after step `step` needs a checkpoint of its own (none was just written, and the
// step changed the weights).
bool saves_to_stop(const run::GrpoConfig& c, int64_t step, const StepUpdate& upd) {
  return !saves_at(c, step, upd) && !upd.skipped;
}

// A failed checkpoint is logged and the run goes on: the previous checkpoint stays whole.
void save_checkpoint(run::CheckpointStore& checkpoints, Trainee& t, const run::GrpoConfig& c, int64_t step,
                     const run::DatasetPosition& position) {
  nlohmann::json state = {{"step", step}, {"dataset", position.to_json()}, {"seed", c.seed}, {"policy_version", step}};
  try {
    checkpoints.save(step, state, [&](const std::string& dir) {
      save_trained(t.policy, dir);  // the model, or the adapter alone
      t.optim->save((fs::path(dir) / "optimizer.pt").string());
      if (t.reference) t.reference->save((fs::path(dir) / "reference").string());
    });
  } catch (const Error& e) {
    log::error() << "checkpoint of step " << step << " not written, the previous one stays: " << e.what();
  }
}

// The end of a run: the final policy in run_dir/model (with LoRA also the adapter in run_dir/adapter),
// and its held-out scores (the workers serve the final policy already), unless the last step measured
// them (a stage resumed after its last step did not).
void finish_run(run::GrpoResult& result, model::Transformer& policy, run::Sampler& sampler, const run::PromptDataset* heldout,
                const run::GrpoConfig& c, const std::string& run_dir, run::HeldoutCurve& curve) {
  if (policy.lora()) result.adapter_dir = (fs::path(run_dir) / "adapter").string();
  result.model_dir = save_final(policy, run_dir, c.model);
  if (heldout && !result.evaluated) {
    result.final = curve.measure(sampler, *heldout, c, result.steps, false, nullptr);
    result.evaluated = true;
  }
}

// Rank 0's update: the batch sent to the other ranks first (they wait for it in follow_grpo), then
// this rank's share of it.
StepUpdate lead_update(TrainedPolicy& trained, const TrainBatch& batch, const run::GrpoConfig& c, int64_t step,
                       run::Collective* group) {
  if (group && group->world_size() > 1) {
    std::string bytes = batch.encode();
    group->broadcast(bytes);
  }
  return grpo_update(trained, batch, UpdateOptions::of(c, step), group);
}

// The job's figures in rank 0's metrics row: world_size, each rank's optimiser state and summed
// gradients (collectives: the other ranks make the matching calls, rank_memory in follow_grpo).
void add_rank_metrics(nlohmann::json& m, const Optimizer& optim, const StepUpdate& upd, run::Collective* group) {
  m["world_size"] = group ? group->world_size() : 1;
  if (!group || group->world_size() == 1) {
    m["optimizer_state_mb"] = state_mb({static_cast<uint64_t>(optim.state_bytes())});
    return;
  }
  m["optimizer_state_mb"] = state_mb(group->all_gather(static_cast<uint64_t>(optim.state_bytes())));
  m["gradient_mb"] = state_mb(group->all_gather(static_cast<uint64_t>(upd.gradient_bytes)));
}

// What the rollout workers load: the starting policy (the base model and, with LoRA, the adapter to
// apply over it: the checkpoint's on resume, or the one the stage starts from), as `version`.
rollout::ClientOptions worker_options(const run::GrpoConfig& c, const GrpoRun& run, const run::StartPoint& from) {
  if (!c.lora.enabled)
    return c.rollout.client_options(run.r1_binary, from.model_dir, c.group_size, static_cast<uint64_t>(from.step));
  rollout::ClientOptions co = c.rollout.client_options(run.r1_binary, c.model, c.group_size, static_cast<uint64_t>(from.step));
  co.local.worker.adapter_dir = from.step > 0 ? from.model_dir : c.lora.adapter;  // "": a fresh adapter is the base
  return co;
}

// Rollout workers on every node of a multi-node job (rollout.workers_on_every_node): the first rank of
// each node other than the controller's starts rollout.workers of its own, listening on its node's
// address with a token rank 0 chose, and rank 0 adds them to its pool as remote workers. Every rank
// calls it at the same point (collectives); `in_use` is the same on every rank.
struct NodePool {
  bool in_use = false;
  std::string token;                            // every worker's, rank 0's local ones included
  std::vector<std::string> remote;              // rank 0: the other nodes' workers
  std::unique_ptr<rollout::NodeWorkers> mine;   // this node's, when this rank starts them
  std::string done_key;                         // posted by rank 0 when the stage no longer needs workers
};

std::string random_token() {
  std::random_device rd;
  char text[33];
  for (int i = 0; i < 4; ++i) std::snprintf(text + 8 * i, 9, "%08x", rd());
  return text;
}

NodePool node_pool(const run::GrpoConfig& c, const GrpoRun& run, const run::StartPoint& from) {
  NodePool pool;
  run::Collective* g = run.group;
  pool.in_use = g && g->world_size() > 1 && !c.rollout.colocate && c.rollout.addresses.empty() && c.rollout.workers_on_every_node;
  if (!pool.in_use) return pool;
  pool.done_key = "rollout-workers-done:" + run.run_dir;
  if (g->leader()) pool.token = c.rollout.token.empty() ? random_token() : c.rollout.token;
  g->broadcast(pool.token);
  std::string mine;
  if (g->local_rank() == 0 && g->node_rank() != 0) {
    const rollout::ClientOptions co = worker_options(c, run, from);
    pool.mine = std::make_unique<rollout::NodeWorkers>(co.local, g->node_address(), pool.token);
    for (const std::string& a : pool.mine->addresses()) mine += (mine.empty() ? "" : ",") + a;
  }
  for (const std::string& list : g->all_gather(mine))
    for (size_t at = 0; at < list.size();) {
      const size_t end = std::min(list.find(',', at), list.size());
      pool.remote.push_back(list.substr(at, end - at));
      at = end + 1;
    }
  return pool;
}

// The end of a stage's use of the node pool: rank 0 says so; a rank running workers for it waits for
// that (rank 0 may still be evaluating with them) before stopping them.
void release_node_pool(NodePool& pool, run::Collective& group) {
  if (!pool.in_use) return;
  if (group.leader() || pool.mine) group.share_from_leader(pool.done_key, "done");
  pool.mine.reset();
}

// A rank other than 0: the same policy, optimiser and reference as rank 0 (from the same checkpoint),
// and each step the batch rank 0 collected, of which it trains its share.
run::GrpoResult follow_grpo(const run::GrpoConfig& c, const GrpoRun& run, run::Collective& group) {
  RunStart begun = begin_run(run.run_dir, run.threads, static_cast<uint64_t>(c.seed), c.keep_last, run.resume, c.model);
  Trainee trainee = load_trainee(c, begun.from, &group);
  TrainedPolicy trained = trainee.trained();
  NodePool pool = node_pool(c, run, begun.from);
  run::GrpoResult result;
  int64_t step = begun.from.step;
  const StopPoints stop_points;
  for (; step < c.steps; ++step) {
    std::string bytes;
    group.broadcast(bytes);
    const StepUpdate upd = grpo_update(trained, TrainBatch::decode(bytes), UpdateOptions::of(c, step), &group);
    group.all_gather(static_cast<uint64_t>(trainee.optim->state_bytes()));  // for rank 0's metrics (add_rank_metrics)
    group.all_gather(static_cast<uint64_t>(upd.gradient_bytes));
    if (saves_at(c, step, upd)) trainee.optim->gather_state();
    if (trainee.reference && c.reference_reset_every > 0 && (step + 1) % c.reference_reset_every == 0)
      copy_weights(trainee.policy, *trainee.reference);
    if (const int sig = agreed_stop(&group)) {  // as rank 0 does, collective for collective
      if (saves_to_stop(c, step, upd)) trainee.optim->gather_state();
      throw Stopped("rank " + std::to_string(group.rank()) + " stopped by " + signal_name(sig) + " after step " +
                    std::to_string(step + 1), sig);
    }
  }
  release_node_pool(pool, group);
  result.steps = step;
  return result;
}

// Where the step's groups come from: worker processes over gRPC, or the colocated engine; and how
// the new weights reach them after an update.
class Rollouts {
 public:
  Rollouts(const run::GrpoConfig& c, const GrpoRun& run, const model::Transformer& policy, const Tokenizer& tokenizer,
           const run::StartPoint& from, const NodePool& pool) {
    if (c.rollout.colocate) {
      ColocatedOptions o;
      o.precision = c.rollout.precision;
      o.kv_cache_mb = c.rollout.kv_cache_mb;
      o.kv_cache_fraction = c.rollout.kv_cache_fraction;
      o.tokenizer = &tokenizer;
      // The python tool shares the trainer's sandbox with the code reward (one pool of helpers).
      if (!c.tools.is_null())
        o.tools = std::make_shared<tools::ToolHost>(
            tokenizer, run.reward_services.code_runner ? run.reward_services.code_runner : sandbox::shared_sandbox());
      colocated_ = std::make_unique<ColocatedEngine>(policy, static_cast<uint64_t>(from.step), o);
      log::info() << "rollouts: colocated engine on " << model::describe_device(policy.device()) << " ("
                  << name(c.rollout.precision) << ", KV cache " << c.rollout.kv_cache_mb << " MB while generating)";
    } else {
      // Remote workers must serve the same starting weights (started with --model, --adapter and
      // --policy-version as the trainer's start); local ones are started so.
      rollout::ClientOptions co = worker_options(c, run, from);
      if (pool.in_use) {  // the other nodes' workers beside this node's
        co.addresses = pool.remote;
        co.token = pool.token;
        log::info() << "rollouts: " << co.local.count << " local worker" << (co.local.count == 1 ? "" : "s") << " and "
                    << co.addresses.size() << " on the other nodes";
      }
      client_ = std::make_unique<rollout::RolloutClient>(std::move(co));
    }
  }
  rollout::GroupGenerator& generator() {
    if (colocated_) return *colocated_;
    return *client_;
  }
  // What travelled to the workers (nothing for a colocated engine, which reads the policy in place):
  // every weight, or with LoRA the adapter alone, which the workers apply over the base they hold.
  rollout::RolloutClient::PushStats push(const model::Transformer& policy, uint64_t version) {
    if (colocated_) {
      colocated_->refresh(policy, version);
      return {};
    }
    if (policy.lora())
      return client_->update_adapter(version, adapter_tensors(policy).tensors, checkpoint::peft_config_json(policy.lora()->options()));
    return client_->update_weights(version, weight_tensors(policy).tensors);
  }

 private:
  std::unique_ptr<rollout::RolloutClient> client_;
  std::unique_ptr<ColocatedEngine> colocated_;
};

}  // namespace

run::GrpoResult run_grpo(const run::GrpoConfig& c, const GrpoRun& run) {
  if (run.group && !run.group->leader()) return follow_grpo(c, run, *run.group);
  const auto started = Clock::now();
  // Threads, allocator, seed, the run folder; the base model or the latest checkpoint.
  RunStart begun = begin_run(run.run_dir, run.threads, static_cast<uint64_t>(c.seed), c.keep_last, run.resume, c.model);
  const int64_t start_step = begun.from.step;
  run::DatasetPosition& position = begun.position;
  Trainee trainee = load_trainee(c, begun.from, run.group);
  TrainedPolicy trained = trainee.trained();
  NodePool pool = node_pool(c, run, begun.from);
  const std::string files_dir = model_files_dir(c.lora, c.model, begun.from);  // config, tokenizer, stop ids
  Tokenizer tokenizer = Tokenizer::load(files_dir);

  run::PromptDataset train = run::PromptDataset::load(c.train_data, c.skip_bad_lines, c.seed);
  std::optional<run::PromptDataset> heldout;
  if (!c.eval.data.empty()) heldout.emplace(run::PromptDataset::load(c.eval.data, c.skip_bad_lines, c.seed));
  {  // every prompt must leave room for its completion: checked now, not when the row is drawn
    const run::PromptRenderer renderer(tokenizer, c.prompt_template);
    const int64_t context = checkpoint::read_model_config((fs::path(files_dir) / "config.json").string()).max_position_embeddings;
    run::check_prompt_lengths(train, renderer, context, c.max_new_tokens, c.skip_bad_lines);
    if (heldout)
      run::check_prompt_lengths(*heldout, renderer, context, c.eval.max_new_tokens > 0 ? c.eval.max_new_tokens : c.max_new_tokens,
                                c.skip_bad_lines);
  }
  // What only the model's tokenizer can check of the tools (the template renders tool messages, the
  // format resolves from it) stops the stage now, not at the first request a worker refuses.
  if (!c.tools.is_null()) tools::ToolHost(tokenizer, nullptr, {1}).check(rollout::ToolUse{c.tools.dump()});
  auto reward_set = std::make_shared<rewards::RewardSet>(rewards::RewardSet::from_json(c.rewards, "rewards", run.reward_services));
  auto scorer = std::make_shared<rewards::BatchScorer>(reward_set, static_cast<size_t>(c.reward_threads));
  Rollouts rollouts(c, run, trainee.policy, tokenizer, begun.from, pool);
  run::Sampler sampler(rollouts.generator(), tokenizer, c.prompt_template, scorer, c.target_language,
                       checkpoint::read_eos_token_ids(files_dir));
  if (!c.tools.is_null()) sampler.set_tools(c.tools.dump(), run::tool_shaping(c.tools), run::tool_schemas(c.tools));
  telemetry::RunLog runlog(run.run_dir, run.resume ? start_step : -1);

  run::GrpoResult result;
  run::HeldoutCurve curve(run.run_dir, run.resume ? start_step : -1, &runlog);
  if (heldout) {
    result.base = run::base_evaluation(sampler, *heldout, c, run.run_dir, start_step);
    if (!curve.has(0)) curve.record(0, result.base, nullptr);
  }

  telemetry::StepProgress progress("grpo", c.steps, start_step);
  std::future<StepSamples> prefetch;  // step t+1's samples, generated while step t trains (max_staleness 1)
  int64_t step = start_step;
  NonFiniteGuard non_finite;
  const StopPoints stop_points;  // from here a first SIGINT / SIGTERM waits for the step's end
  for (; step < c.steps; ++step) {
    StepTimes times;
    // 1. Collect this step's groups (already in flight when generation overlaps the update).
    const auto wait_start = Clock::now();
    StepSamples batch = prefetch.valid() ? prefetch.get() : collect_step(sampler, train, c, step, position);
    times.wait_rollouts_s = seconds_since(wait_start);
    position = batch.position;
    if (c.rollout.max_staleness >= 1 && step + 1 < c.steps)
      prefetch = std::async(std::launch::async, [&, step, pos = position] { return collect_step(sampler, train, c, step + 1, pos); });

    // 2. Advantages; every sample to rollouts.jsonl.
    assign_advantages(batch, c);
    for (const auto& g : batch.groups)
      for (const auto& s : g.samples) runlog.rollout(rollout_row(s, step + 1, g.dropped));

    // 3. Update. With a generation in flight, the checkpoint below still records the position after
    // this step's rows: a resumed run generates the next step's again.
    const auto update_start = Clock::now();
    const std::vector<std::vector<run::ScoredSample>> kept = batch.part(false);
    const StepUpdate upd = lead_update(trained, TrainBatch::from_groups(kept, c.mask_truncated), c, step, run.group);
    times.update_s = seconds_since(update_start);

    // 4. Push the new weights to the workers; reset the reference when it is due.
    if (!upd.skipped) {
      const auto t = Clock::now();
      times.push = rollouts.push(trainee.policy, static_cast<uint64_t>(step + 1));
      times.weight_sync_s = seconds_since(t);
    }
    if (trainee.reference && c.reference_reset_every > 0 && (step + 1) % c.reference_reset_every == 0)
      copy_weights(trainee.policy, *trainee.reference);

    // 5. Log; every eval.every steps and after the last one, a held-out evaluation first (the next
    // step's generation in flight has finished: the sampler serves one caller at a time).
    nlohmann::json m = metrics_row(batch, kept, upd, times, c, trainee.optim->lr_at(step));
    add_rank_metrics(m, *trainee.optim, upd, run.group);
    const bool last = step + 1 == c.steps;
    if (heldout && (last || run::periodic_eval_due(c.eval, step + 1, c.steps))) {
      if (prefetch.valid()) prefetch.wait();
      const run::EvalResult r = curve.measure(sampler, *heldout, c, step + 1, !last, &m);
      if (last) result.final = r, result.evaluated = true;
    }
    runlog.metrics(step + 1, m);
    progress.update(step + 1, progress_fields(m));
    non_finite.record(step, upd);  // stops a run whose updates keep failing

    // 6. Checkpoint.
    if (saves_at(c, step, upd)) {
      trainee.optim->gather_state();  // every rank: a partitioned optimiser's moments to rank 0
      save_checkpoint(begun.checkpoints, trainee, c, step + 1, position);
    }

    // 7. Asked to stop (SIGINT, SIGTERM): this step's checkpoint, then out; the stage stays unfinished
    // and the same command resumes it.
    if (const int sig = agreed_stop(run.group)) {
      if (saves_to_stop(c, step, upd)) {
        trainee.optim->gather_state();
        save_checkpoint(begun.checkpoints, trainee, c, step + 1, position);
      }
      if (prefetch.valid()) prefetch.wait();
      progress.finish();
      throw Stopped("stopped by " + signal_name(sig) + " after step " + std::to_string(step + 1) + " of " +
                    std::to_string(c.steps) + ", its checkpoint in " + begun.checkpoints.dir() +
                    ": run the same command again to resume", sig);
    }
  }
  if (prefetch.valid()) prefetch.wait();
  progress.finish();
  non_finite.finish();

  result.steps = step;
  finish_run(result, trainee.policy, sampler, heldout ? &*heldout : nullptr, c, run.run_dir, curve);
  if (run.group) release_node_pool(pool, *run.group);  // the final evaluation was the last use of the workers
  result.wall_s = seconds_since(started);
  run::write_run_report(run.run_dir, result);
  return result;
}

namespace {

void add_host_tensor(HostWeights& out, const std::string& name, const at::Tensor& weight) {
  if (weight.scalar_type() != at::kFloat || !weight.is_contiguous())
    throw Error("weight push: " + name + " is not contiguous fp32");
  at::Tensor t = weight;
  if (!t.device().is_cpu()) out.staged.push_back(t = t.detach().to(at::kCPU));
  out.tensors.push_back({name, rollout::WireDtype::kF32, t.sizes().vec(), t.data_ptr(), static_cast<size_t>(t.numel()) * 4});
}

}  // namespace

HostWeights weight_tensors(const model::Transformer& m) {
  HostWeights out;
  for (const auto& [name, weight] : m.weights()) add_host_tensor(out, name, weight);
  return out;
}

HostWeights adapter_tensors(const model::Transformer& m) {
  HostWeights out;
  if (!m.lora()) throw Error("weight push: the model has no LoRA adapter");
  for (const auto& [name, t] : trained_parameters(m)) add_host_tensor(out, name, t.detach());
  return out;
}

}  // namespace r1::trainer

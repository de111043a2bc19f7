// A GRPO stage's options from its recipe entry (docs/recipes.md lists them with TRL's and verl's
// names for the same things). Every key is checked; a typo is refused naming the closest valid key.
#include <cmath>
#include <cstdlib>

#include "core/config.h"
#include "core/error.h"
#include "rewards/reward_set.h"
#include "run/grpo_config.h"
#include "run/reflection.h"

namespace r1::run {

AdvantageScale parse_advantage_scale(const std::string& name) {
  if (name == "group") return AdvantageScale::kGroup;
  if (name == "batch") return AdvantageScale::kBatch;
  if (name == "none") return AdvantageScale::kNone;
  throw ConfigError("advantage scale: expected group, batch or none, got '" + name + "'");
}

LossAggregation parse_loss_aggregation(const std::string& name) {
  if (name == "seq-mean-token-mean") return LossAggregation::kSeqMeanTokenMean;
  if (name == "token-mean") return LossAggregation::kTokenMean;
  if (name == "seq-mean-token-sum-norm") return LossAggregation::kSeqMeanTokenSumNorm;
  throw ConfigError("loss aggregation: expected seq-mean-token-mean, token-mean or seq-mean-token-sum-norm, got '" +
                    name + "'");
}

ImportanceLevel parse_importance_level(const std::string& name) {
  if (name == "none") return ImportanceLevel::kNone;
  if (name == "token") return ImportanceLevel::kToken;
  if (name == "sequence") return ImportanceLevel::kSequence;
  throw ConfigError("importance sampling level: expected none, token or sequence, got '" + name + "'");
}

OptimConfig OptimConfig::read(ConfigReader& r, OptimConfig d) {
  d.lr = r.get("lr", d.lr);
  d.min_lr_ratio = r.get("min_lr_ratio", d.min_lr_ratio);
  d.schedule = parse_lr_schedule(r.get_choice("schedule", name(d.schedule), {"constant", "cosine", "linear"}), r.key_path("schedule"));
  d.warmup_steps = r.get("warmup_steps", d.warmup_steps);
  if (r.has("betas")) {
    const nlohmann::json* b = r.raw("betas");
    if (!b->is_array() || b->size() != 2 || !(*b)[0].is_number() || !(*b)[1].is_number())
      throw ConfigError(r.key_path("betas") + ": expected [beta1, beta2]");
    d.beta1 = (*b)[0].get<double>();
    d.beta2 = (*b)[1].get<double>();
  }
  d.eps = r.get("eps", d.eps);
  d.weight_decay = r.get("weight_decay", d.weight_decay);
  d.max_grad_norm = r.get("max_grad_norm", d.max_grad_norm);
  d.zero_stage = r.get("zero_stage", d.zero_stage);
  if (d.zero_stage < 0 || d.zero_stage > 2)
    throw ConfigError(r.key_path("zero_stage") + ": 0 (every rank holds AdamW's moments), 1 (the moments partitioned " +
                      "across the ranks) or 2 (the moments and the gradients partitioned)");
  d.overlap_comm = r.get("overlap_comm", d.overlap_comm);
  d.bucket_cap_mb = r.get("bucket_cap_mb", d.bucket_cap_mb);
  if (!(d.bucket_cap_mb > 0) || d.bucket_cap_mb > 1 << 16)
    throw ConfigError(r.key_path("bucket_cap_mb") + ": must be in (0, 65536]");
  if (!(d.lr > 0)) throw ConfigError(r.key_path("lr") + ": must be > 0");
  if (d.warmup_steps < 0) throw ConfigError(r.key_path("warmup_steps") + ": must be >= 0");
  if (d.min_lr_ratio < 0 || d.min_lr_ratio > 1) throw ConfigError(r.key_path("min_lr_ratio") + ": must be in [0, 1]");
  if (d.beta1 < 0 || d.beta1 >= 1 || d.beta2 < 0 || d.beta2 >= 1) throw ConfigError(r.key_path("betas") + ": each must be in [0, 1)");
  return d;
}


namespace {

// How groups are sampled, scored into advantages and turned into the loss (docs/recipes.md, "grpo").
void read_objective(ConfigReader& r, GrpoConfig& c) {
  {
    ConfigReader s = r.child("sampling");
    SamplingSettings read = SamplingSettings::read(s, {c.temperature, c.top_p, c.max_new_tokens});
    c.temperature = read.temperature, c.top_p = read.top_p, c.max_new_tokens = read.max_new_tokens;
    s.finish();
  }
  {
    ConfigReader a = r.child("advantage");
    c.scale = parse_advantage_scale(a.get_choice("scale", "group", {"group", "batch", "none"}));
    c.advantage_eps = a.get("eps", c.advantage_eps);
    a.finish();
  }
  c.dynamic_sampling = r.get("dynamic_sampling", c.dynamic_sampling);
  c.max_refill_rounds = r.get("max_refill_rounds", c.max_refill_rounds);
  c.mask_truncated = r.get("mask_truncated", c.mask_truncated);
  {
    ConfigReader k = r.child("clip");
    c.loss.clip_low = k.get("low", c.loss.clip_low);
    c.loss.clip_high = k.get("high", c.loss.clip_low);
    k.finish();
  }
  c.loss.aggregation = parse_loss_aggregation(r.get_choice(
      "loss_aggregation", "seq-mean-token-mean", {"seq-mean-token-mean", "token-mean", "seq-mean-token-sum-norm"}));
  {
    ConfigReader k = r.child("kl");
    c.loss.beta = k.get("beta", c.loss.beta);
    c.reference_reset_every = k.get("reference_reset_every", c.reference_reset_every);
    k.finish();
  }
  {
    ConfigReader k = r.child("importance_sampling");
    c.loss.importance = parse_importance_level(k.get_choice("level", "token", {"none", "token", "sequence"}));
    c.loss.importance_cap = k.get("cap", c.loss.importance_cap);
    k.finish();
  }
}

// The rule rewards, and DeepSeek-R1's stage-4 preference score added to them.
void read_rewards(ConfigReader& r, GrpoConfig& c) {
  if (const nlohmann::json* rw = r.raw("rewards")) c.rewards = rewards::RewardSet::current_spelling(*rw, r.key_path("rewards"));
  else throw ConfigError(r.key_path("rewards") + ": required ([{\"kind\": \"math\", \"name\": \"accuracy\"}, ...])");
  {
    // DeepSeek-R1's stage 4: a preference score from a remote reward service (a reward model behind
    // `r1 reward-server` or any server of proto/reward.proto), added to the rule rewards with its own
    // weight. Off while "address" is empty.
    ConfigReader p = r.child("preference");
    const std::string address = p.get("address", std::string());
    const double weight = p.get("weight", 0.5);
    const std::string token = p.get("token", std::string());
    const int64_t budget = p.get("time_budget_ms", static_cast<int64_t>(5000));
    p.finish();
    if (!address.empty()) {
      nlohmann::json entry = {{"kind", "remote"}, {"name", "preference"}, {"address", address}, {"weight", weight},
                              {"time_budget_ms", budget}};
      if (!token.empty()) entry["token"] = token;
      c.rewards.push_back(entry);  // an array: current_spelling made it one
    }
  }
}

void read_eval(ConfigReader& r, EvalConfig& eval) {
  ConfigReader e = r.child("eval");
  eval.data = e.get("data", eval.data);
  eval.limit = e.get("limit", eval.limit);
  eval.max_new_tokens = e.get("max_new_tokens", eval.max_new_tokens);
  eval.temperature = e.get("temperature", eval.temperature);
  if (!std::isfinite(eval.temperature) || eval.temperature < 0)
    throw ConfigError(e.key_path("temperature") + ": must be a number >= 0 (0: greedy)");
  if (eval.max_new_tokens < 0) throw ConfigError(e.key_path("max_new_tokens") + ": must be >= 0 (0: the training limit)");
  eval.top_p = e.get("top_p", eval.top_p);
  if (!(eval.top_p > 0 && eval.top_p <= 1)) throw ConfigError(e.key_path("top_p") + ": must be in (0, 1]");
  eval.k = e.get("k", eval.k);
  if (eval.k < 1) throw ConfigError(e.key_path("k") + ": must be >= 1 (samples per problem)");
  eval.accuracy = e.get("accuracy_component", eval.accuracy);
  eval.format = e.get("format_component", eval.format);
  eval.tools = e.get("tools", eval.tools);
  eval.reflection_phrases = e.get("reflection_phrases", eval.reflection_phrases);
  check_reflection_phrases(eval.reflection_phrases, e.key_path("reflection_phrases"));
  eval.every = e.get("every", eval.every);
  if (eval.every < 0) throw ConfigError(e.key_path("every") + ": must be >= 0 (steps between held-out evaluations; 0: none between)");
  if (eval.every > 0 && eval.data.empty())
    throw ConfigError(e.key_path("every") + ": held-out evaluations during training need eval.data");
  eval.every_k = e.get("every_k", eval.every_k);
  if (eval.every_k < 1) throw ConfigError(e.key_path("every_k") + ": must be >= 1 (samples per problem between steps)");
  eval.every_limit = e.get("every_limit", eval.every_limit);
  if (eval.every_limit < 0) throw ConfigError(e.key_path("every_limit") + ": must be >= 0 (first N rows; 0: as eval.limit)");
  e.finish();
}

void check(const ConfigReader& r, const GrpoConfig& c) {
  auto positive = [&](const char* key, int64_t v) {
    if (v < 1) throw ConfigError(r.key_path(key) + ": must be >= 1");
  };
  positive("steps", c.steps);
  positive("prompts_per_step", c.prompts_per_step);
  positive("group_size", c.group_size);
  positive("iterations", c.iterations);
  positive("minibatches", c.minibatches);
  positive("micro_batch_tokens", c.micro_batch_tokens);
  if (c.max_new_tokens < 1) throw ConfigError(r.key_path("sampling") + ".max_new_tokens: must be >= 1");
  if (c.group_size < 2) throw ConfigError(r.key_path("group_size") + ": GRPO needs at least 2 samples per prompt");
  if (c.loss.beta < 0) throw ConfigError(r.key_path("kl") + ".beta: must be >= 0");
  if (c.loss.importance_cap <= 0) throw ConfigError(r.key_path("importance_sampling") + ".cap: must be > 0");
  if (c.loss.clip_low < 0 || c.loss.clip_low >= 1 || c.loss.clip_high < 0)
    throw ConfigError(r.key_path("clip") + ": low must be in [0, 1) and high >= 0");
  // With LoRA the reference policy is the base with the adapter switched off: it cannot be reset to
  // the policy without merging the adapter into the base.
  if (c.lora.enabled && c.reference_reset_every > 0)
    throw ConfigError(r.key_path("kl") +
                      ".reference_reset_every: not available with a lora block (the reference policy is the base model "
                      "with the adapter off); set it to 0");
}

}  // namespace

GrpoConfig GrpoConfig::read(ConfigReader& r) {
  GrpoConfig c;
  c.model = r.require_string("model");
  c.train_data = r.require_string("train");
  c.prompt_template = r.get("template", c.prompt_template);
  c.skip_bad_lines = r.get_choice("on_bad_line", "stop", {"stop", "skip"}) == "skip";
  c.target_language = r.get("target_language", c.target_language);
  c.seed = static_cast<uint64_t>(r.get("seed", static_cast<int64_t>(c.seed)));
  c.steps = r.get("steps", c.steps);
  c.prompts_per_step = r.get("prompts_per_step", c.prompts_per_step);
  c.group_size = r.get("group_size", c.group_size);
  c.iterations = r.get("iterations", c.iterations);
  c.minibatches = r.get("minibatches", c.minibatches);
  read_objective(r, c);
  {
    ConfigReader o = r.child("optim");
    c.optim = OptimConfig::read(o, c.optim);
    o.finish();
  }
  c.micro_batch_tokens = r.get("micro_batch_tokens", c.micro_batch_tokens);
  c.device = read_device(r);
  c.device_key = r.key_path("device");
  c.compute_dtype = parse_compute_dtype(r.get_choice("compute_dtype", name(c.compute_dtype), {"auto", "fp32", "bf16"}),
                                        r.key_path("compute_dtype"));
  c.activation_checkpointing = r.get("activation_checkpointing", c.activation_checkpointing);
  c.lora = StageLora::read(r);
  read_rewards(r, c);
  if (const nlohmann::json* t = r.raw("tools")) c.tools = read_stage_tools(*t, r.key_path("tools"), c.prompt_template);
  c.reward_threads = r.get("reward_threads", c.reward_threads);
  c.reflection_phrases = r.get("reflection_phrases", c.reflection_phrases);
  check_reflection_phrases(c.reflection_phrases, r.key_path("reflection_phrases"));
  {
    ConfigReader w = r.child("rollout");
    c.rollout = RolloutConfig::read(w, c.device);
    w.finish();
  }
  {
    ConfigReader k = r.child("checkpoint");
    c.save_every = k.get("every", c.save_every);
    c.keep_last = k.get("keep_last", c.keep_last);
    k.finish();
  }
  read_eval(r, c.eval);
  // One list for both: the held-out evaluations count the steps' phrases unless eval names its own.
  if (c.eval.reflection_phrases.empty()) c.eval.reflection_phrases = c.reflection_phrases;
  check(r, c);
  return c;
}

}  // namespace r1::run

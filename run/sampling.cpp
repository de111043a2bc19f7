// Scored groups from the rollout workers: see sampling.h.
#include "run/sampling.h"

#include <cmath>

#include <chrono>
#include <cstdlib>

#include "core/config.h"
#include "core/error.h"
#include "tools/tool_config.h"

namespace r1::run {

SamplingSettings SamplingSettings::read(ConfigReader& s, SamplingSettings d) {
  d.temperature = s.get("temperature", d.temperature);
  d.top_p = s.get("top_p", d.top_p);
  d.max_new_tokens = s.get("max_new_tokens", d.max_new_tokens);
  if (!std::isfinite(d.temperature) || d.temperature < 0)
    throw ConfigError(s.key_path("temperature") + ": must be a number >= 0 (0: greedy)");
  if (!(d.top_p > 0 && d.top_p <= 1)) throw ConfigError(s.key_path("top_p") + ": must be in (0, 1]");
  if (d.max_new_tokens < 1) throw ConfigError(s.key_path("max_new_tokens") + ": must be >= 1");
  return d;
}

RolloutConfig RolloutConfig::read(ConfigReader& w, DeviceChoice device) {
  RolloutConfig c;
  c.device = w.has("device") ? read_device(w) : device;
  c.workers = w.get("workers", c.workers);
  c.addresses = w.get("addresses", c.addresses);
  c.precision = parse_weight_precision(w.get_choice("precision", name(c.precision), {"fp8", "bf16", "fp32"}), w.key_path("precision"));
  c.kv_cache_mb = w.get("kv_cache_mb", c.kv_cache_mb);
  c.kv_cache_fraction = w.get("kv_cache_fraction", c.kv_cache_fraction);
  if (c.kv_cache_fraction < 0 || c.kv_cache_fraction > 0.95)
    throw ConfigError(w.key_path("kv_cache_fraction") + ": must be in [0, 0.95] (0: kv_cache_mb)");
  c.threads_per_worker = w.get("threads_per_worker", c.threads_per_worker);
  c.max_staleness = w.get("max_staleness", c.max_staleness);
  c.group_timeout_s = w.get("group_timeout_s", c.group_timeout_s);
  c.stall_s = w.get("stall_s", c.stall_s);
  if (!(c.stall_s > 0)) throw ConfigError(w.key_path("stall_s") + ": must be > 0 (seconds)");
  c.colocate = w.get("colocate", c.colocate);
  c.weight_deltas = w.get("weight_deltas", c.weight_deltas);
  c.lora_apply = w.get_choice("lora_apply", c.lora_apply, {"auto", "merged", "unmerged"});
  c.workers_on_every_node = w.get("workers_on_every_node", c.workers_on_every_node);
  const char* env = std::getenv("R1_ROLLOUT_TOKEN");
  c.token = w.get("token", std::string(env ? env : ""));
  if (c.max_staleness < 0 || c.max_staleness > 1)
    throw ConfigError(w.key_path("max_staleness") + ": must be 0 (on-policy) or 1 (one step off-policy)");
  if (c.addresses.empty() && c.workers < 1) throw ConfigError(w.key_path("workers") + ": must be >= 1");
  if (c.colocate && !c.addresses.empty())
    throw ConfigError(w.key_path("colocate") + ": a colocated engine and remote workers (addresses) exclude each other");
  return c;
}

rollout::ClientOptions RolloutConfig::client_options(const std::string& r1_binary, const std::string& model_dir,
                                                     int64_t max_n, uint64_t version) const {
  rollout::ClientOptions co;
  co.addresses = addresses;
  co.token = token;
  co.group_timeout_s = group_timeout_s;
  co.stall_s = stall_s;
  // fp32 workers get fp32 weights, so they compute exactly what a worker loading the checkpoint would.
  co.weights_as_f32 = precision == WeightPrecision::kFp32;
  co.weight_deltas = weight_deltas;
  if (co.addresses.empty()) {
    co.local.r1_binary = r1_binary;
    co.local.count = workers;
    rollout::WorkerOptions& w = co.local.worker;
    w.model_dir = model_dir;
    w.precision = precision;
    w.kv_cache_mb = kv_cache_mb;
    w.kv_cache_fraction = kv_cache_fraction;
    w.max_n = std::max<int64_t>(max_n, 64);
    w.version = version;
    w.threads = threads_per_worker;
    w.device = device;
    w.lora_apply = lora_apply;
  }
  return co;
}


Sampler::Sampler(rollout::GroupGenerator& client, const Tokenizer& tokenizer, const std::string& prompt_template,
                 std::shared_ptr<const rewards::BatchScorer> scorer, std::string target_language,
                 const std::vector<int64_t>& model_eos_ids)
    : client_(client),
      tokenizer_(tokenizer),
      renderer_(tokenizer, prompt_template),
      scorer_(std::move(scorer)),
      target_language_(std::move(target_language)) {
  stop_ids_ = stop_token_ids(tokenizer, &renderer_.chat_template(), model_eos_ids);
}

PromptRenderer::PromptRenderer(const Tokenizer& tokenizer, const std::string& prompt_template)
    : tokenizer_(tokenizer),
      template_(prompt_template.empty() ? ChatTemplate::detect(tokenizer) : ChatTemplate::resolve(prompt_template, &tokenizer)) {}

std::string PromptRenderer::text(const PromptRow& r) const {
  std::vector<ChatMessage> messages;
  if (!r.prompt.empty())
    messages.push_back({"user", r.prompt, std::nullopt});
  else
    messages = parse_messages(r.messages, "line " + std::to_string(r.line));
  return template_.render(messages, options_);
}

bool PromptRenderer::set_tools(const nlohmann::json& schemas) {
  // Named templates render no tool list (they would refuse one); a Jinja template lists them as the
  // model's own template does.
  if (!template_.is_jinja() || schemas == tools_) return false;
  tools_ = schemas;
  options_.tools = schemas.is_array() && !schemas.empty() ? jinja::Value::from_json(schemas) : jinja::Value();
  return true;
}

void ToolShaping::apply(rewards::Score& score, const rollout::ToolStats& tools) const {
  if (failed_call_penalty == 0 && call_cap == 0) return;
  double penalty = failed_call_penalty * static_cast<double>(tools.errors);
  if (call_cap > 0 && tools.calls > call_cap) penalty += std::max(0.0, score.value - penalty);
  score.value -= penalty;
  score.components["tool_penalty"] = -penalty;
}

nlohmann::json read_stage_tools(const nlohmann::json& tools, const std::string& where, const std::string& prompt_template) {
  if (!tools.is_object()) throw ConfigError(where + ": expected an object (docs/tools.md)");
  nlohmann::json out = tools;
  if (!out.contains("template")) out["template"] = prompt_template.empty() ? "auto" : prompt_template;
  tools::read_tool_config(out, where);  // every key checked now, before anything starts
  return out;
}

ToolShaping tool_shaping(const nlohmann::json& tools) {
  const tools::ToolConfig c = tools::read_tool_config(tools);
  return {c.failed_call_penalty, c.call_cap};
}

nlohmann::json tool_schemas(const nlohmann::json& tools) { return tools::read_tool_config(tools).schemas(); }

void Sampler::set_tools(std::string config, ToolShaping shaping, const nlohmann::json& schemas) {
  tools_config_ = std::move(config);
  shaping_ = shaping;
  if (renderer_.set_tools(schemas))
    rendering_ = renderings_.emplace(schemas.dump(), static_cast<int>(renderings_.size()) + 1).first->second;
}

const std::vector<int64_t>& Sampler::prompt_ids(const PromptDataset& data, size_t row) {
  const PromptKey key{&data, rendering_, row};
  auto it = prompts_.find(key);
  if (it != prompts_.end()) return it->second.second;
  std::string text = renderer_.text(data.row(row));
  std::vector<int32_t> ids32 = tokenizer_.encode(text);
  auto& slot = prompts_[key];
  slot.first = std::move(text);
  slot.second.assign(ids32.begin(), ids32.end());
  return slot.second;
}

size_t check_prompt_lengths(PromptDataset& data, const PromptRenderer& renderer, int64_t context, int64_t max_new_tokens,
                            bool skip_bad_lines) {
  const int64_t room = context - max_new_tokens;
  return data.drop_rows(
      [&](const PromptRow& r) -> std::optional<std::string> {
        const auto n = static_cast<int64_t>(renderer.length(r));
        if (n <= room) return std::nullopt;
        return "its prompt is " + std::to_string(n) + " tokens; with max_new_tokens " + std::to_string(max_new_tokens) +
               " it does not fit the model's context of " + std::to_string(context);
      },
      skip_bad_lines);
}

void Sampler::run(const PromptDataset& data, const std::vector<size_t>& rows, const rollout::SamplingParams& params,
                  const std::function<void(size_t, std::vector<ScoredSample>&&)>& on_group, double* score_seconds) {
  std::vector<rollout::GroupRequest> requests(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    rollout::GroupRequest& req = requests[k];
    req.id = "row-" + std::to_string(rows[k]);
    req.prompt = prompt_ids(data, rows[k]);
    req.params = params;
    req.params.seed = params.seed + k;
    req.params.stop_token_ids = stop_ids_;
    req.tools.config = tools_config_;
  }
  client_.generate(requests, [&](rollout::GroupResult&& g) {
    const size_t row = rows[g.index];
    const PromptRow& r = data.row(row);
    const auto& cached = prompts_.at(PromptKey{&data, rendering_, row});
    std::vector<ScoredSample> group(g.completions.size());
    std::vector<rewards::Sample> samples(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      rollout::Completion& c = g.completions[i];
      ScoredSample& s = group[i];
      s.row = row;
      s.index = static_cast<int>(c.index);
      s.prompt = cached.first;
      s.prompt_ids = &cached.second;
      s.ids = std::move(c.ids);
      s.logprobs = std::move(c.logprobs);
      s.text = std::move(c.text);
      s.truncated = c.finish_reason == rollout::FinishReason::kLength;
      s.tool_limit = c.finish_reason == rollout::FinishReason::kToolLimit;
      s.sampled = std::move(c.sampled);
      s.tools = c.tools;
      s.version = c.policy_version;
      rewards::Sample& x = samples[i];
      x.prompt = r.prompt.empty() ? cached.first : r.prompt;
      x.completion = s.text;
      x.reference = r.reference;
      x.target_language = r.reference.value("target_language", target_language_);
      x.completion_tokens = static_cast<int64_t>(s.ids.size());
      x.truncated = s.truncated;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<rewards::Score> scores = scorer_->score(samples);
    if (score_seconds) *score_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = 0; i < group.size(); ++i) {
      group[i].score = std::move(scores[i]);
      if (!tools_config_.empty()) shaping_.apply(group[i].score, group[i].tools);
    }
    on_group(g.index, std::move(group));
  });
}

}  // namespace r1::run

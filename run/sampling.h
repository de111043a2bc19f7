// Groups of scored completions from the rollout workers: the prompt rendered and tokenized, the
// group generated (rollout/client.h), each completion scored by the rewards as its group arrives.
// The GRPO loop, evaluation and rejection sampling all draw samples through here. No LibTorch.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "rewards/scorer.h"
#include "rollout/client.h"
#include "run/dataset.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

// The "sampling" object of a stage that samples (grpo, rejection-sample), checked as a worker checks
// a request, so a bad value stops the recipe check rather than a worker after start-up:
// temperature >= 0 (0: greedy), top_p in (0, 1], max_new_tokens >= 1. Errors name the key.
struct SamplingSettings {
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t max_new_tokens = 1024;

  static SamplingSettings read(ConfigReader& s, SamplingSettings defaults);
};

// Rollout workers of a stage that samples (grpo, rejection-sample, eval).
struct RolloutConfig {
  int workers = 2;                     // local worker processes (ignored when addresses are given)
  std::vector<std::string> addresses;  // remote workers, host:port
  WeightPrecision precision = WeightPrecision::kFp8;
  double kv_cache_mb = 256;
  double kv_cache_fraction = 0;        // > 0: that share of the device's free memory instead
  int threads_per_worker = 1;
  int max_staleness = 0;               // 0: on-policy; 1: generation of step t+1 overlaps the update of step t
  double group_timeout_s = 600;
  double stall_s = 15;                 // a worker holding groups that answers nothing for this long is stalled
  std::string token;                   // shared token for remote workers (default $R1_ROLLOUT_TOKEN)
  DeviceChoice device;                 // where local workers put the model (auto: a GPU when there is one)
  bool colocate = false;               // no workers: an engine in the trainer's process, on its device (grpo)
  bool weight_deltas = true;           // push only the changed elements to workers holding the last update
  std::string lora_apply = "auto";     // a LoRA stage's adapter on local workers: merged | unmerged | auto (inference/lora_apply.h)
  // In a GRPO job spanning several nodes (and no addresses): the first rank of every other node
  // starts `workers` of its own, which join the controller's pool; false: the controller's node only.
  bool workers_on_every_node = true;

  // The "rollout" object of a stage (every key optional; errors name the key); `device` is the
  // stage's, which local workers use unless the object names its own.
  static RolloutConfig read(ConfigReader& r, DeviceChoice device = {});
  // Client options: local workers started from `r1_binary` serving `model_dir` at `version`, or the
  // remote addresses (which must serve the same weights).
  rollout::ClientOptions client_options(const std::string& r1_binary, const std::string& model_dir, int64_t max_n,
                                        uint64_t version) const;
};


// A dataset row's prompt as the model sees it: a "prompt" string as the user's turn, or the row's
// "messages", through the recipe's template (a name or file; "" = the tokenizer's own).
class PromptRenderer {
 public:
  PromptRenderer(const Tokenizer& tokenizer, const std::string& prompt_template);
  std::string text(const PromptRow& row) const;  // throws ConfigError for messages it cannot render
  // Tool schemas every prompt lists (ChatOptions::tools), for templates that take them (Jinja);
  // returns whether the rendering changed.
  bool set_tools(const nlohmann::json& schemas);
  size_t length(const PromptRow& row) const { return tokenizer_.encode(text(row)).size(); }
  const ChatTemplate& chat_template() const { return template_; }

 private:
  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  ChatOptions options_;
  nlohmann::json tools_;  // the schemas options_ holds
};

// Reward shaping from a trajectory's tool use ("tools" object: failed_call_penalty, call_cap): each
// call answered with an error costs `failed_call_penalty`; a trajectory making more than `call_cap`
// calls (0: no cap) scores at most 0. Logged as the "tool_penalty" component.
struct ToolShaping {
  double failed_call_penalty = 0;
  int64_t call_cap = 0;
  // The shaped reward of a trajectory scored `value` (adds the component to `score`).
  void apply(rewards::Score& score, const rollout::ToolStats& tools) const;
};

// A stage's "tools" object, checked (tools/tool_config.h; errors name `where`'s keys), with the
// stage's chat template as its "template" unless it names one: what travels with each group.
nlohmann::json read_stage_tools(const nlohmann::json& tools, const std::string& where, const std::string& prompt_template);
// The reward shaping and the tools' function schemas of a checked "tools" object.
ToolShaping tool_shaping(const nlohmann::json& tools);
nlohmann::json tool_schemas(const nlohmann::json& tools);

struct ScoredSample {
  size_t row = 0;                   // in the dataset
  int index = 0;                    // within its group
  std::string prompt;               // rendered
  const std::vector<int64_t>* prompt_ids = nullptr;  // owned by the Sampler's cache
  std::vector<int64_t> ids;         // the completion's tokens (a stop token included)
  std::vector<float> logprobs;      // as the worker sampled them
  std::string text;
  bool truncated = false;           // hit max_new_tokens
  // With tools (rollout/tools.h): 1 where the model sampled the token, 0 where a tool message was
  // appended (context: no loss, no importance weight); empty when every token was sampled. The
  // trajectory's tool counts, and whether it ended at a bound on calls, turns or time.
  std::vector<uint8_t> sampled;
  rollout::ToolStats tools;
  bool tool_limit = false;
  uint64_t version = 0;             // policy version that produced it
  rewards::Score score;
  double advantage = 0;
};

class Sampler {
 public:
  Sampler(rollout::GroupGenerator& client, const Tokenizer& tokenizer, const std::string& prompt_template,
          std::shared_ptr<const rewards::BatchScorer> scorer, std::string target_language,
          const std::vector<int64_t>& model_eos_ids);  // checkpoint/config.h: read_eos_token_ids(model dir)

  const rewards::BatchScorer& scorer() const { return *scorer_; }

  // Multi-turn trajectories with tools: `config` (the stage's "tools" object as JSON text, the chat
  // template filled in; "" turns tools off) travels with every group, and `shaping` adjusts each
  // trajectory's reward by what it did with them. Prompts list `schemas` (the tools' function
  // schemas) through a Jinja chat template; named templates (r1-zero, chatml, ...) list none. Not
  // while run() is in flight on another thread; ScoredSamples already held stay valid.
  void set_tools(std::string config, ToolShaping shaping, const nlohmann::json& schemas);
  bool uses_tools() const { return !tools_config_.empty(); }

  // Token ids of a dataset row's rendered prompt (cached per row).
  const std::vector<int64_t>& prompt_ids(const PromptDataset& data, size_t row);

  // One group of params.n samples per row, scored; on_group runs on the calling thread as each group
  // completes (groups in finishing order; `k` is the group's place in `rows`). Group k samples with
  // seed params.seed + k; the stop ids are the Sampler's (tokenizer/chat_template.h's rule) and
  // replace params.stop_token_ids. Adds the time spent scoring to *score_seconds.
  void run(const PromptDataset& data, const std::vector<size_t>& rows, const rollout::SamplingParams& params,
           const std::function<void(size_t k, std::vector<ScoredSample>&&)>& on_group, double* score_seconds);

 private:
  rollout::GroupGenerator& client_;
  const Tokenizer& tokenizer_;
  PromptRenderer renderer_;
  std::shared_ptr<const rewards::BatchScorer> scorer_;
  std::string target_language_;
  std::vector<int64_t> stop_ids_;
  std::string tools_config_;
  ToolShaping shaping_;
  // Rendered prompts and their ids, per dataset (a GRPO stage samples its training set and its
  // held-out set through one Sampler; both outlive it), rendering (which tool schemas the prompts
  // list: a set_tools that changes the prompts switches to another, and keeps the entries, which
  // ScoredSamples may still point into) and row.
  using PromptKey = std::tuple<const PromptDataset*, int, size_t>;
  std::map<PromptKey, std::pair<std::string, std::vector<int64_t>>> prompts_;
  std::map<std::string, int> renderings_;  // tool schemas (JSON text) -> rendering
  int rendering_ = 0;                      // 0: as constructed
};

// Leaves out (skip_bad_lines: counted, logged once) or refuses (naming the line) every row whose
// rendered prompt leaves fewer than `max_new_tokens` of the model's `context`, which a worker would
// refuse only once the row is drawn, ending the run. Returns how many rows it left out.
size_t check_prompt_lengths(PromptDataset& data, const PromptRenderer& renderer, int64_t context, int64_t max_new_tokens,
                            bool skip_bad_lines);


}  // namespace r1::run

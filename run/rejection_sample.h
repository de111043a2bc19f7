// The `rejection-sample` recipe stage (DeepSeek-R1's stage 3, no LibTorch): k completions per prompt
// from a model through the rollout workers, scored by the stage's rewards, filtered for correctness
// and readability (rejection_filters.h), deduplicated, at most `keep_per_prompt` kept per prompt, then mixed
// with non-reasoning rows passed through from a dataset. The result is an SFT set.
//
// With a "tools" object (as a grpo stage's), samples are multi-turn trajectories with tool calls
// (rollout/tools.h); a kept one that called a tool becomes a trajectory row: its prompt, then its
// segments (run/trajectory.h), the model's turns trained and the tool messages context only.
//
// Run folder:
//   sft.jsonl        {"messages": [{"role": "user", ...}, {"role": "assistant", ...}], "source": "rejection" |
//                    "passthrough", ...} — the `sft` stage's input (`@stage/sft.jsonl`); a kept tool
//                    trajectory: {"prompt": "..." | "messages": [...], "segments": [{"text", "train"}, ...],
//                    "source": "rejection", ...}
//   samples.jsonl    every sample: prompt, completion, reward components, kept or the reason it was not;
//                    with tools, its tool counts ("tools": turns, calls, errors, tool_tokens, tool_seconds, limit)
//   summary.json     prompts, samples, kept, passthrough rows, rejections by reason, acceptance rate
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "rewards/reward_set.h"
#include "run/rejection_filters.h"
#include "run/sampling.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

struct RejectionSampleConfig {
  std::string model;                   // the model to sample from (Hugging Face layout)
  std::string prompts;                 // JSON-lines prompt rows (as for grpo: prompt or messages, plus answers)
  std::string prompt_template = "r1-zero";
  bool skip_bad_lines = false;
  std::string target_language = "en";
  int64_t limit = 0;                   // first N prompts (0: all)
  int64_t samples_per_prompt = 4;      // k
  int64_t keep_per_prompt = 1;         // at most this many kept per prompt
  double temperature = 0.7, top_p = 1.0;
  int64_t max_new_tokens = 1024;
  nlohmann::json rewards;              // a RewardSet config; `accuracy` names the component that says correct
  std::string accuracy = "accuracy";
  RejectionFilters filters;
  std::string passthrough;             // JSON lines of non-reasoning SFT rows, copied in ("" = none)
  int64_t passthrough_limit = 0;       // first N of them (0: all)
  RolloutConfig rollout;
  uint64_t seed = 1;
  nlohmann::json tools;                // the "tools" object, checked, its template filled in (null: no tools)

  static RejectionSampleConfig read(ConfigReader& r);
};

struct RejectionSampleResult {
  int64_t prompts = 0, samples = 0, kept = 0, passthrough = 0;
  nlohmann::json reasons = nlohmann::json::object();  // rejections by reason
};

// A kept sample as an SFT row (the row's reference fields copied in): {"messages": [the prompt's turns,
// the completion as the assistant's]} when every token was sampled; a trajectory with appended tool
// messages as {"prompt" or "messages", "segments"}, its segments decoded with `tokenizer`.
nlohmann::json rejection_sft_row(const PromptRow& row, const ScoredSample& sample, const Tokenizer& tokenizer);

// `r1_binary` starts the rollout workers; `services` are what the rewards use from outside.
RejectionSampleResult run_rejection_sample(const RejectionSampleConfig& config, const std::string& run_dir,
                                           const std::string& r1_binary, const rewards::RewardServices& services = {});

}  // namespace r1::run

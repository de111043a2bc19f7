// Groups of scored completions from the rollout workers: the prompt rendered and tokenized, the
// group generated (rollout/client.h), each completion scored by the rewards as its group arrives.
// The GRPO loop, evaluation and rejection sampling all draw samples through here. No LibTorch.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "rewards/scorer.h"
#include "rollout/client.h"
#include "trainer/dataset.h"

namespace r1::trainer {

struct ScoredSample {
  size_t row = 0;                   // in the dataset
  int index = 0;                    // within its group
  std::string prompt;               // rendered
  const std::vector<int64_t>* prompt_ids = nullptr;  // owned by the Sampler's cache
  std::vector<int64_t> ids;         // the completion's tokens (a stop token included)
  std::vector<float> logprobs;      // as the worker sampled them
  std::string text;
  bool truncated = false;           // hit max_new_tokens
  uint64_t version = 0;             // policy version that produced it
  rewards::Score score;
  double advantage = 0;
};

struct SamplingSpec {
  int64_t n = 1, max_new_tokens = 256;
  double temperature = 1.0, top_p = 1.0;
  uint64_t seed = 0;                // group k gets seed + k
};

class Sampler {
 public:
  Sampler(rollout::RolloutClient& client, const Tokenizer& tokenizer, const std::string& prompt_template,
          std::shared_ptr<const rewards::BatchScorer> scorer, std::string target_language);

  // Token ids of a dataset row's rendered prompt (cached per row).
  const std::vector<int64_t>& prompt_ids(const PromptDataset& data, size_t row);

  // One group of spec.n samples per row, scored; on_group runs on the calling thread as each group
  // completes (groups in finishing order; `k` is the group's place in `rows`). Adds the time spent
  // scoring to *score_seconds.
  void run(const PromptDataset& data, const std::vector<size_t>& rows, const SamplingSpec& spec,
           const std::function<void(size_t k, std::vector<ScoredSample>&&)>& on_group, double* score_seconds);

 private:
  rollout::RolloutClient& client_;
  const Tokenizer& tokenizer_;
  std::optional<ChatTemplate> template_;
  std::shared_ptr<const rewards::BatchScorer> scorer_;
  std::string target_language_;
  std::vector<int64_t> stop_ids_;
  std::map<size_t, std::pair<std::string, std::vector<int64_t>>> prompts_;
};

}  // namespace r1::trainer

// Batched sampling from the transformer: temperature, top-k, top-p, min-p or greedy; a seed per
// request, so every sample replays exactly whatever else shares its batch; stop token ids and stop
// strings; a token budget. The n samples of one prompt share its prefill (the KV cache is forked).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "inference/sampling.h"
#include "model/transformer.h"
#include "rollout/group.h"

namespace r1 {
class Tokenizer;
}

namespace r1::inference {

// The request, its parameters and the completions are the rollout seam's types (rollout/group.h): the
// worker hands what it received to the engine as it is.
using rollout::Completion;
using rollout::FinishReason;
using rollout::GroupRequest;
using rollout::SamplingParams;

struct GenerateOptions {
  const Tokenizer* tokenizer = nullptr;  // for stop strings and `text`
  // Called for every sample at every step with (request, sample, text that became complete: empty
  // without a tokenizer or mid-character); returning false aborts every unfinished sample (finish
  // reason "abort").
  std::function<bool(size_t request, int64_t sample, const std::string& piece)> on_text;
};

// Completions per request (params.n each), in order.
std::vector<std::vector<Completion>> generate(const model::Transformer& model, const std::vector<GroupRequest>& requests,
                                              const GenerateOptions& options = {});

}  // namespace r1::inference

// Batched sampling from the transformer: temperature, top-k, top-p, min-p or greedy; a seed per
// request, so every sample replays exactly whatever else shares its batch; stop token ids and stop
// strings; a token budget. The n samples of one prompt share its prefill (the KV cache is forked).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/transformer.h"

namespace r1 {
class Tokenizer;
}

namespace r1::model {

struct SamplingParams {
  double temperature = 1.0;  // 0: greedy
  double top_p = 1.0;        // keep the smallest set of tokens whose probability reaches top_p
  int64_t top_k = 0;         // 0: all tokens
  double min_p = 0.0;        // drop tokens below min_p × the most likely token's probability
  int64_t max_new_tokens = 256;
  std::vector<int64_t> stop_token_ids;
  std::vector<std::string> stop_strings;  // need a tokenizer
  uint64_t seed = 0;
  int64_t n = 1;  // samples of this prompt
};

struct GenerationRequest {
  std::vector<int64_t> prompt;
  SamplingParams params;
};

struct Completion {
  std::vector<int64_t> ids;       // the sampled tokens (a stop token included, as it was sampled)
  std::vector<float> logprobs;    // log-probability of each under the distribution it was sampled from
  std::string finish_reason;      // "stop", "length" or "abort"
  std::string text;               // decoded, cut before a stop string (when a tokenizer was given)
};

struct GenerateOptions {
  const Tokenizer* tokenizer = nullptr;  // for stop strings and `text`
  // Called for every sample at every step with (request, sample, text that became complete: empty
  // without a tokenizer or mid-character); returning false aborts every unfinished sample (finish
  // reason "abort").
  std::function<bool(size_t request, int64_t sample, const std::string& piece)> on_text;
};

// Completions per request (params.n each), in order.
std::vector<std::vector<Completion>> generate(const Transformer& model, const std::vector<GenerationRequest>& requests,
                                              const GenerateOptions& options = {});

// The distribution a token is drawn from (fp32 probabilities over the vocabulary) after temperature,
// top-k, top-p and min-p; greedy puts all mass on the arg max. Exposed for tests.
at::Tensor sampling_distribution(const at::Tensor& logits, const SamplingParams& params);

}  // namespace r1::model

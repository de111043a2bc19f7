// Drawing the next token of many sequences at once, on the model's device, with one host
// synchronisation per call (the chosen ids and their log-probabilities come back together).
//
// Each row has its own SamplingParams (temperature, top-k, top-p, min-p; temperature 0: greedy) and
// its own random stream: row r's draw is a function of its key alone (the engine derives the key from
// the request's seed, the sample's index and the step), so a sample replays exactly whatever else
// shares its batch, on any device. A row draws by inverting its cumulative distribution at one uniform
// number u = hash(key) in (0, 1):
//     token = the first j with  p_0 + ... + p_j > u * (p_0 + ... + p_{V-1}),
// which picks j with probability p_j (as torch.multinomial does on one row) and never a token of
// probability 0; one cumulative sum and one binary search per row, both batched.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "rollout/group.h"

namespace r1::inference {

struct Draw {
  std::vector<int64_t> tokens;    // per row
  std::vector<float> logprobs;    // log p(token) under the row's sampling distribution
};

// The distributions tokens are drawn from: fp32 probabilities [R, V] of logits [R, V] after each row's
// temperature, top-k (ties at the k-th value kept, as Hugging Face does), top-p over what top-k kept,
// and min-p; greedy rows put all mass on their arg max.
at::Tensor sampling_distributions(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params);
// One row's: logits [V].
at::Tensor sampling_distribution(const at::Tensor& logits, const rollout::SamplingParams& params);

// The uniform number in (0, 1) of a row's key: splitmix64's finaliser, its top 24 bits.
float uniform_of_key(uint64_t key);

// Draws one token per row of logits [R, V]; keys[r] is row r's stream for this step.
Draw draw_tokens(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params,
                 const std::vector<uint64_t>& keys);

}  // namespace r1::inference

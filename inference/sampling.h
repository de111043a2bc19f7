// Drawing the next token of many sequences at once, on the model's device, with one host
// synchronisation per call (the chosen ids and their log-probabilities come back together).
//
// Each row has its own SamplingParams (temperature, top-k, top-p, min-p; temperature 0: greedy) and
// its own random stream: the noise of row r is a function of its key alone (the engine derives the key
// from the request's seed, the sample's index and the step), so a sample replays exactly whatever
// else shares its batch, on any device. A row draws by the exponential race
//     token = argmax_j p_j / E_j,   E_j = -log u_j,   u_j = hash(key, j) in (0, 1),
// which picks j with probability p_j (the E_j are independent Exp(1)), as torch.multinomial on one
// row would, and needs no sort or cumulative sum.
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

// Uniform numbers in (0, 1), [R, V] on keys' device, from 64-bit keys [R] (int64): splitmix64 of
// key + j * golden ratio, the top 24 bits. The same keys give the same numbers on every device.
at::Tensor uniform_noise(const at::Tensor& keys, int64_t vocab);
// The same number for one (key, j), computed on the host: the reference the tensor version is tested on.
float uniform_noise_at(uint64_t key, int64_t j);

// Draws one token per row of logits [R, V]; keys[r] is row r's stream for this step.
Draw draw_tokens(const at::Tensor& logits, const std::vector<const rollout::SamplingParams*>& params,
                 const std::vector<uint64_t>& keys);

}  // namespace r1::inference

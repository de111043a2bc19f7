// Scoring completions under a model: the log-probabilities the trainer computes for the tokens a
// rollout worker sampled, in micro-batches under a token budget.
//
// A micro-batch holds whole sequences (prompt + completion), right-padded to its longest; causal
// attention means the padding after a sequence never changes it. Only the completion positions get
// the vocabulary-wide projection (Transformer::token_logprobs on the gathered hidden states), so a
// long prompt costs its share of the transformer, not of the output head.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "model/transformer.h"

namespace r1::trainer {

struct TokenSequence {
  std::vector<int64_t> prompt, completion;
  // 1 where the model sampled the completion's token, 0 where a tool message put it (rollout/tools.h):
  // those are context only, scored by no one and masked out of the loss. Empty: all sampled.
  std::vector<uint8_t> sampled;
  int64_t size() const { return static_cast<int64_t>(prompt.size() + completion.size()); }
  bool is_sampled(size_t t) const { return sampled.empty() || sampled[t] != 0; }
  int64_t sampled_tokens() const;  // the completion's tokens the loss covers
};

// Indices of `sequences` grouped so that each group's padded size (count × longest) stays within
// `token_budget` (a sequence longer than the budget goes alone). Order is kept.
std::vector<std::vector<size_t>> micro_batches(const std::vector<TokenSequence>& sequences, int64_t token_budget);

struct CompletionScores {
  at::Tensor logprobs;  // [B, L] fp32, L = the longest completion; 0 at padding
  at::Tensor entropy;   // [B, L] fp32
  at::Tensor mask;      // [B, L] fp32: 1 at the completion tokens the model sampled (0 at tool tokens)
};

// Log-probabilities (with gradient when grad mode is on) and entropies of the completions of
// sequences[idx...] under `model`, of the distribution softmax(logits / temperature): the one the
// workers sampled from, so π_θ, π_old and the rollout's log-probs refer to the same tempered
// distribution (as TRL and verl score; at T != 1 the untempered ones would skew the importance
// weights). temperature <= 0 (greedy sampling) scores at 1.
CompletionScores score_completions(const model::Transformer& model, const std::vector<TokenSequence>& sequences,
                                   const std::vector<size_t>& idx, double temperature = 1.0);

// The same tokens laid out [B, L] like score_completions', from per-sequence values (rollout
// log-probs as the workers returned them).
at::Tensor pad_rows(const std::vector<std::vector<float>>& rows, const std::vector<size_t>& idx);

}  // namespace r1::trainer

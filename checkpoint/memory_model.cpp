// The memory a training stage holds, per device: see memory_model.h for the formulas.
#include "checkpoint/memory_model.h"

#include <algorithm>

#include "core/error.h"

namespace r1::checkpoint {
namespace {

int64_t numel(const TensorShape& t) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  return n;
}

bool layer_matrix(const TensorShape& t) { return t.name.rfind("model.layers.", 0) == 0 && t.shape.size() == 2; }

int64_t compute_bytes(const TrainingMemoryOptions& o) { return o.bf16_compute ? 2 : 4; }

// The sequences and tokens of one micro-batch (trainer/logprobs.h's micro_batches: whole sequences,
// padded to the longest, B T <= the budget, one sequence at least).
std::pair<int64_t, int64_t> micro_batch(const TrainingMemoryOptions& o) {
  const int64_t T = std::max<int64_t>(1, o.sequence_tokens);
  const int64_t B = std::max<int64_t>(1, o.micro_batch_tokens / T);
  return {B, B * T};
}

// The share of `total` elements the most loaded rank keeps when whole tensors are spread over `ranks`
// (assign_owners balances by size; no rank holds less than the largest tensor it owns).
int64_t partitioned(int64_t total, int64_t largest, int64_t ranks) {
  if (ranks <= 1) return total;
  return std::min(total, std::max((total + ranks - 1) / ranks, largest));
}

}  // namespace

int64_t lora_parameter_count(const ModelConfig& config, const LoraOptions& options) {
  int64_t n = 0;
  for (const LoraTarget& t : lora_targets(config, options, "lora")) n += options.r * (t.in + t.out);
  return n;
}

int64_t layer_activation_bytes_per_token(const ModelConfig& c, const TrainingMemoryOptions& o) {
  const int64_t H = c.hidden_size, Q = c.q_dim(), K = c.kv_dim(), I = c.intermediate_size;
  const int64_t T = std::max<int64_t>(1, o.sequence_tokens), cb = compute_bytes(o);
  int64_t n = 16 * H;                                              // residual stream and norms
  n += o.bf16_compute ? 3 * 2 * H + 2 * 2 * H + 2 * Q + 2 * I     // each product's own bf16 input
                      : 4 * H + 4 * H + 4 * Q + 4 * I;             // fp32: the inputs themselves
  n += 8 * Q + 8 * K;                                              // rotary: inputs and rotated halves
  if (c.qk_norm) n += 8 * Q + 8 * K;                               // Qwen3's q/k RMSNorm
  n += 4 * Q + 4 * K + 4 * K;                                      // q, k, v as the products read them
  n += 4 * c.num_attention_heads * T;                              // softmax probabilities
  n += 12 * I;                                                     // SwiGLU
  if (o.lora)
    for (const LoraTarget& t : lora_targets(c, o.lora_options, "lora")) {
      if (t.layer != 0) continue;
      const bool dropout = o.lora_options.lora_dropout > 0;
      if (dropout) n += (o.cuda ? 1 : 4) * t.in;                   // the dropout mask
      if (dropout || o.bf16_compute) n += cb * t.in;               // A's input
      n += cb * o.lora_options.r;                                  // B's input
    }
  return n;
}

int64_t layer_weight_copy_bytes(const ModelConfig& c, const TrainingMemoryOptions& o) {
  // A bf16 base is multiplied as it is: no copy.
  if (!o.bf16_compute || (o.lora && o.base_bf16) || c.num_hidden_layers == 0) return 0;
  int64_t n = 0;
  for (const TensorShape& t : checkpoint_tensors(c))
    if (layer_matrix(t)) n += numel(t);
  return 2 * n / c.num_hidden_layers;
}

int64_t rollout_weight_bytes(const ModelConfig& c, WeightPrecision precision) {
  int64_t n = 0;
  for (const TensorShape& t : checkpoint_tensors(c)) {
    switch (precision) {
      case WeightPrecision::kFp32: n += 4 * numel(t); break;
      case WeightPrecision::kBf16: n += 2 * numel(t); break;
      case WeightPrecision::kFp8:  // codes, and an fp32 scale per output row; the rest bf16
        n += layer_matrix(t) ? numel(t) + 4 * t.shape[0] : 2 * numel(t);
        break;
    }
  }
  return n;
}

TrainingMemory estimate_training_memory(const ModelConfig& c, const TrainingMemoryOptions& o) {
  if (o.world_size < 1) throw ConfigError("world size: must be at least 1");
  if (o.zero_stage < 0 || o.zero_stage > 2) throw ConfigError("zero_stage: must be 0, 1 or 2");
  if (o.micro_batch_tokens < 1) throw ConfigError("micro_batch_tokens: must be positive");
  TrainingMemory m;
  const std::vector<TensorShape> tensors = checkpoint_tensors(c);
  int64_t largest = 0;
  for (const TensorShape& t : tensors) {
    m.parameters += numel(t);
    largest = std::max(largest, numel(t));
  }
  if (o.lora) {
    check_lora_options(o.lora_options, "lora");
    largest = 0;
    for (const LoraTarget& t : lora_targets(c, o.lora_options, "lora")) {
      m.trained_parameters += o.lora_options.r * (t.in + t.out);
      largest = std::max({largest, o.lora_options.r * t.in, o.lora_options.r * t.out});
    }
    m.trained_weights = 4 * m.trained_parameters;
    m.frozen_weights = (o.base_bf16 ? 2 : 4) * m.parameters;
  } else {
    m.trained_parameters = m.parameters;
    m.trained_weights = 4 * m.parameters;
    m.reference = o.reference ? 4 * m.parameters : 0;
  }
  const int64_t ranks = o.world_size;
  const int64_t moments_held = o.zero_stage >= 1 ? partitioned(m.trained_parameters, largest, ranks) : m.trained_parameters;
  m.optimizer = 8 * moments_held;
  const int64_t grads_held = o.zero_stage == 2 && o.single_micro_batch ? partitioned(m.trained_parameters, largest, ranks)
                                                                       : m.trained_parameters;
  m.gradients = 4 * grads_held;

  // Activations of one micro-batch.
  const auto [B, N] = micro_batch(o);
  m.micro_batch_sequences = B;
  m.micro_batch_tokens = N;
  const int64_t H = c.hidden_size, L = c.num_hidden_layers, T = std::max<int64_t>(1, o.sequence_tokens);
  const int64_t layer_tok = layer_activation_bytes_per_token(c, o), copies = layer_weight_copy_bytes(c, o);
  const int64_t once_tok = 8 * H + 4 * H + 8 * c.head_dim;  // final norm, scored hidden states, rotary tables
  const int64_t chunk = std::min<int64_t>(std::max<int64_t>(1, o.logprob_chunk), N);
  m.logits = 6 * 4 * chunk * c.vocab_size + (o.lora ? 0 : 8 * c.vocab_size * H);
  if (o.activation_checkpointing) {
    // Each layer's input with the tables and mask the recomputation reads; the log-prob backward
    // runs first, then one layer at a time is recomputed (its activations and bf16 weight copies)
    // with about half as much again in gradients in flight.
    m.activations = L * 4 * H * N + (once_tok + 4 * T) * N;
    m.backward_workspace = layer_tok * N + copies + layer_tok * N / 2;
  } else {
    // Every layer's saved tensors; the log-prob backward runs while all of them are held, and each
    // layer's backward frees its own as its gradients appear.
    m.activations = L * (layer_tok * N + copies) + once_tok * N;
    m.backward_workspace = 0;
  }
  m.optimizer_step = 16 * largest;

  m.rollout_weights = rollout_weight_bytes(c, o.rollout_precision);
  m.kv_cache = static_cast<int64_t>(o.kv_cache_bytes);
  m.steady = m.trained_weights + m.frozen_weights + m.reference + m.optimizer + (o.colocated ? m.rollout_weights : 0);
  m.backward_peak = m.steady + m.gradients + m.activations + std::max(m.logits, m.backward_workspace);
  m.step_peak = m.steady + m.gradients + m.optimizer_step;
  // A colocated engine: its KV cache while it generates; a refresh builds the next copy of the weights
  // while the last is still held.
  m.generation_peak = o.colocated ? m.steady + std::max(m.kv_cache, m.rollout_weights) : m.steady;
  m.peak = std::max({m.backward_peak, m.step_peak, m.generation_peak});
  m.worker_peak = o.colocated ? 0 : m.rollout_weights + m.kv_cache;
  return m;
}

}  // namespace r1::checkpoint

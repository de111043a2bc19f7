// What a training stage holds in memory, per device, before it runs: bytes of weights, gradients,
// optimiser state, the frozen reference, activations and the rollout engine's weights and KV cache,
// for a model configuration and the options a stage trains it with (full fine-tuning or LoRA). No
// LibTorch: `r1 model memory` prints it (cli/model.cpp), docs/benchmarks.md tabulates it.
//
// It models what r1 allocates (trainer/grpo_trainer.cpp, trainer/grpo_step.cpp, trainer/optim.cpp,
// model/transformer.cpp, model/lora.cpp), not what another framework would:
//
//   weights     the policy is loaded in fp32 (Transformer::load(dir, at::kFloat)) whatever the
//               checkpoint's dtype: 4 bytes a parameter, trained or not. With LoRA the base stays fp32
//               (2 bytes with lora.base_dtype bf16) and frozen (requires_grad false); the adapter's
//               A [r, in] and B [out, r] are fp32 whatever the base.
//   gradients   fp32, one per trained parameter (4 bytes), accumulated over a minibatch's
//               micro-batches. ZeRO-2 keeps only this rank's own parameters' sums once they are
//               summed (GradientSync); before the last micro-batch's backward every rank holds them all,
//               so with several micro-batches a minibatch the peak is the whole set: modelled as whole
//               unless `single_micro_batch`.
//   optimiser   AdamW (LibTorch's): exp_avg and exp_avg_sq, fp32, 8 bytes a trained parameter; divided
//               over the ranks with ZeRO-1/2 (each parameter's moments on its owner only).
//   reference   β > 0 without LoRA: a second fp32 model (4 bytes a parameter). With LoRA: none, the
//               reference is the base with the adapter off.
//   rollout     colocated: the engine's copy of the policy in the rollout precision (fp32: 4 bytes;
//               bf16: 2; FP8: 1 byte for each layer matrix element plus an fp32 scale per output row,
//               bf16 for the embeddings, norms, biases and lm_head), kept between steps, plus the KV
//               cache budget while a generation runs (the trainer's gradients and activations are gone
//               then). Not colocated: the same on each worker's device, none on the trainer's.
//
// Activations of one micro-batch: B sequences padded to T tokens, B = max(1, micro_batch_tokens / T),
// N = B T tokens. With H hidden, Q = heads * head_dim, K = kv_heads * head_dim, I intermediate, nh
// heads, c the matrix products' bytes (bf16: 2, fp32: 4), what autograd keeps per token and layer
// (the residual stream, norms, rotary embedding and softmax run in fp32: model/transformer.cpp):
//
//   residual and norms   16H: the layer's input and the attention block's output (4H each, kept by
//                        the RMSNorms), the two normalised values (4H each)
//   matrix inputs        bf16: 3 * 2H (q, k, v each cast the normed input: three copies) + 2 * 2H
//                        (gate, up) + 2Q (o_proj) + 2I (down_proj); fp32: 4H + 4H + 4Q + 4I (shared)
//   q, k rotary          8Q + 8K: each input and its rotated half (the products with cos and sin)
//                        (+ 8Q + 8K for Qwen3's q/k RMSNorm)
//   attention            4Q + 4K + 4K: q, k and v as the batched products read them; and the softmax's
//                        probabilities, fp32 [B, nh, T, T]: 4 nh T bytes a token. r1's CPU path
//                        computes them so; on CUDA, fp32 q/k/v with a mask and grouped heads are
//                        outside the flash and memory-efficient kernels' reach, so LibTorch's math
//                        fallback does the same (an assumption to check on a GPU)
//   SwiGLU               12I: gate's output (SiLU's input), SiLU's output, up's output
//   bf16 weight copies   bf16 products cast each layer matrix as they use it, and the product keeps the
//                        copy for the backward: 2 bytes a layer-matrix parameter, per layer (fp32: none)
//   LoRA, per module     c * in (its own cast of the input; fp32 and no dropout: shared) + c * r (A's
//                        output), with dropout + a mask of the input (fp32 on the CPU, bool on CUDA)
//
// plus, once: the final norm (8H) and the hidden states of the scored positions (4H); the rotary
// tables (8 head_dim) a token. All of it is held when the backward starts (with the log-prob chunks
// of the head's backward on top); each layer's backward then frees its own as its gradients appear.
// With activation checkpointing the forward keeps only each layer's input (4H a token a layer, with
// the tables and the additive mask, 4T); the backward recomputes one layer at a time: one layer's
// activations and bf16 weight copies exist at once, with about half as much again in gradients in
// flight (measured on the 25m config: tests/test_memory_model.cpp).
//
// Log-probabilities (Transformer::token_logprobs, chunk of 512 positions): the vocabulary-wide logits
// exist for one chunk at a time: about 6 fp32 [chunk, V] tensors at once in the backward (logits,
// log-softmax, probabilities, their gradient and temporaries). With a trainable head (full
// fine-tuning) the backward also builds the head's gradient [V, H] fp32 and one product of that size
// (8 V H bytes), and the embedding's backward a dense [V, H] gradient.
//
// The optimiser step: the global gradient norm converts each gradient to fp64 and squares it (16 bytes
// an element of the largest trained tensor at once), AdamW's denominator two fp32 temporaries.
//
// Peak per device = the steady part (weights, reference, moments, colocated rollout weights) + the
// largest of: the backward (gradients + activations + log-prob transients), the optimiser step
// (gradients + its temporaries), a colocated generation (its KV cache). Allocator slack, LibTorch's
// own workspace (cuBLAS, ~0.5-1 GiB on a GPU) and fragmentation come on top.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/config.h"
#include "checkpoint/lora_config.h"
#include "core/choices.h"

namespace r1::checkpoint {

struct TrainingMemoryOptions {
  bool lora = false;  // train `lora_options`' adapter over a frozen base; false: every weight
  bool base_bf16 = false;               // LoRA's base_dtype bf16: the frozen base in bf16, products in bf16
  LoraOptions lora_options;
  bool bf16_compute = true;             // matrix products in bf16 (a GPU's auto) or fp32
  bool cuda = true;                     // on a GPU (dropout masks as bytes); false: the CPU
  bool activation_checkpointing = false;
  int64_t micro_batch_tokens = 8192;    // padded tokens a forward/backward
  int64_t sequence_tokens = 1280;       // one sequence, prompt and completion (padded length)
  int64_t logprob_chunk = 512;          // Transformer::token_logprobs' chunk
  bool reference = false;               // β > 0
  int64_t world_size = 1;               // data-parallel ranks
  int64_t zero_stage = 0;               // 0, 1 (moments partitioned) or 2 (and gradients)
  bool single_micro_batch = false;      // one micro-batch a minibatch (ZeRO-2's gradients stay partitioned)
  // The rollout engine: colocated on the trainer's device, or on workers' own.
  bool colocated = false;
  WeightPrecision rollout_precision = WeightPrecision::kFp8;
  double kv_cache_bytes = 256.0 * (1 << 20);
};

struct TrainingMemory {
  int64_t parameters = 0;          // the model's (a tied embedding once)
  int64_t trained_parameters = 0;  // every one, or the adapter's
  int64_t micro_batch_sequences = 0, micro_batch_tokens = 0;  // B and N = B T

  // Bytes per device.
  int64_t trained_weights = 0;     // fp32 weights being trained (the whole model, or the adapter)
  int64_t frozen_weights = 0;      // LoRA's fp32 base
  int64_t gradients = 0;
  int64_t optimizer = 0;           // AdamW moments
  int64_t reference = 0;
  int64_t activations = 0;         // autograd's saved tensors at the start of the backward
  int64_t logits = 0;              // log-prob chunks and the head's gradient transients
  int64_t backward_workspace = 0;  // checkpointing: one layer recomputed, with its gradients in flight
  int64_t optimizer_step = 0;      // the step's temporaries
  int64_t rollout_weights = 0;     // the engine's copy (colocated: on this device; else each worker's)
  int64_t kv_cache = 0;

  int64_t steady = 0;              // held from step to step
  int64_t backward_peak = 0, step_peak = 0, generation_peak = 0;
  int64_t peak = 0;                // the largest: what the trainer's device must hold
  int64_t worker_peak = 0;         // not colocated: a worker's weights and KV cache
};

// Bytes autograd keeps per token for one layer (without checkpointing), and the layer's bf16 weight
// copies: the activation formula above, exposed for tests and the docs.
int64_t layer_activation_bytes_per_token(const ModelConfig& config, const TrainingMemoryOptions& options);
int64_t layer_weight_copy_bytes(const ModelConfig& config, const TrainingMemoryOptions& options);
// The weights of a rollout engine in `precision` (model/fp8.h's layout for FP8).
int64_t rollout_weight_bytes(const ModelConfig& config, WeightPrecision precision);
// The adapter's parameters (A and B of every targeted module).
int64_t lora_parameter_count(const ModelConfig& config, const LoraOptions& options);

// The estimate; a LoRA target the model lacks is a ConfigError naming it, as lora_targets says.
TrainingMemory estimate_training_memory(const ModelConfig& config, const TrainingMemoryOptions& options);

}  // namespace r1::checkpoint

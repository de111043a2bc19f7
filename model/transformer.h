// The decoder-only transformer of Qwen2, Qwen3 and Llama (checkpoint/config.h), in LibTorch, computing
// exactly what Hugging Face's modeling code computes: RMSNorm in fp32, rotary embeddings (with Llama 3's
// frequency scaling), grouped-query attention with a softmax in fp32, SwiGLU.
//
// Weights carry Hugging Face's names and load from / save to safetensors checkpoints (checkpoint/safetensors.h);
// a checkpoint missing a tensor, holding an unexpected one or one of the wrong shape is refused naming it.
//
// Two ways in:
//   forward(): a whole batch at once (training, scoring): padded (attention_mask) or packed (position
//     ids that restart at 0 begin a new sequence; tokens attend within their own);
//   forward_cached(): inference with a KV cache — prefill, then decode steps — over a batch of
//     left-padded sequences of different lengths.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/config.h"
#include "model/fp8.h"

namespace r1::model {

class LoraAdapter;  // model/lora.h

// A batch's keys and values, per layer [batch, kv_heads, capacity, head_dim]; `valid` [batch, capacity]
// marks the slots holding a real token (left padding holds none); `length` slots are used.
struct KVCache {
  std::vector<at::Tensor> k, v;
  at::Tensor valid;
  at::Tensor next_position;  // [batch]: the position the sequence's next token takes
  int64_t length = 0;
  int64_t capacity() const { return valid.defined() ? valid.size(1) : 0; }
  int64_t batch() const { return valid.defined() ? valid.size(0) : 0; }
  // Each sequence repeated n times (sequence i becomes rows i*n .. i*n+n-1): n samples of one prompt
  // share its prefill.
  KVCache repeat_interleave(int64_t n) const;
};

// Keys and values of many sequences in one pool per layer, cut into blocks of block_size tokens: a
// sequence owns a list of blocks (its block table), and sequences may share full blocks (the n samples
// of one prompt share the prompt's). The rollout engine (inference/engine.h) hands blocks out.
struct PagedKV {
  int64_t block_size = 16, num_blocks = 0;
  std::vector<at::Tensor> k, v;  // per layer [kv_heads, num_blocks * block_size, head_dim]
  at::Tensor gather_k, gather_v;  // forward_paged()'s per-step gather buffers, reused layer after layer
};

// One forward pass over a paged cache: B rows of T new tokens each (a prefill, or one decode step).
struct PagedStep {
  at::Tensor input_ids;  // [B, T]
  at::Tensor positions;  // [B, T]: each token's position in its sequence
  at::Tensor write;      // [B, T]: the pool slot (block * block_size + offset) its key and value go to
  at::Tensor read;       // [B, W]: read[b, j] is the slot of row b's token j, for j up to its newest
                         // token's position (beyond that: any slot, masked out)
};

class Transformer {
 public:
  // Weights zero until init_random() or load(). Every tensor of the model, its caches and its
  // forward passes lives on `device` (model/device.h resolves the user's choice); inputs given on
  // another device are moved there.
  Transformer(checkpoint::ModelConfig config, at::ScalarType dtype = at::kFloat, at::Device device = at::kCPU);

  // config.json and the checkpoint of folder `dir`, read straight onto `device`.
  static Transformer load(const std::string& dir, at::ScalarType dtype = at::kFloat, at::Device device = at::kCPU);
  // Hugging Face's initialisation: normal(0, 0.02) matrices, unit norms, zero biases; `seed` fixes it
  // (drawn on the CPU, so a seed gives the same weights on every device).
  void init_random(uint64_t seed);
  // Writes config.json and the weights (safetensors; shards above max_shard_bytes, 0: one file). A
  // model that was load()ed carries its folder's other files along: generation_config.json and the
  // tokenizer's (tokenizer.json, tokenizer_config.json, vocab.json, merges.txt, special_tokens_map.json).
  void save(const std::string& dir, uint64_t max_shard_bytes = 0) const;

  // Inference in FP8 (the rollout workers): every layer matrix (q/k/v/o, gate/up/down) becomes e4m3
  // codes with scales, dequantised into the compute dtype as it is used; embeddings, norms, biases and
  // the output head stay as they are. The model can no longer be trained or saved.
  void quantize_fp8(Fp8Scaling scaling = Fp8Scaling::kPerChannel);
  bool fp8() const { return !fp8_.empty(); }
  // Whether quantize_fp8() turns the weight `name` into FP8 (a layer matrix).
  static bool quantized_in_fp8(const std::string& name, int64_t dims);

  // A model assembled weight by weight (a rollout worker's weight update): none allocated until set,
  // so no memory is touched twice. Every weight must be set before the model is used (a missing one is
  // an r1::Error naming it). set_weight takes `value` as it is (the model's dtype and the checkpoint's
  // shape, checked); set_fp8_weight stores a layer matrix already quantised.
  static Transformer unfilled(checkpoint::ModelConfig config, at::ScalarType dtype, at::Device device = at::kCPU);
  void set_weight(const std::string& name, at::Tensor value);  // moved to the model's device
  void set_fp8_weight(const std::string& name, Fp8Weight value);
  // Write `value` (the checkpoint's shape, any float dtype, any device) into weight `name`, converted
  // to the model's dtype (overwrite_fp8_weight: quantised, for a layer matrix of an FP8 model), into
  // the storage the weight has when it has one of that kind (a recycled model: nothing allocated),
  // else into a new tensor.
  void overwrite_weight(const std::string& name, const at::Tensor& value);
  void overwrite_fp8_weight(const std::string& name, const at::Tensor& value, Fp8Scaling scaling);
  // Bytes held by the weights (FP8 codes and scales included).
  int64_t weight_bytes() const;

  const checkpoint::ModelConfig& config() const { return config_; }
  at::ScalarType dtype() const { return dtype_; }
  at::Device device() const { return device_; }
  // Options for a tensor of `dtype` on the model's device.
  at::TensorOptions options(at::ScalarType dtype) const { return at::TensorOptions(dtype).device(device_); }

  // Training options, both off by default:
  //   compute dtype: the layer matrices' products run in this dtype (bf16 over fp32 weights, as
  //     autocast does: inputs and weights cast as they are used, results back in the weights' dtype,
  //     the residual stream, norms and softmax unchanged). Where bf16 products are faster.
  //   activation checkpointing: forward() with gradients keeps only each layer's input; the backward
  //     pass recomputes the layer. Activation memory falls from O(layers) to O(1) layers, for one
  //     more forward pass of compute.
  void set_compute_dtype(at::ScalarType dtype) { compute_dtype_ = dtype; }
  at::ScalarType compute_dtype() const { return compute_dtype_; }
  void set_activation_checkpointing(bool on) { checkpoint_layers_ = on; }
  bool activation_checkpointing() const { return checkpoint_layers_; }
  // LoRA (model/lora.h): an adapter whose low-rank term is added to each layer matrix it targets, in
  // every forward pass (forward, forward_cached, forward_paged; bf16 products, FP8 weights, activation
  // checkpointing). Attaching one freezes the base weights (requires_grad false): the adapter's are
  // the ones trained. Its modules are checked against the model (check_lora: an r1::Error naming the
  // module and both shapes). Disabled, the model computes as its base alone, the adapter kept (GRPO's
  // reference policy with no second model). nullptr detaches it.
  void set_lora(std::shared_ptr<LoraAdapter> adapter);
  const std::shared_ptr<LoraAdapter>& lora() const { return lora_; }
  void check_lora(const LoraAdapter& adapter) const;
  void set_lora_enabled(bool on) { lora_enabled_ = on; }
  bool lora_enabled() const { return lora_enabled_; }
  const std::map<std::string, at::Tensor>& weights() const { return weights_; }
  std::vector<at::Tensor> parameters() const;  // every weight (a tied embedding once)
  at::Tensor& weight(const std::string& name);

  // Final hidden states [B, T, hidden] of input_ids [B, T].
  //   position_ids [B, T] (int64); undefined: 0..T-1 per row, shifted past left padding.
  //   attention_mask [B, T] (1: a token, 0: padding); undefined: all tokens.
  //   packed: position_ids restarting at 0 begin a new sequence; attention stays within sequences.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& position_ids = {},
                     const at::Tensor& attention_mask = {}, bool packed = false) const;
  // Logits [.., vocab] (fp32) of hidden states.
  at::Tensor logits(const at::Tensor& hidden) const;
  // log p(target) and the entropy of the next-token distribution for each position, from hidden
  // [B, T, hidden] and targets [B, T]: fp32 [B, T] each. The vocabulary-wide logits exist for
  // `chunk` positions at a time, never for all — in the backward pass too, which recomputes them.
  std::pair<at::Tensor, at::Tensor> token_logprobs(const at::Tensor& hidden, const at::Tensor& targets,
                                                   int64_t chunk = 512) const;

  // An empty cache for `batch` sequences of up to `capacity` tokens.
  KVCache new_cache(int64_t batch, int64_t capacity) const;
  // Appends input_ids [B, T] (input_valid [B, T]: 0 for left padding; undefined: all real) to the
  // cache and returns the hidden states [B, T, hidden] of the new tokens.
  at::Tensor forward_cached(const at::Tensor& input_ids, KVCache& cache, const at::Tensor& input_valid = {}) const;

  // A paged cache of num_blocks blocks (inference/engine.h), zeroed.
  PagedKV new_paged_cache(int64_t num_blocks, int64_t block_size) const;
  // Bytes of keys and values one token takes in the cache, over all layers.
  int64_t kv_bytes_per_token() const;
  // Stores the keys and values of step's tokens in the cache and returns their hidden states [B, T, hidden].
  at::Tensor forward_paged(const PagedStep& step, PagedKV& cache) const;

 private:
  // Called per layer with the new tokens' keys and values [B, kv_heads, T, D] after the rotary
  // embedding; returns those the tokens attend to [B, kv_heads, S, D] (the mask is [B, 1, T, S]).
  using KeyValueHook = std::function<std::pair<at::Tensor, at::Tensor>(int64_t, const at::Tensor&, const at::Tensor&)>;
  at::Tensor layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                   const at::Tensor& mask, const KeyValueHook& keys_values) const;
  friend struct CheckpointedLayer;
  std::vector<at::Tensor> layer_parameters(int64_t i) const;  // layer i's weights (and adapter's) that require gradients
  bool lora_active() const { return lora_ && lora_enabled_; }
  at::Tensor checkpointed_layer(int64_t i, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                const at::Tensor& mask) const;
  std::pair<at::Tensor, at::Tensor> rope(const at::Tensor& positions) const;
  const at::Tensor& w(const std::string& name) const;
  // x times a layer matrix (transposed), plus bias: in FP8 through Fp8Weight::linear.
  at::Tensor project(const at::Tensor& x, const std::string& name, const at::Tensor& bias = {}) const;

  checkpoint::ModelConfig config_;
  at::ScalarType dtype_;
  at::Device device_ = at::kCPU;
  std::string source_dir_;  // the folder load() read, whose other files save() carries
  std::map<std::string, at::Tensor> weights_;
  Transformer(checkpoint::ModelConfig config, at::ScalarType dtype, at::Device device, bool allocate);
  std::map<std::string, Fp8Weight> fp8_;  // layer matrices in FP8 (quantize_fp8), absent from weights_
  at::Tensor inv_freq_;  // fp32 [head_dim / 2]
  at::ScalarType compute_dtype_;
  bool checkpoint_layers_ = false;
  std::shared_ptr<LoraAdapter> lora_;
  bool lora_enabled_ = true;
};

// Building blocks, exposed for tests.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor rotary_inv_freq(const checkpoint::ModelConfig& config);
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);  // x [B, heads, T, D]

}  // namespace r1::model

// LoRA: trainable low-rank adapters on the transformer's frozen layer matrices (Hu et al. 2021), in
// PEFT's format (checkpoint/lora_config.h: options, adapter_config.json, tensor names).
//
// A targeted weight W [out, in] gains A [r, in] and B [out, r], fp32 and trainable whatever the
// model's dtype; the layer computes x W^T + scale * B (A dropout(x)), scale = lora_alpha / r (or
// lora_alpha / sqrt(r), rsLoRA). The seam in the transformer is one line of Transformer::project: every
// forward path (training, KV cache, paged), bf16 products and FP8 weights alike add the adapter's term.
//
//   auto lora = std::make_shared<LoraAdapter>(model.config(), options, seed);
//   model.set_lora(lora);            // base weights frozen; lora->parameters() go to the optimiser
//   ...
//   lora->save(dir);                 // adapter_config.json + adapter_model.safetensors, as PEFT writes them
//   merge_lora(model, *LoraAdapter::load(dir, model.config()));   // W' = W + scale * B A
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/config.h"
#include "checkpoint/lora_config.h"

namespace r1::model {

class Transformer;

// One adapted layer matrix.
struct LoraModule {
  checkpoint::LoraTarget target;
  at::Tensor a, b;  // [r, in], [out, r]: fp32
};

class LoraAdapter {
 public:
  // A fresh adapter for a model of `config`: A kaiming-uniform with a = sqrt(5) as PEFT (uniform in
  // ±1/sqrt(in)), or N(0, 1/r²) for init "gaussian"; B zero, so the adapted model starts equal to its
  // base. Drawn on the CPU from `seed` (the same adapter on every device), trainable. Options are
  // checked (check_lora_options) and the targets resolved (lora_targets): errors name the key.
  LoraAdapter(const checkpoint::ModelConfig& config, checkpoint::LoraOptions options, uint64_t seed,
              at::Device device = at::kCPU);

  // A PEFT adapter folder for a model of `config`. Its options are PEFT's (unsupported ones refused by
  // key); its tensors must be exactly those the options target in this model, with PEFT's names and
  // the model's shapes: a missing, unexpected or misshapen tensor (an adapter made for another base)
  // is an r1::Error naming the file and the tensor. Any float dtype is read into fp32.
  static std::shared_ptr<LoraAdapter> load(const std::string& dir, const checkpoint::ModelConfig& config,
                                           at::Device device = at::kCPU);
  // An adapter of `options` for a model of `config` from tensors by PEFT's names (a rollout worker's
  // adapter update), any float dtype, read into fp32 on `device`, not trainable. The same checks as
  // load(), each an r1::Error starting with `where` and naming the tensor: exactly the tensors the
  // options target, in the model's shapes, every value finite.
  static std::shared_ptr<LoraAdapter> from_tensors(const checkpoint::ModelConfig& config, checkpoint::LoraOptions options,
                                                   const std::map<std::string, at::Tensor>& tensors,
                                                   const std::string& where, at::Device device = at::kCPU);
  // Writes adapter_config.json and adapter_model.safetensors (fp32) into `dir`, created if needed.
  void save(const std::string& dir) const;
  // A copy of the adapter as it is now, for a model that samples while this one trains on: its own
  // tensors (detached, no gradients), dropout off.
  std::shared_ptr<LoraAdapter> snapshot() const;

  const checkpoint::LoraOptions& options() const { return options_; }
  checkpoint::LoraOptions& options() { return options_; }  // base_model_name_or_path, before save()
  const checkpoint::ModelConfig& base_config() const { return config_; }
  double scale() const { return scale_; }
  at::Device device() const { return device_; }

  const std::vector<LoraModule>& modules() const { return modules_; }
  // The module adapting base weight `weight` ("model.layers.0.self_attn.q_proj.weight"); nullptr: none.
  const LoraModule* find(const std::string& weight) const;
  LoraModule& module(const std::string& weight);  // throws naming it when absent
  // A and B of every module, in checkpoint order; those of layer i.
  std::vector<at::Tensor> parameters() const;
  std::vector<at::Tensor> layer_parameters(int64_t layer) const;
  int64_t parameter_count() const;
  int64_t bytes() const;

  // Dropout (lora_dropout) applies only in training mode, off by default.
  void set_training(bool on) { training_ = on; }
  bool training() const { return training_; }
  // Whether a forward pass draws random numbers (dropout on): activation checkpointing then replays
  // the generator's state when it recomputes a layer.
  bool uses_rng() const { return training_ && options_.lora_dropout > 0; }

  // scale * B (A dropout(x)) for x [.., in]: the products in `compute` (bf16 over the fp32 adapter, as
  // the base's products), the result in x's dtype.
  at::Tensor delta(const LoraModule& m, const at::Tensor& x, at::ScalarType compute) const;
  // scale * B A [out, in], fp32: what merging adds to the weight.
  at::Tensor merged_delta(const LoraModule& m) const;

 private:
  LoraAdapter(const checkpoint::ModelConfig& config, checkpoint::LoraOptions options, at::Device device);
  checkpoint::ModelConfig config_;
  checkpoint::LoraOptions options_;
  double scale_ = 1;
  at::Device device_ = at::kCPU;
  std::vector<LoraModule> modules_;
  std::map<std::string, size_t> by_weight_;
  bool training_ = false;
};

// W' = W + scale * B A for every module of `adapter`, computed in fp32 and stored in the weight's dtype:
// the plain model the adapter makes. Refused for an FP8 model (merge before quantising) and for an
// adapter whose shapes differ from the model's. An adapter attached to the model is detached first (it
// would be added twice).
void merge_lora(Transformer& model, const LoraAdapter& adapter);

}  // namespace r1::model

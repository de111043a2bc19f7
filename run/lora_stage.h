// A training stage's `lora` block (grpo, sft, distill): train a LoRA adapter over the frozen base
// model instead of every weight (trainer/trained_weights.h does it). The keys are PEFT's LoraConfig
// names, as TRL users pass them (docs/recipes.md):
//   "lora": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}
//   "lora": {"adapter": "@sft/adapter"}   go on training an existing PEFT adapter (its own options)
// and r1's own `base_dtype` ("fp32", or "bf16": the frozen base held in bf16, half its memory, for
// bf16 forward passes; the adapter, its gradients and AdamW's moments stay fp32).
// No LibTorch: the planner reads and checks it with the rest of the stage.
#pragma once

#include <string>

#include "checkpoint/lora_config.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

struct StageLora {
  bool enabled = false;
  checkpoint::LoraOptions options;  // a fresh adapter's; with `adapter`, read from its adapter_config.json when the stage starts
  std::string adapter;              // a PEFT adapter folder to start from ("" : a fresh adapter, B = 0)
  bool base_bf16 = false;           // base_dtype "bf16": the frozen base in bf16 (else fp32)
  std::string key = "lora";         // its key path in the recipe, for errors

  // The stage reader's "lora" block (absent or null: disabled). With "adapter", the adapter's own
  // adapter_config.json says r, alpha and the targets: giving them too is a ConfigError naming the key.
  static StageLora read(ConfigReader& stage);
};

// The adapter's options from its folder (adapter_config.json, PEFT's keys; unsupported ones refused
// by key), or the block's for a fresh adapter.
checkpoint::LoraOptions stage_lora_options(const StageLora& lora);

}  // namespace r1::run

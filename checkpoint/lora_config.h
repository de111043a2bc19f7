// LoRA adapters on disk, without LibTorch: PEFT's adapter_config.json read and written, and which of a
// model's linear modules an adapter targets, with the tensor names and shapes PEFT gives them
// (model/lora.h holds the tensors and computes with them).
//
// An adapter folder, as PEFT's save_pretrained writes it:
//   adapter_config.json        {"peft_type": "LORA", "r": 16, "lora_alpha": 32, "target_modules": [...], ...}
//   adapter_model.safetensors  base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight  [r, in]
//                              base_model.model.model.layers.N.self_attn.q_proj.lora_B.weight  [out, r]
// The adapted product of a targeted layer matrix W is  x W^T + scale * (dropout(x) A^T) B^T, with
// scale = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (rank-stabilised LoRA).
//
// A PEFT option r1 does not implement (use_dora, a bias other than "none", modules_to_save,
// layers_to_transform, rank_pattern / alpha_pattern, an initialisation that changes the base weights,
// ...) is one ConfigError naming the key, never an adapter silently applied differently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint/config.h"

namespace r1 {
class ConfigReader;
}

namespace r1::checkpoint {

inline constexpr const char* kPeftConfigFile = "adapter_config.json";
inline constexpr const char* kPeftWeightsFile = "adapter_model.safetensors";

// The modules of a layer LoRA can target, by Hugging Face's names ("all-linear" is all of them).
inline constexpr const char* kLoraModules[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

struct LoraOptions {
  int64_t r = 8;
  double lora_alpha = 8;
  double lora_dropout = 0;
  // Module names, each matching a module whose name is it or ends with "." + it ("q_proj",
  // "self_attn.q_proj", "model.layers.0.mlp.up_proj"); or, when target_regex is set, none: PEFT's
  // target_modules given as one string, a regular expression the whole module name must match
  // ("all-linear" is not a regex: every linear module of the layers).
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  std::string target_regex;
  bool use_rslora = false;
  std::string init_lora_weights = "true";  // "true" (A kaiming-uniform, B zero), "gaussian" (A ~ N(0, 1/r)), "false"
  std::string base_model_name_or_path;

  double scale() const;  // lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora
};

// r > 0, lora_alpha > 0, lora_dropout in [0, 1), init_lora_weights known; a ConfigError naming `where`'s key.
void check_lora_options(const LoraOptions& options, const std::string& where);

// r1's own `lora` block (a stage's, or a command's): TRL/PEFT's names r, lora_alpha, lora_dropout,
// target_modules (a list, or one string: "all-linear" or a regex), use_rslora, init_lora_weights.
LoraOptions read_lora_options(ConfigReader& reader);

// adapter_config.json as PEFT writes it; `source` names it in errors.
LoraOptions parse_peft_config(const std::string& json_text, const std::string& source);
LoraOptions read_peft_config(const std::string& path);
// The adapter_config.json PEFT writes for these options (its keys, sorted, as PEFT 0.10 and later read
// them); "all-linear" is written as the module names, as PEFT does.
std::string peft_config_json(const LoraOptions& options);

// One targeted layer matrix.
struct LoraTarget {
  std::string module;  // "model.layers.0.self_attn.q_proj"
  std::string weight;  // the base weight: "model.layers.0.self_attn.q_proj.weight"
  int64_t layer = 0, in = 0, out = 0;
  std::string a_name, b_name;  // PEFT's: "base_model.model.<module>.lora_A.weight", "...lora_B.weight"
};
// The modules `options` target in a model of `config`, in checkpoint order. A target that names no
// linear module of the architecture (or names the embeddings or lm_head, which r1's LoRA does not
// adapt) is a ConfigError naming it and `where`.
std::vector<LoraTarget> lora_targets(const ModelConfig& config, const LoraOptions& options, const std::string& where);
// The short names ("q_proj", ...) of targets, sorted, each once.
std::vector<std::string> lora_target_names(const std::vector<LoraTarget>& targets);

}  // namespace r1::checkpoint

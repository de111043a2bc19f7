// The transformer's configuration, read from (and written as) a Hugging Face `config.json`, and the
// tensors a checkpoint of it holds, under Hugging Face's names. No LibTorch.
//
// One decoder-only architecture covers Qwen2ForCausalLM (q/k/v bias), Qwen3ForCausalLM (per-head q/k
// RMSNorm, head_dim of its own) and LlamaForCausalLM (optional attention bias, rope_scaling "llama3").
// Anything else — another architecture, an activation other than SiLU, sliding windows, another
// rope_scaling type, an MLP bias — is refused by name rather than silently run differently.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace r1::checkpoint {

enum class Arch { kQwen2, kQwen3, kLlama };

struct RopeScaling {  // rope_scaling {"rope_type": "llama3", ...}; factor 0: none
  double factor = 0, low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Arch arch = Arch::kQwen2;
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0;
  int64_t num_attention_heads = 0, num_key_value_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 32768;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v bias (Qwen2: always; Llama: and o_proj's)
  bool qk_norm = false;         // Qwen3
  std::string torch_dtype = "bfloat16";
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;

  const char* architecture_name() const;  // "Qwen2ForCausalLM", ...
  const char* model_type() const;         // "qwen2", ...
  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
  // Parameters, counting a tied embedding once.
  int64_t parameter_count() const;
};

// What a model folder holds besides config.json and the weights, carried along when it is saved
// elsewhere: the tokenizer's files and generation_config.json.
inline constexpr const char* kTokenizerFiles[] = {"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
                                                  "special_tokens_map.json"};
inline constexpr const char* kGenerationConfigFile = "generation_config.json";

// Reads a config.json; errors name the file and the key at fault.
ModelConfig read_model_config(const std::string& path);
// Parses config.json text (`source` names it in errors).
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);
// The eos ids a model folder declares: config.json's eos_token_id, then generation_config.json's
// (transformers' GenerationConfig, where instruct models add their end-of-turn ids: Llama 3.1's
// [128001, 128008, 128009]); each an int or a list of ints, each id once. A missing file gives none; a
// file that is not JSON, or an eos_token_id of another type, is a ConfigError naming the file and key.
std::vector<int64_t> read_eos_token_ids(const std::string& model_dir);
// The config.json Hugging Face writes for it (transformers loads it).
std::string model_config_json(const ModelConfig& config);

// A preset by name: "tiny" (~0.3M parameters, for tests), "25m", "qwen2.5-0.5b" (that model's shapes),
// for an architecture "qwen2", "qwen3" or "llama". Throws naming what is unknown.
ModelConfig preset_config(const std::string& arch, const std::string& preset, int64_t vocab_size);

struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
};
// Every tensor a checkpoint of `config` holds, in Hugging Face's names and shapes.
std::vector<TensorShape> checkpoint_tensors(const ModelConfig& config);

}  // namespace r1::checkpoint

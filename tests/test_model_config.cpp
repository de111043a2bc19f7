// config.json for Qwen2, Qwen3 and Llama: real models' configs give their known parameter counts,
// unsupported options are refused by name, and written configs read back the same.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "checkpoint/config.h"

using namespace r1::checkpoint;

namespace {

// The configs Hugging Face publishes for these models (the fields that matter).
const char* kQwen25_05B = R"({"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
  "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14,
  "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936})";
const char* kQwen3_06B = R"({"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "bos_token_id": 151643,
  "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_sliding_window": false, "vocab_size": 151936})";
const char* kLlama32_1B = R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
  "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
  "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
  "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "vocab_size": 128256})";

std::string error_of(const std::string& text) {
  try {
    r1::checkpoint::parse_model_config(text, "config.json");
  } catch (const r1::ConfigError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::vector<r1::checkpoint::TensorShape>& ts, const std::string& name) {
  return std::any_of(ts.begin(), ts.end(), [&](const r1::checkpoint::TensorShape& t) { return t.name == name; });
}

}  // namespace

TEST_CASE("model config: real configs read with their known parameter counts", "[model][config]") {
  r1::checkpoint::ModelConfig q2 = r1::checkpoint::parse_model_config(kQwen25_05B, "qwen2.5-0.5b/config.json");
  CHECK(q2.arch == r1::checkpoint::Arch::kQwen2);
  CHECK(q2.head_dim == 64);
  CHECK(q2.attention_bias);
  CHECK_FALSE(q2.qk_norm);
  CHECK(q2.tie_word_embeddings);
  CHECK(q2.eos_token_ids == std::vector<int64_t>{151643});
  CHECK(q2.parameter_count() == 494032768);  // Qwen2.5-0.5B

  r1::checkpoint::ModelConfig q3 = r1::checkpoint::parse_model_config(kQwen3_06B, "qwen3-0.6b/config.json");
  CHECK(q3.arch == r1::checkpoint::Arch::kQwen3);
  CHECK(q3.head_dim == 128);  // not hidden_size / heads (64)
  CHECK(q3.q_dim() == 2048);
  CHECK(q3.qk_norm);
  CHECK_FALSE(q3.attention_bias);
  CHECK(q3.parameter_count() == 596049920);  // Qwen3-0.6B

  r1::checkpoint::ModelConfig l = r1::checkpoint::parse_model_config(kLlama32_1B, "llama-3.2-1b/config.json");
  CHECK(l.arch == r1::checkpoint::Arch::kLlama);
  CHECK(l.rope_scaling.factor == 32.0);
  CHECK(l.rope_scaling.original_max_position_embeddings == 8192);
  CHECK(l.rms_norm_eps == 1e-5);
  CHECK(l.eos_token_ids.size() == 3);
  CHECK(l.parameter_count() == 1235814400);  // Llama 3.2 1B
}

TEST_CASE("model config: transformers 5 configs (rope_parameters, dtype) read as transformers reads them",
          "[model][config]") {
  // As transformers 5.17 writes a Llama config: rope_theta and the llama3 scaling inside "rope_parameters".
  const char* llama5 = R"({"architectures": ["LlamaForCausalLM"], "dtype": "bfloat16", "head_dim": 16,
    "hidden_act": "silu", "hidden_size": 64, "intermediate_size": 128, "max_position_embeddings": 2048,
    "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
    "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
      "original_max_position_embeddings": 64, "rope_theta": 500000.0, "rope_type": "llama3"},
    "tie_word_embeddings": false, "vocab_size": 256})";
  r1::checkpoint::ModelConfig l = r1::checkpoint::parse_model_config(llama5, "llama5/config.json");
  CHECK(l.rope_theta == 500000.0);
  CHECK(l.rope_scaling.factor == 8.0);
  CHECK(l.rope_scaling.original_max_position_embeddings == 64);
  CHECK(l.torch_dtype == "bfloat16");
  std::string qwen5 = R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
    "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "vocab_size": 256,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}})";
  CHECK(r1::checkpoint::parse_model_config(qwen5, "q").rope_theta == 1000000.0);
  qwen5.replace(qwen5.find("\"default\""), 9, "\"dynamic\"");
  CHECK_THROWS_WITH(r1::checkpoint::parse_model_config(qwen5, "q/config.json"),
                    Catch::Contains("q/config.json: rope_parameters type 'dynamic' is not supported"));
}

TEST_CASE("model config: the tensors a checkpoint holds, by Hugging Face's names", "[model][config]") {
  r1::checkpoint::ModelConfig q2 = r1::checkpoint::preset_config("qwen2", "tiny", 1000);
  auto t = r1::checkpoint::checkpoint_tensors(q2);
  CHECK(has(t, "model.layers.1.self_attn.q_proj.bias"));
  CHECK_FALSE(has(t, "model.layers.0.self_attn.o_proj.bias"));  // Qwen2: q/k/v only
  CHECK_FALSE(has(t, "lm_head.weight"));                          // tied
  r1::checkpoint::ModelConfig q3 = r1::checkpoint::preset_config("qwen3", "tiny", 1000);
  auto t3 = r1::checkpoint::checkpoint_tensors(q3);
  CHECK(has(t3, "model.layers.0.self_attn.q_norm.weight"));
  CHECK_FALSE(has(t3, "model.layers.0.self_attn.q_proj.bias"));
  r1::checkpoint::ModelConfig l = r1::checkpoint::preset_config("llama", "tiny", 1000);
  auto tl = r1::checkpoint::checkpoint_tensors(l);
  CHECK(has(tl, "lm_head.weight"));
  CHECK_FALSE(has(tl, "model.layers.0.self_attn.k_proj.bias"));
  CHECK(tl.front().name == "model.embed_tokens.weight");
  CHECK(tl.front().shape == std::vector<int64_t>{1000, 64});

  CHECK(r1::checkpoint::preset_config("qwen2", "qwen2.5-0.5b", 151665).parameter_count() == 494032768);
  r1::checkpoint::ModelConfig m25 = r1::checkpoint::preset_config("qwen2", "25m", 151665);
  int64_t embedding = m25.vocab_size * m25.hidden_size;
  CHECK(m25.parameter_count() - embedding > 20000000);
  CHECK(m25.parameter_count() - embedding < 30000000);
  CHECK_THROWS_WITH(r1::checkpoint::preset_config("mistral", "tiny", 10), Catch::Contains("unknown architecture 'mistral'"));
  CHECK_THROWS_WITH(r1::checkpoint::preset_config("qwen2", "huge", 10), Catch::Contains("unknown preset 'huge'"));
}

TEST_CASE("model config: written configs read back the same", "[model][config]") {
  for (const char* arch : {"qwen2", "qwen3", "llama"})
    for (const char* preset : {"tiny", "25m", "qwen2.5-0.5b"}) {
      INFO(arch << " " << preset);
      r1::checkpoint::ModelConfig c = r1::checkpoint::preset_config(arch, preset, 5000);
      c.eos_token_ids = {7, 9};
      c.bos_token_id = 3;
      r1::checkpoint::ModelConfig r = r1::checkpoint::parse_model_config(r1::checkpoint::model_config_json(c), "written");
      CHECK(r.arch == c.arch);
      CHECK(r.vocab_size == c.vocab_size);
      CHECK(r.head_dim == c.head_dim);
      CHECK(r.num_key_value_heads == c.num_key_value_heads);
      CHECK(r.attention_bias == c.attention_bias);
      CHECK(r.tie_word_embeddings == c.tie_word_embeddings);
      CHECK(r.rope_theta == c.rope_theta);
      CHECK(r.rope_scaling.factor == c.rope_scaling.factor);
      CHECK(r.eos_token_ids == c.eos_token_ids);
      CHECK(r.bos_token_id == 3);
      CHECK(r.parameter_count() == c.parameter_count());
    }
}

TEST_CASE("model config: unsupported architectures and options are refused by name", "[model][config]") {
  std::string base = kQwen25_05B;
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  CHECK(error_of(replace("Qwen2ForCausalLM", "MistralForCausalLM")).find("architecture 'MistralForCausalLM' is not supported") !=
        std::string::npos);
  CHECK(error_of(replace("\"silu\"", "\"gelu\"")).find("\"hidden_act\" \"gelu\" is not supported") != std::string::npos);
  CHECK(error_of(replace("\"use_sliding_window\": false", "\"use_sliding_window\": true")).find("use_sliding_window") !=
        std::string::npos);
  CHECK(error_of(replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3")).find("not a multiple") !=
        std::string::npos);
  CHECK(error_of(replace("\"hidden_size\": 896,", "")).find("missing \"hidden_size\"") != std::string::npos);
  CHECK(error_of(replace("\"vocab_size\": 151936", "\"vocab_size\": -5")).find("\"vocab_size\" must be a positive") !=
        std::string::npos);
  CHECK(error_of(replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": \"yes\"")).find("true or false") !=
        std::string::npos);
  std::string llama = kLlama32_1B;
  llama.replace(llama.find("\"llama3\""), 8, "\"yarn\"");
  CHECK(error_of(llama).find("rope_scaling type 'yarn' is not supported") != std::string::npos);
  llama = kLlama32_1B;
  llama.replace(llama.find("\"mlp_bias\": false"), 17, "\"mlp_bias\": true");
  CHECK(error_of(llama).find("mlp_bias") != std::string::npos);
  CHECK(error_of("{\"architectures\": [\"Qwen2ForCausalLM\"]").find("config.json: not a JSON object") != std::string::npos);
  CHECK_THROWS_WITH(r1::checkpoint::read_model_config("/nonexistent/config.json"), Catch::Contains("/nonexistent/config.json: cannot open"));
}

TEST_CASE("eos ids: config.json's and generation_config.json's, an int or a list, bad types named", "[model][config]") {
  namespace fs = std::filesystem;
  const std::string dir = "/tmp/r1_test_eos_ids";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir + "/" + name) << text; };
  CHECK(r1::checkpoint::read_eos_token_ids(dir).empty());
  CHECK(r1::checkpoint::read_eos_token_ids("/nonexistent/model").empty());
  write("config.json", R"({"eos_token_id": 128001})");
  CHECK(r1::checkpoint::read_eos_token_ids(dir) == std::vector<int64_t>{128001});
  write("generation_config.json", R"({"eos_token_id": [128001, 128008, 128009], "do_sample": true})");
  CHECK(r1::checkpoint::read_eos_token_ids(dir) == std::vector<int64_t>{128001, 128008, 128009});
  write("generation_config.json", R"({"eos_token_id": "</s>"})");
  CHECK_THROWS_WITH(r1::checkpoint::read_eos_token_ids(dir), Catch::Contains(dir + "/generation_config.json: eos_token_id: expected an integer or a list of integers"));
  write("generation_config.json", R"({"eos_token_id": [1, "x"]})");
  CHECK_THROWS_AS(r1::checkpoint::read_eos_token_ids(dir), r1::ConfigError);
  write("generation_config.json", "{\"eos_token_id\": ");
  CHECK_THROWS_WITH(r1::checkpoint::read_eos_token_ids(dir), Catch::Contains("generation_config.json"));
  fs::remove_all(dir);
}

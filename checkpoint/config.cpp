#include "checkpoint/config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/config.h"
#include "core/error.h"

namespace r1::checkpoint {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& what) { throw ConfigError(source + ": " + what); }

int64_t positive(const json& j, const std::string& source, const char* key, int64_t fallback = -1) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback >= 0) return fallback;
    bad(source, std::string("missing \"") + key + "\"");
  }
  if (!it->is_number_integer() || it->get<int64_t>() <= 0) bad(source, std::string("\"") + key + "\" must be a positive integer");
  return it->get<int64_t>();
}

double number(const json& j, const std::string& source, const char* key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number() || it->get<double>() <= 0) bad(source, std::string("\"") + key + "\" must be a positive number");
  return it->get<double>();
}

bool flag(const json& j, const std::string& source, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) bad(source, std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

}  // namespace

const char* ModelConfig::architecture_name() const {
  switch (arch) {
    case Arch::kQwen2: return "Qwen2ForCausalLM";
    case Arch::kQwen3: return "Qwen3ForCausalLM";
    case Arch::kLlama: return "LlamaForCausalLM";
  }
  return "?";
}

const char* ModelConfig::model_type() const {
  switch (arch) {
    case Arch::kQwen2: return "qwen2";
    case Arch::kQwen3: return "qwen3";
    case Arch::kLlama: return "llama";
  }
  return "?";
}

int64_t ModelConfig::parameter_count() const {
  int64_t n = 0;
  for (const TensorShape& t : checkpoint_tensors(*this)) {
    int64_t k = 1;
    for (int64_t d : t.shape) k *= d;
    n += k;
  }
  return n;
}

ModelConfig parse_model_config(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad(source, "not a JSON object");
  ModelConfig c;
  std::string arch;
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string()) bad(source, "\"architectures\" must be a list of names");
    arch = (*it)[0].get<std::string>();
  } else if (auto mt = j.find("model_type"); mt != j.end() && mt->is_string()) {
    const std::string t = mt->get<std::string>();
    arch = t == "qwen2" ? "Qwen2ForCausalLM" : t == "qwen3" ? "Qwen3ForCausalLM" : t == "llama" ? "LlamaForCausalLM" : t;
  } else {
    bad(source, "no \"architectures\" or \"model_type\"");
  }
  if (arch == "Qwen2ForCausalLM") {
    c.arch = Arch::kQwen2;
  } else if (arch == "Qwen3ForCausalLM") {
    c.arch = Arch::kQwen3;
  } else if (arch == "LlamaForCausalLM") {
    c.arch = Arch::kLlama;
  } else {
    bad(source, "architecture '" + arch + "' is not supported (supported: Qwen2ForCausalLM, Qwen3ForCausalLM, LlamaForCausalLM)");
  }
  c.vocab_size = positive(j, source, "vocab_size");
  c.hidden_size = positive(j, source, "hidden_size");
  c.intermediate_size = positive(j, source, "intermediate_size");
  c.num_hidden_layers = positive(j, source, "num_hidden_layers");
  c.num_attention_heads = positive(j, source, "num_attention_heads");
  c.num_key_value_heads = positive(j, source, "num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    bad(source, "\"num_attention_heads\" (" + std::to_string(c.num_attention_heads) +
                    ") is not a multiple of \"num_key_value_heads\" (" + std::to_string(c.num_key_value_heads) + ")");
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = positive(j, source, "head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      bad(source, "\"hidden_size\" is not a multiple of \"num_attention_heads\" and there is no \"head_dim\"");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) bad(source, "\"head_dim\" must be even (rotary embeddings rotate pairs)");
  c.max_position_embeddings = positive(j, source, "max_position_embeddings", 32768);
  c.rms_norm_eps = number(j, source, "rms_norm_eps", 1e-6);
  c.rope_theta = number(j, source, "rope_theta", 10000.0);
  c.tie_word_embeddings = flag(j, source, "tie_word_embeddings", false);
  if (auto act = j.find("hidden_act"); act != j.end() && !act->is_null() && *act != "silu")
    bad(source, "\"hidden_act\" " + act->dump() + " is not supported (only \"silu\")");
  if (flag(j, source, "use_sliding_window", false)) bad(source, "\"use_sliding_window\": true is not supported");
  if (flag(j, source, "mlp_bias", false)) bad(source, "\"mlp_bias\": true is not supported");
  c.attention_bias = c.arch == Arch::kQwen2 ? true : flag(j, source, "attention_bias", false);
  c.qk_norm = c.arch == Arch::kQwen3;
  // Rotary scaling: "rope_scaling" (transformers 4) or "rope_parameters", which transformers 5 writes with
  // rope_theta inside it.
  auto rope = [&](const json& rs, const std::string& key) {
    if (!rs.is_object()) bad(source, "\"" + key + "\" must be an object or null");
    const std::string where = source + " " + key;
    if (key == "rope_parameters" && rs.contains("rope_theta")) c.rope_theta = number(rs, where, "rope_theta", 10000.0);
    const json& type_json = rs.contains("rope_type") ? rs["rope_type"] : rs.contains("type") ? rs["type"] : json("default");
    if (!type_json.is_string()) bad(where, "\"rope_type\" must be a string");
    const std::string type = type_json.get<std::string>();
    if (type == "llama3") {
      c.rope_scaling.factor = number(rs, where, "factor", 8.0);
      c.rope_scaling.low_freq_factor = number(rs, where, "low_freq_factor", 1.0);
      c.rope_scaling.high_freq_factor = number(rs, where, "high_freq_factor", 4.0);
      c.rope_scaling.original_max_position_embeddings = positive(rs, where, "original_max_position_embeddings", 8192);
    } else if (type != "default") {
      bad(source, key + " type '" + type + "' is not supported (supported: default, llama3)");
    }
  };
  for (const char* key : {"rope_scaling", "rope_parameters"})
    if (auto rs = j.find(key); rs != j.end() && !rs->is_null()) rope(*rs, key);
  for (const char* key : {"torch_dtype", "dtype"})  // transformers 5 writes "dtype"
    if (auto d = j.find(key); d != j.end() && d->is_string()) c.torch_dtype = d->get<std::string>();
  if (auto b = j.find("bos_token_id"); b != j.end() && b->is_number_integer()) c.bos_token_id = b->get<int64_t>();
  if (auto e = j.find("eos_token_id"); e != j.end()) {
    if (e->is_number_integer()) c.eos_token_ids.push_back(e->get<int64_t>());
    if (e->is_array())
      for (const json& x : *e)
        if (x.is_number_integer()) c.eos_token_ids.push_back(x.get<int64_t>());
  }
  return c;
}

std::vector<int64_t> read_eos_token_ids(const std::string& model_dir) {
  std::vector<int64_t> ids;
  for (const char* name : {"config.json", "generation_config.json"}) {
    const std::string path = model_dir + "/" + name;
    if (!std::filesystem::is_regular_file(path)) continue;
    const json j = read_json_file(path);
    if (!j.is_object()) throw ConfigError(path + ": expected a JSON object");
    auto e = j.find("eos_token_id");
    if (e == j.end() || e->is_null()) continue;
    std::vector<int64_t> found;
    if (e->is_number_integer()) found.push_back(e->get<int64_t>());
    else if (e->is_array() && std::all_of(e->begin(), e->end(), [](const json& x) { return x.is_number_integer(); }))
      for (const json& x : *e) found.push_back(x.get<int64_t>());
    else throw ConfigError(path + ": eos_token_id: expected an integer or a list of integers, got " + e->dump());
    for (int64_t id : found)
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

ModelConfig read_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open");
  std::stringstream s;
  s << in.rdbuf();
  return parse_model_config(s.str(), path);
}

std::string model_config_json(const ModelConfig& c) {
  json j = {{"architectures", {c.architecture_name()}},
            {"model_type", c.model_type()},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_hidden_layers},
            {"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"head_dim", c.head_dim},
            {"hidden_act", "silu"},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"torch_dtype", c.torch_dtype},
            {"use_cache", true},
            {"attention_dropout", 0.0},
            {"initializer_range", 0.02}};
  if (c.arch != Arch::kQwen2) j["attention_bias"] = c.attention_bias;
  if (c.arch != Arch::kLlama) {
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = c.num_hidden_layers;
  } else {
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  if (c.rope_scaling.factor > 0) {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling.factor},
                         {"low_freq_factor", c.rope_scaling.low_freq_factor},
                         {"high_freq_factor", c.rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return j.dump(2) + "\n";
}

ModelConfig preset_config(const std::string& arch, const std::string& preset, int64_t vocab_size) {
  ModelConfig c;
  if (arch == "qwen2") {
    c.arch = Arch::kQwen2;
  } else if (arch == "qwen3") {
    c.arch = Arch::kQwen3;
  } else if (arch == "llama") {
    c.arch = Arch::kLlama;
  } else {
    throw ConfigError("unknown architecture '" + arch + "' (known: qwen2, qwen3, llama)");
  }
  c.attention_bias = c.arch == Arch::kQwen2;
  c.qk_norm = c.arch == Arch::kQwen3;
  c.vocab_size = vocab_size;
  // name, hidden, intermediate, layers, heads, kv heads, head_dim (0: Qwen3's 32 or 16), context, tied
  // (-1: all but Llama), the vocabulary at least (the real models' padded sizes).
  struct Shape {
    const char* name;
    int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, context;
    int tied;
    int64_t min_vocab;
  };
  static const Shape kPresets[] = {
      {"tiny", 64, 128, 2, 4, 2, 0, 2048, -1, 0},
      {"25m", 512, 1408, 8, 8, 4, 64, 4096, 1, 0},  // ~24M parameters besides the embeddings
      {"qwen2.5-0.5b", 896, 4864, 24, 14, 2, 64, 32768, 1, 151936},
      {"qwen2.5-1.5b", 1536, 8960, 28, 12, 2, 128, 32768, 1, 151936},
      {"qwen2.5-7b", 3584, 18944, 28, 28, 4, 128, 32768, 0, 152064},
  };
  const Shape* shape = nullptr;
  for (const Shape& p : kPresets)
    if (preset == p.name) shape = &p;
  if (!shape) throw ConfigError("unknown preset '" + preset + "' (known: tiny, 25m, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b)");
  c.hidden_size = shape->hidden;
  c.intermediate_size = shape->intermediate;
  c.num_hidden_layers = shape->layers;
  c.num_attention_heads = shape->heads;
  c.num_key_value_heads = shape->kv_heads;
  // Qwen3's head_dim is its own, not hidden / heads.
  c.head_dim = shape->head_dim > 0 ? shape->head_dim : c.arch == Arch::kQwen3 ? 32 : 16;
  c.max_position_embeddings = shape->context;
  c.tie_word_embeddings = shape->tied < 0 ? c.arch != Arch::kLlama : shape->tied == 1;
  c.vocab_size = std::max<int64_t>(vocab_size, shape->min_vocab);
  c.rope_theta = c.arch == Arch::kLlama ? 500000.0 : 1000000.0;
  if (c.arch == Arch::kLlama) c.rope_scaling = RopeScaling{8.0, 1.0, 4.0, 8192};
  return c;
}

std::vector<TensorShape> checkpoint_tensors(const ModelConfig& c) {
  std::vector<TensorShape> out;
  out.push_back({"model.embed_tokens.weight", {c.vocab_size, c.hidden_size}});
  const bool o_bias = c.attention_bias && c.arch != Arch::kQwen2;  // Qwen2: q/k/v only
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    out.push_back({p + "input_layernorm.weight", {c.hidden_size}});
    out.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), c.hidden_size}});
    out.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), c.hidden_size}});
    out.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), c.hidden_size}});
    out.push_back({p + "self_attn.o_proj.weight", {c.hidden_size, c.q_dim()}});
    if (c.attention_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {c.q_dim()}});
      out.push_back({p + "self_attn.k_proj.bias", {c.kv_dim()}});
      out.push_back({p + "self_attn.v_proj.bias", {c.kv_dim()}});
    }
    if (o_bias) out.push_back({p + "self_attn.o_proj.bias", {c.hidden_size}});
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {c.head_dim}});
      out.push_back({p + "self_attn.k_norm.weight", {c.head_dim}});
    }
    out.push_back({p + "post_attention_layernorm.weight", {c.hidden_size}});
    out.push_back({p + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}});
    out.push_back({p + "mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}});
    out.push_back({p + "mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}});
  }
  out.push_back({"model.norm.weight", {c.hidden_size}});
  if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {c.vocab_size, c.hidden_size}});
  return out;
}

}  // namespace r1::checkpoint

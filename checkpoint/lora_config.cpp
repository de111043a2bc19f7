#include "checkpoint/lora_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/config.h"
#include "core/error.h"

namespace r1::checkpoint {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& where, const std::string& what) { throw ConfigError(where + ": " + what); }

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// PEFT's keys r1 reads and implements, and those that carry no meaning for the adapter's tensors
// (bookkeeping, or settings of initialisations r1 refuses anyway).
const std::set<std::string> kImplemented = {"peft_type", "r", "lora_alpha", "lora_dropout", "target_modules",
                                            "use_rslora", "init_lora_weights", "base_model_name_or_path"};
const std::set<std::string> kBookkeeping = {"auto_mapping", "revision", "inference_mode", "megatron_core", "peft_version",
                                            "qalora_group_size", "layers_pattern", "eva_config", "corda_config",
                                            "lora_ga_config", "ensure_weight_tying"};

// A value that turns nothing on: null, false, {} or [].
bool off(const json& v) {
  return v.is_null() || (v.is_boolean() && !v.get<bool>()) || ((v.is_object() || v.is_array()) && v.empty());
}

}  // namespace

double LoraOptions::scale() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r)) : lora_alpha / static_cast<double>(r);
}

void check_lora_options(const LoraOptions& o, const std::string& where) {
  if (o.r <= 0) bad(where, "r: the rank must be a positive integer, got " + std::to_string(o.r));
  if (!(o.lora_alpha > 0) || !std::isfinite(o.lora_alpha))
    bad(where, "lora_alpha: must be a positive number, got " + json(o.lora_alpha).dump());
  if (!(o.lora_dropout >= 0 && o.lora_dropout < 1))
    bad(where, "lora_dropout: must be in [0, 1), got " + json(o.lora_dropout).dump());
  if (o.init_lora_weights != "true" && o.init_lora_weights != "gaussian" && o.init_lora_weights != "false")
    bad(where, "init_lora_weights: '" + o.init_lora_weights + "' is not supported by r1 (true, \"gaussian\" or false)");
  if (o.target_modules.empty() && o.target_regex.empty()) bad(where, "target_modules: names no module");
}

namespace {

// target_modules: a list of names, or one string ("all-linear" or a regex); null keeps the default.
void read_targets(const json& v, LoraOptions& o, const std::string& where) {
  if (v.is_null()) return;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "all-linear") {
      o.target_modules.assign(std::begin(kLoraModules), std::end(kLoraModules));
      o.target_regex.clear();
    } else {
      o.target_modules.clear();
      o.target_regex = s;
    }
    return;
  }
  if (!v.is_array()) bad(where, "target_modules: expected a list of module names or a string, got " + v.dump());
  o.target_modules.clear();
  o.target_regex.clear();
  for (const json& x : v) {
    if (!x.is_string()) bad(where, "target_modules: expected module names, got " + x.dump());
    o.target_modules.push_back(x.get<std::string>());
  }
  if (o.target_modules.empty()) bad(where, "target_modules: the list is empty");
}

std::string init_text(const json& v, const std::string& where) {
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_string()) return v.get<std::string>();
  bad(where, "init_lora_weights: expected true, false or a string, got " + v.dump());
}

}  // namespace

LoraOptions read_lora_options(ConfigReader& r) {
  LoraOptions o;
  const std::string where = r.path().empty() ? "lora" : r.path();
  o.r = r.get("r", o.r);
  o.lora_alpha = r.get("lora_alpha", o.lora_alpha);
  o.lora_dropout = r.get("lora_dropout", o.lora_dropout);
  if (const json* t = r.raw("target_modules")) read_targets(*t, o, r.key_path("target_modules"));
  o.use_rslora = r.get("use_rslora", o.use_rslora);
  if (const json* i = r.raw("init_lora_weights")) o.init_lora_weights = init_text(*i, where);
  r.finish();
  check_lora_options(o, where);
  return o;
}

LoraOptions parse_peft_config(const std::string& text, const std::string& source) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) bad(source, "not a JSON object");
  auto key = [&](const char* k) -> const json* {
    auto it = j.find(k);
    return it == j.end() ? nullptr : &*it;
  };
  const json* type = key("peft_type");
  if (!type) bad(source, "no \"peft_type\" (is this a PEFT adapter?)");
  if (*type != "LORA") bad(source, "peft_type: " + type->dump() + " adapters are not supported by r1 (only \"LORA\")");
  LoraOptions o;
  if (const json* v = key("r"); v && !v->is_null()) {
    if (!v->is_number_integer()) bad(source, "r: expected an integer, got " + v->dump());
    o.r = v->get<int64_t>();
  }
  if (const json* v = key("lora_alpha"); v && !v->is_null()) {
    if (!v->is_number()) bad(source, "lora_alpha: expected a number, got " + v->dump());
    o.lora_alpha = v->get<double>();
  }
  if (const json* v = key("lora_dropout"); v && !v->is_null()) {
    if (!v->is_number()) bad(source, "lora_dropout: expected a number, got " + v->dump());
    o.lora_dropout = v->get<double>();
  }
  if (const json* v = key("target_modules")) read_targets(*v, o, source);
  if (const json* v = key("use_rslora"); v && !v->is_null()) {
    if (!v->is_boolean()) bad(source, "use_rslora: expected true or false, got " + v->dump());
    o.use_rslora = v->get<bool>();
  }
  if (const json* v = key("init_lora_weights"); v && !v->is_null()) {
    o.init_lora_weights = init_text(*v, source);
    if (o.init_lora_weights != "true" && o.init_lora_weights != "false" && o.init_lora_weights != "gaussian")
      bad(source, "init_lora_weights: \"" + o.init_lora_weights +
                      "\" is not supported by r1 (it changes the base weights or is unknown; true, false or \"gaussian\")");
  }
  if (const json* v = key("base_model_name_or_path"); v && v->is_string()) o.base_model_name_or_path = v->get<std::string>();
  // Everything else must be off, with two values that are on by name: bias "none" and task_type CAUSAL_LM.
  for (const auto& [k, v] : j.items()) {
    if (kImplemented.count(k) || kBookkeeping.count(k)) continue;
    if (k == "bias") {
      if (!v.is_null() && v != "none") bad(source, "bias: " + v.dump() + " is not supported by r1 (only \"none\")");
    } else if (k == "task_type") {
      if (!v.is_null() && v != "CAUSAL_LM") bad(source, "task_type: " + v.dump() + " is not supported by r1 (only \"CAUSAL_LM\")");
    } else if (k == "megatron_config" && !v.is_null()) {
      bad(source, "megatron_config: Megatron-parallel LoRA layers are not supported by r1");
    } else if (!off(v)) {
      bad(source, k + ": " + v.dump() + " is not supported by r1 (it reads LoRA adapters with this option off: null, false, {} or [])");
    }
  }
  check_lora_options(o, source);
  return o;
}

LoraOptions read_peft_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open (a PEFT adapter folder holds " + kPeftConfigFile + ")");
  std::stringstream s;
  s << in.rdbuf();
  return parse_peft_config(s.str(), path);
}

std::string peft_config_json(const LoraOptions& o) {
  json targets;
  if (!o.target_regex.empty()) {
    targets = o.target_regex;
  } else {
    // "all-linear" was read as the seven names: PEFT too saves the modules it found.
    std::vector<std::string> names = o.target_modules;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    targets = names;
  }
  json alpha = o.lora_alpha;
  if (o.lora_alpha == std::floor(o.lora_alpha) && std::abs(o.lora_alpha) < 1e15) alpha = static_cast<int64_t>(o.lora_alpha);
  json init = o.init_lora_weights == "true" ? json(true) : o.init_lora_weights == "false" ? json(false) : json(o.init_lora_weights);
  // nlohmann's json object keeps its keys sorted, as PEFT's json.dump(sort_keys=True) does.
  json j = {{"alpha_pattern", json::object()},
            {"auto_mapping", nullptr},
            {"base_model_name_or_path", o.base_model_name_or_path.empty() ? json(nullptr) : json(o.base_model_name_or_path)},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", init},
            {"layer_replication", nullptr},
            {"layers_pattern", nullptr},
            {"layers_to_transform", nullptr},
            {"loftq_config", json::object()},
            {"lora_alpha", alpha},
            {"lora_dropout", o.lora_dropout},
            {"megatron_config", nullptr},
            {"megatron_core", "megatron.core"},
            {"modules_to_save", nullptr},
            {"peft_type", "LORA"},
            {"r", o.r},
            {"rank_pattern", json::object()},
            {"revision", nullptr},
            {"target_modules", targets},
            {"task_type", "CAUSAL_LM"},
            {"use_dora", false},
            {"use_rslora", o.use_rslora}};
  return j.dump(2) + "\n";
}

std::vector<LoraTarget> lora_targets(const ModelConfig& c, const LoraOptions& o, const std::string& where) {
  struct Candidate {
    std::string module;
    int64_t layer, in, out;
  };
  std::vector<Candidate> all;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    all.push_back({p + "self_attn.q_proj", i, c.hidden_size, c.q_dim()});
    all.push_back({p + "self_attn.k_proj", i, c.hidden_size, c.kv_dim()});
    all.push_back({p + "self_attn.v_proj", i, c.hidden_size, c.kv_dim()});
    all.push_back({p + "self_attn.o_proj", i, c.q_dim(), c.hidden_size});
    all.push_back({p + "mlp.gate_proj", i, c.hidden_size, c.intermediate_size});
    all.push_back({p + "mlp.up_proj", i, c.hidden_size, c.intermediate_size});
    all.push_back({p + "mlp.down_proj", i, c.intermediate_size, c.hidden_size});
  }
  const std::string arch = c.architecture_name();
  const std::string known = "the layers' linear modules q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj";
  auto refuse_outside = [&](const std::string& target, const std::string& module) {
    bad(where, "target_modules: '" + target + "' names " + module + ", which r1's LoRA does not adapt (" + known + ")");
  };
  std::vector<bool> chosen(all.size(), false);
  if (!o.target_regex.empty()) {
    std::regex re;
    try {
      re = std::regex(o.target_regex);
    } catch (const std::regex_error& e) {
      bad(where, "target_modules: '" + o.target_regex + "' is not a valid regular expression: " + e.what());
    }
    for (const char* outside : {"lm_head", "model.embed_tokens"})
      if (std::regex_match(outside, re)) refuse_outside(o.target_regex, outside);
    bool any = false;
    for (size_t k = 0; k < all.size(); ++k)
      if (std::regex_match(all[k].module, re)) chosen[k] = any = true;
    if (!any) bad(where, "target_modules: the regex '" + o.target_regex + "' matches no module of a " + arch + " (" + known + ")");
  } else {
    for (const std::string& t : o.target_modules) {
      if (t == "lm_head" || t == "embed_tokens" || t == "model.embed_tokens") refuse_outside(t, t);
      bool any = false;
      for (size_t k = 0; k < all.size(); ++k)
        if (all[k].module == t || ends_with(all[k].module, "." + t)) chosen[k] = any = true;
      if (!any) bad(where, "target_modules: '" + t + "' is not a module of a " + arch + " with " +
                               std::to_string(c.num_hidden_layers) + " layers (" + known + ")");
    }
  }
  std::vector<LoraTarget> out;
  for (size_t k = 0; k < all.size(); ++k) {
    if (!chosen[k]) continue;
    const Candidate& a = all[k];
    const std::string peft = "base_model.model." + a.module;
    out.push_back({a.module, a.module + ".weight", a.layer, a.in, a.out, peft + ".lora_A.weight", peft + ".lora_B.weight"});
  }
  return out;
}

std::vector<std::string> lora_target_names(const std::vector<LoraTarget>& targets) {
  std::set<std::string> names;
  for (const LoraTarget& t : targets) names.insert(t.module.substr(t.module.rfind('.') + 1));
  return {names.begin(), names.end()};
}

}  // namespace r1::checkpoint

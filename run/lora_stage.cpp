// A training stage's `lora` block: see lora_stage.h.
#include "run/lora_stage.h"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/config.h"
#include "core/error.h"

namespace r1::run {

StageLora StageLora::read(ConfigReader& stage) {
  StageLora l;
  l.key = stage.key_path("lora");
  const nlohmann::json* raw = stage.raw("lora");
  if (!raw || raw->is_null()) return l;
  if (!raw->is_object()) throw ConfigError(l.key + ": expected an object like {\"r\": 16, \"lora_alpha\": 32}, got " + raw->dump());
  l.enabled = true;
  ConfigReader r = stage.child("lora");
  l.adapter = r.get("adapter", std::string());
  l.base_bf16 = r.get_choice("base_dtype", "fp32", {"fp32", "bf16"}) == "bf16";
  if (!l.adapter.empty()) {
    for (const char* k : {"r", "lora_alpha", "target_modules", "use_rslora", "init_lora_weights", "lora_dropout"})
      if (r.has(k))
        throw ConfigError(r.key_path(k) + ": set by the adapter's adapter_config.json (" + l.key +
                          ".adapter); give either an adapter or the options of a fresh one");
    r.finish();
    return l;
  }
  l.options = checkpoint::read_lora_options(r);  // finishes the reader; checks r, alpha, dropout
  return l;
}

checkpoint::LoraOptions stage_lora_options(const StageLora& lora) {
  if (lora.adapter.empty()) return lora.options;
  const std::string path = (std::filesystem::path(lora.adapter) / checkpoint::kPeftConfigFile).string();
  try {
    return checkpoint::read_peft_config(path);
  } catch (const Error& e) {
    throw ConfigError(lora.key + ".adapter: " + e.what());
  }
}

}  // namespace r1::run

// A stage's inputs checked before it runs: see stage_inputs.h.
#include "run/stage_inputs.h"

#include <filesystem>
#include <fstream>

#include "checkpoint/config.h"
#include "checkpoint/safetensors.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace r1::run {
namespace {

void check_data_file(const std::string& key, const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw Error(key + ": " + path + ": no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(key + ": " + path + ": cannot be read");
}

// A stage's `lora` block against its model: the adapter to start from is a whole PEFT folder, and the
// modules it targets (or a fresh adapter's) exist in the model's architecture.
void check_lora(const std::string& at, const StageLora& lora, const std::string& model_dir) {
  if (!lora.enabled) return;
  try {
    const checkpoint::LoraOptions options = stage_lora_options(lora);
    if (!lora.adapter.empty())  // its header fits its file
      checkpoint::SafetensorsFile weights((fs::path(lora.adapter) / checkpoint::kPeftWeightsFile).string());
    const checkpoint::ModelConfig config = checkpoint::read_model_config((fs::path(model_dir) / "config.json").string());
    checkpoint::lora_targets(config, options, lora.adapter.empty() ? lora.key : lora.adapter);
  } catch (const Error& e) {
    throw Error(at + ": " + e.what());
  }
}

}  // namespace

void check_model_folder(const std::string& key, const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(key + ": " + dir + " holds no model (no such folder)");
  try {
    checkpoint::read_model_config((fs::path(dir) / "config.json").string());
    checkpoint::Checkpoint weights(dir);  // maps every file: a header that does not fit its file is refused
    if (!fs::exists(fs::path(dir) / "tokenizer.json")) throw Error(dir + "/tokenizer.json: missing");
  } catch (const Error& e) {
    throw Error(key + ": " + e.what());
  }
}

void check_stage_inputs(const std::string& stage, const StageConfig& config) {
  const std::string at = "stage '" + stage + "'";
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, GrpoConfig>) {
          check_model_folder(at + ": model", c.model);
          check_lora(at, c.lora, c.model);
          check_data_file(at + ": train", c.train_data);
          check_data_file(at + ": eval.data", c.eval.data);
        } else if constexpr (std::is_same_v<T, SftConfig>) {
          check_model_folder(at + ": model", c.model);
          check_lora(at, c.lora, c.model);
          check_data_file(at + ": train", c.train_data);
        } else if constexpr (std::is_same_v<T, DistillConfig>) {
          // The teacher is only measured against the student (its config.json), never loaded.
          try {
            checkpoint::read_model_config((fs::path(c.teacher) / "config.json").string());
          } catch (const Error& e) {
            throw Error(at + ": teacher: " + e.what());
          }
          check_model_folder(at + ": model", c.sft.model);
          check_lora(at, c.sft.lora, c.sft.model);
          check_data_file(at + ": train", c.sft.train_data);
        } else if constexpr (std::is_same_v<T, RejectionSampleConfig>) {
          check_model_folder(at + ": model", c.model);
          check_data_file(at + ": prompts", c.prompts);
        } else if constexpr (std::is_same_v<T, EvalStageConfig>) {
          for (const auto& e : c.models) {
            std::error_code ec;
            if (e.optional && !fs::exists(e.model, ec)) continue;
            check_model_folder(at + ": model '" + e.name + "'", e.model);
          }
          check_data_file(at + ": data", c.eval.data);
        }
      },
      config);
}

}  // namespace r1::run

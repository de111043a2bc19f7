// r1 model memory: what a training stage holds per device (checkpoint/memory_model.h), for a model
// folder or a preset, full fine-tuning or LoRA, from flags or a recipe's grpo / sft stage. LibTorch-free:
// it reads configurations only, so it answers in milliseconds on a machine without a GPU.
#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/memory_model.h"
#include "cli/command.h"
#include "core/config.h"
#include "core/error.h"
#include "rewards/reward_set.h"
#include "run/recipe_plan.h"
#include "run/stage.h"

namespace r1::cli {
namespace {

namespace fs = std::filesystem;
using checkpoint::TrainingMemory;
using checkpoint::TrainingMemoryOptions;

struct MemoryArgs {
  std::string model, preset, arch = "qwen2", recipe, stage, target_modules = "q_proj,v_proj", compute = "bf16",
              device = "cuda", rollout_precision = "fp8", base_dtype = "fp32";
  int64_t lora_r = 0, micro_batch_tokens = 8192, world_size = 1, zero_stage = 0, sequence_tokens = 0,
          prompt_tokens = 256, max_new_tokens = 1024;
  double lora_alpha = 0, lora_dropout = 0, beta = 0, kv_cache_mb = 256, device_memory_gb = 0;
  bool activation_checkpointing = false, colocate = false, single_micro_batch = false, json = false;
};

std::string size_text(int64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1 << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1 << 20));
  return buf;
}

std::string count_text(int64_t n) {
  char buf[32];
  const double x = static_cast<double>(n);
  if (n >= 1000000000) std::snprintf(buf, sizeof buf, "%.2fB", x / 1e9);
  else if (n >= 1000000) std::snprintf(buf, sizeof buf, "%.1fM", x / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1fK", x / 1e3);
  return buf;
}

std::string join_modules(const std::vector<std::string>& names) {
  if (names.size() == std::size(checkpoint::kLoraModules)) return "all-linear";
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::vector<std::string> split_modules(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text + ",") {
    if (ch == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (ch != ' ') {
      cur += ch;
    }
  }
  return out;
}

// The model's configuration: --model's config.json, --preset's shapes, or the recipe stage's model.
checkpoint::ModelConfig model_config(const MemoryArgs& a, const std::string& stage_model, const std::string& stage_where) {
  if (!a.model.empty()) return checkpoint::read_model_config((fs::path(a.model) / "config.json").string());
  if (!a.preset.empty()) return checkpoint::preset_config(a.arch, a.preset, 0);
  if (!stage_model.empty()) {
    const fs::path config = fs::path(stage_model) / "config.json";
    if (fs::exists(config)) return checkpoint::read_model_config(config.string());
    throw ConfigError(stage_where + ".model: " + config.string() +
                      " does not exist (a model made by an earlier stage, or not downloaded yet); give --model DIR or --preset NAME");
  }
  throw ConfigError("r1 model memory: give --model DIR, --preset NAME or --recipe FILE");
}

struct Described {
  TrainingMemoryOptions options;
  checkpoint::ModelConfig config;
  std::string stage;  // "recipe.json (zero, grpo)" or ""
};

// The options from the recipe's stage (when given), then every flag given on the command line.
Described describe(const MemoryArgs& a, const CLI::App& cmd) {
  Described d;
  TrainingMemoryOptions& o = d.options;
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  o.micro_batch_tokens = a.micro_batch_tokens;
  int64_t max_new_tokens = a.max_new_tokens;
  std::string stage_model, stage_where;
  if (!a.recipe.empty()) {
    nlohmann::json recipe = run::load_recipe(a.recipe, {});
    const nlohmann::json* found = nullptr;
    if (recipe.contains("stages") && recipe["stages"].is_array())
      for (const nlohmann::json& s : recipe["stages"]) {
        if (!s.is_object()) continue;
        const std::string name = s.value("name", ""), kind = s.value("kind", "");
        if (a.stage.empty() ? (kind == "grpo" || kind == "sft") : name == a.stage) {
          found = &s;
          break;
        }
      }
    if (!found)
      throw ConfigError(a.recipe + ": " + (a.stage.empty() ? std::string("no grpo or sft stage") : "no stage named '" + a.stage + "'"));
    nlohmann::json stage = *found;
    const std::string name = stage.value("name", ""), kind = stage.value("kind", "");
    stage_where = a.recipe + " (" + name + ")";
    if (kind != "grpo" && kind != "sft")
      throw ConfigError(stage_where + ": a " + kind + " stage trains nothing (grpo and sft stages do)");
    d.stage = stage_where;
    ConfigReader r(stage, stage_where);
    // What grpo and sft stages share: the model, the `lora` block as the trainer reads it (a starting
    // adapter's options from its folder), micro-batches, checkpointing and the products' dtype.
    auto take_common = [&](const auto& c) {
      stage_model = c.model;
      o.lora = c.lora.enabled;
      if (c.lora.enabled) o.lora_options = run::stage_lora_options(c.lora);
      o.base_bf16 = c.lora.base_bf16;
      o.micro_batch_tokens = c.micro_batch_tokens;
      o.activation_checkpointing = c.activation_checkpointing;
      o.bf16_compute = c.compute_dtype != ComputeDtype::kFp32;
    };
    r.require_string("name");
    r.require_string("kind");
    if (kind == "grpo") {
      const run::GrpoConfig c = std::get<run::GrpoConfig>(run::read_grpo_stage(r, reward_services()));
      take_common(c);
      o.reference = c.loss.beta > 0;
      o.zero_stage = c.optim.zero_stage;
      o.colocated = c.rollout.colocate;
      o.rollout_precision = c.rollout.precision;
      o.kv_cache_bytes = c.rollout.kv_cache_mb * (1 << 20);
      max_new_tokens = c.max_new_tokens;
      o.sequence_tokens = a.prompt_tokens + max_new_tokens;
    } else {
      const run::SftConfig c = std::get<run::SftConfig>(run::read_sft_stage(r, reward_services()));
      take_common(c);
      o.sequence_tokens = c.seq_len;  // packed rows
      o.kv_cache_bytes = 0;
      o.colocated = true;  // no rollout engine: nothing on a worker
      o.rollout_precision = WeightPrecision::kFp8;
    }
  } else {
    o.sequence_tokens = a.prompt_tokens + max_new_tokens;
    o.kv_cache_bytes = a.kv_cache_mb * (1 << 20);
  }
  if (given("--base-dtype")) o.base_bf16 = a.base_dtype == "bf16";
  if (given("--lora-r")) {
    o.lora = a.lora_r > 0;
    if (o.lora) {
      o.lora_options.r = a.lora_r;
      o.lora_options.lora_alpha = given("--lora-alpha") ? a.lora_alpha : 2.0 * static_cast<double>(a.lora_r);
    }
  }
  if (o.lora) {
    if (given("--lora-alpha")) o.lora_options.lora_alpha = a.lora_alpha;
    if (given("--lora-dropout")) o.lora_options.lora_dropout = a.lora_dropout;
    if (given("--target-modules") || (given("--lora-r") && a.recipe.empty())) {
      o.lora_options.target_regex.clear();
      o.lora_options.target_modules.clear();
      if (a.target_modules == "all-linear")
        o.lora_options.target_modules.assign(std::begin(checkpoint::kLoraModules), std::end(checkpoint::kLoraModules));
      else o.lora_options.target_modules = split_modules(a.target_modules);
    }
  }
  if (given("--micro-batch-tokens")) o.micro_batch_tokens = a.micro_batch_tokens;
  if (given("--activation-checkpointing")) o.activation_checkpointing = a.activation_checkpointing;
  if (given("--compute-dtype")) o.bf16_compute = a.compute == "bf16";
  if (given("--beta")) o.reference = a.beta > 0;
  if (given("--zero-stage")) o.zero_stage = a.zero_stage;
  if (given("--colocate")) o.colocated = a.colocate;
  if (given("--rollout-precision")) o.rollout_precision = parse_weight_precision(a.rollout_precision, "--rollout-precision");
  if (given("--kv-cache-mb")) o.kv_cache_bytes = a.kv_cache_mb * (1 << 20);
  if (given("--sequence-tokens")) o.sequence_tokens = a.sequence_tokens;
  else if (given("--prompt-tokens") || given("--max-new-tokens"))
    o.sequence_tokens = a.prompt_tokens + (given("--max-new-tokens") ? a.max_new_tokens : max_new_tokens);
  o.world_size = a.world_size;
  o.single_micro_batch = a.single_micro_batch;
  o.cuda = a.device == "cuda";
  if (!o.cuda && !given("--compute-dtype") && a.recipe.empty()) o.bf16_compute = false;
  d.config = model_config(a, stage_model, stage_where);
  return d;
}

// What the CUDA runtime takes besides tensors (context, cuBLAS workspace): an allowance, not a measurement.
constexpr int64_t kCudaOverhead = int64_t{1} << 30;

void print_table(const MemoryArgs& a, const Described& d, const TrainingMemory& m) {
  const TrainingMemoryOptions& o = d.options;
  const checkpoint::ModelConfig& c = d.config;
  std::string what = !a.preset.empty() ? a.preset : !a.model.empty() ? a.model : d.stage;
  std::printf("%s: %s, %s parameters, vocabulary %lld\n", what.c_str(), c.architecture_name(), count_text(m.parameters).c_str(),
              static_cast<long long>(c.vocab_size));
  if (o.lora) {
    const std::string targets = !o.lora_options.target_regex.empty() ? o.lora_options.target_regex
                                                                     : join_modules(o.lora_options.target_modules);
    std::printf("training: LoRA r=%lld alpha=%g on %s: %s trained (%.2f%%), base frozen\n",
                static_cast<long long>(o.lora_options.r), o.lora_options.lora_alpha, targets.c_str(),
                count_text(m.trained_parameters).c_str(), 100.0 * static_cast<double>(m.trained_parameters) / static_cast<double>(m.parameters));
  } else {
    std::printf("training: full fine-tuning, every parameter\n");
  }
  std::printf("micro-batch: %lld x %lld tokens = %lld; %s products; %s; %s; %lld rank%s, ZeRO-%lld\n\n",
              static_cast<long long>(m.micro_batch_sequences), static_cast<long long>(o.sequence_tokens),
              static_cast<long long>(m.micro_batch_tokens), o.bf16_compute ? "bf16" : "fp32",
              o.activation_checkpointing ? "activation checkpointing" : "no activation checkpointing", o.cuda ? "GPU" : "CPU",
              static_cast<long long>(o.world_size), o.world_size == 1 ? "" : "s", static_cast<long long>(o.zero_stage));
  auto row = [](const std::string& name, const std::string& value, const std::string& note = "") {
    if (note.empty()) std::printf("  %-34s %12s\n", name.c_str(), value.c_str());
    else std::printf("  %-34s %12s  %s\n", name.c_str(), value.c_str(), note.c_str());
  };
  std::printf("  %-34s %12s\n", "component", "per device");
  row("weights, trained (fp32)", size_text(m.trained_weights), o.lora ? "the adapter's A and B" : "");
  if (o.lora)
    row(o.base_bf16 ? "weights, frozen base (bf16)" : "weights, frozen base (fp32)", size_text(m.frozen_weights),
        o.base_bf16 ? "lora.base_dtype bf16" : "lora.base_dtype fp32 (bf16 halves it)");
  row("gradients (fp32)", size_text(m.gradients), o.zero_stage == 2 && o.single_micro_batch ? "ZeRO-2: this rank's share" : "");
  row("optimizer (AdamW, 2 x fp32)", size_text(m.optimizer), o.zero_stage >= 1 && o.world_size > 1 ? "this rank's share" : "");
  row("reference policy", o.lora ? "0" : size_text(m.reference),
      o.lora ? "the base with the adapter off" : o.reference ? "fp32 copy (beta > 0)" : "beta = 0");
  row("activations (one micro-batch)", size_text(m.activations), o.activation_checkpointing ? "each layer's input" : "every layer's saved tensors");
  row("log-prob chunk transients", size_text(m.logits), o.lora ? "" : "with the head's gradient");
  if (o.activation_checkpointing) row("recomputed layer", size_text(m.backward_workspace), "one layer's activations and gradients");
  row("optimizer-step transients", size_text(m.optimizer_step), "fp64 norm of the largest tensor");
  const std::string where = o.colocated ? "colocated" : "per worker device";
  row(std::string("rollout weights (") + name(o.rollout_precision) + ")", size_text(m.rollout_weights), where);
  row("rollout KV cache", size_text(m.kv_cache), where);
  if (o.cuda) row("CUDA context + workspace", size_text(kCudaOverhead), "an allowance");
  std::printf("\n");
  row("steady (held between steps)", size_text(m.steady));
  row("peak: backward", size_text(m.backward_peak));
  row("peak: optimizer step", size_text(m.step_peak));
  if (o.colocated) row("peak: generation", size_text(m.generation_peak));
  const int64_t total = m.peak + (o.cuda ? kCudaOverhead : 0);
  row("total per trainer device", size_text(total));
  if (!o.colocated && m.worker_peak > 0) row("total per rollout worker", size_text(m.worker_peak + (o.cuda ? kCudaOverhead : 0)));
  const double gib = static_cast<double>(total) / (1 << 30);
  if (a.device_memory_gb > 0) {
    const double margin = a.device_memory_gb - gib;
    std::printf("\n%s a %g GiB device (%.1f GiB %s)\n", margin >= 0 ? "fits" : "does not fit", a.device_memory_gb, std::fabs(margin),
                margin >= 0 ? "to spare" : "over");
  } else if (o.cuda) {
    const double sizes[] = {16, 24, 40, 48, 80, 141};
    double fits = 0;
    for (double s : sizes)
      if (gib <= s) {
        fits = s;
        break;
      }
    if (fits > 0) std::printf("\nfits a %g GiB GPU (smallest of 16, 24, 40, 48, 80, 141 GiB)\n", fits);
    else std::printf("\nneeds more than a 141 GiB GPU: LoRA, activation checkpointing, ZeRO over more ranks or smaller micro-batches\n");
  }
}

nlohmann::json to_json(const Described& d, const TrainingMemory& m) {
  const TrainingMemoryOptions& o = d.options;
  nlohmann::json j;
  j["parameters"] = m.parameters;
  j["trained_parameters"] = m.trained_parameters;
  j["lora"] = o.lora ? nlohmann::json{{"r", o.lora_options.r}, {"lora_alpha", o.lora_options.lora_alpha}} : nlohmann::json(nullptr);
  j["micro_batch"] = {{"sequences", m.micro_batch_sequences}, {"sequence_tokens", o.sequence_tokens}, {"tokens", m.micro_batch_tokens}};
  j["options"] = {{"bf16_compute", o.bf16_compute}, {"activation_checkpointing", o.activation_checkpointing},
                  {"device", o.cuda ? "cuda" : "cpu"}, {"reference", o.reference}, {"world_size", o.world_size},
                  {"zero_stage", o.zero_stage}, {"colocated", o.colocated}, {"rollout_precision", name(o.rollout_precision)}};
  j["bytes"] = {{"trained_weights", m.trained_weights}, {"frozen_weights", m.frozen_weights}, {"gradients", m.gradients},
                {"optimizer", m.optimizer}, {"reference", m.reference}, {"activations", m.activations}, {"logits", m.logits},
                {"backward_workspace", m.backward_workspace}, {"optimizer_step", m.optimizer_step},
                {"rollout_weights", m.rollout_weights}, {"kv_cache", m.kv_cache}, {"cuda_overhead", o.cuda ? kCudaOverhead : 0},
                {"steady", m.steady}, {"backward_peak", m.backward_peak}, {"step_peak", m.step_peak},
                {"generation_peak", m.generation_peak}, {"peak", m.peak},
                {"total", m.peak + (o.cuda ? kCudaOverhead : 0)}, {"worker", m.worker_peak}};
  return j;
}

}  // namespace

void add_model_memory_command(CLI::App& model) {
  auto a = std::make_shared<MemoryArgs>();
  auto* cmd = model.add_subcommand(
      "memory",
      "Bytes per device a training stage holds (weights, gradients, AdamW moments, reference, activations, rollout "
      "weights and KV cache), full fine-tuning or LoRA, from flags or a recipe's grpo/sft stage: what fits before running");
  cmd->add_option("--model", a->model, "A model folder (its config.json)");
  cmd->add_option("--preset", a->preset, "A preset's shapes instead: tiny, 25m, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b")
      ->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b"}));
  cmd->add_option("--arch", a->arch, "The preset's architecture")->check(CLI::IsMember({"qwen2", "qwen3", "llama"}))->capture_default_str();
  cmd->add_option("--recipe", a->recipe, "Read the options of a recipe's grpo or sft stage (flags given override them)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--stage", a->stage, "The recipe's stage (default: its first grpo or sft stage)");
  cmd->add_option("--lora-r", a->lora_r, "LoRA rank (0: full fine-tuning)")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--lora-alpha", a->lora_alpha, "LoRA alpha (default 2 r)");
  cmd->add_option("--lora-dropout", a->lora_dropout, "LoRA dropout (its mask is kept for the backward)");
  cmd->add_option("--target-modules", a->target_modules, "Modules LoRA adapts: comma-separated names, or all-linear")
      ->capture_default_str();
  cmd->add_option("--base-dtype", a->base_dtype, "LoRA's frozen base: fp32, or bf16 (lora.base_dtype)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--micro-batch-tokens", a->micro_batch_tokens, "Padded tokens per forward/backward")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--prompt-tokens", a->prompt_tokens, "Prompt tokens of a sequence")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "Completion tokens of a sequence")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--sequence-tokens", a->sequence_tokens, "A sequence's padded length (default: prompt + completion tokens)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--activation-checkpointing", a->activation_checkpointing, "Recompute each layer in the backward pass");
  cmd->add_option("--compute-dtype", a->compute, "Matrix products (auto on a GPU: bf16)")->check(CLI::IsMember({"bf16", "fp32"}))
      ->capture_default_str();
  cmd->add_option("--beta", a->beta, "KL coefficient: > 0 holds a reference policy (a full fp32 copy without LoRA)")
      ->capture_default_str();
  cmd->add_option("--world-size", a->world_size, "Data-parallel ranks")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--zero-stage", a->zero_stage, "0, 1 (AdamW moments partitioned) or 2 (and gradients)")
      ->check(CLI::Range(0, 2))->capture_default_str();
  cmd->add_flag("--single-micro-batch", a->single_micro_batch,
                "One micro-batch per minibatch: ZeRO-2's gradients stay partitioned (else every rank holds them all until the last backward)");
  cmd->add_flag("--colocate", a->colocate, "The rollout engine in the trainer's process, on its device");
  cmd->add_option("--rollout-precision", a->rollout_precision, "Rollout weights: fp8, bf16 or fp32")
      ->check(CLI::IsMember({"fp8", "bf16", "fp32"}))->capture_default_str();
  cmd->add_option("--kv-cache-mb", a->kv_cache_mb, "Rollout KV cache budget")->capture_default_str();
  cmd->add_option("--device", a->device, "Where it trains: cuda or cpu")->check(CLI::IsMember({"cuda", "cpu"}))->capture_default_str();
  cmd->add_option("--device-memory-gb", a->device_memory_gb, "Say whether it fits a device of this many GiB");
  cmd->add_flag("--json", a->json, "One JSON object (bytes) instead of the table");
  cmd->callback([a, cmd] {
    if (!a->model.empty() && !a->preset.empty()) throw ConfigError("r1 model memory: give --model or --preset, not both");
    const Described d = describe(*a, *cmd);
    const TrainingMemory m = checkpoint::estimate_training_memory(d.config, d.options);
    if (a->json) std::printf("%s\n", to_json(d, m).dump(2).c_str());
    else print_table(*a, d, m);
  });
}

}  // namespace r1::cli

// Commands that need LibTorch run from a shared module, libr1_torch.so, built next to the `r1`
// executable and loaded on first use. Linking LibTorch into `r1` itself would cost every invocation
// (even `r1 --version` or `r1 tokenize` in a shell pipeline) ~0.5 s and ~160 MiB of start-up: the
// dynamic linker relocates libtorch_cpu and its static initialisers register thousands of operators.
//
// The module exports one C function returning a table of plain C++ functions; the table's types are
// declared here, free of LibTorch, so the CLI parses options without it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/torch_bench.h"
#include "rollout/worker_options.h"
#include "rollout/group.h"
#include "trainer/recipe.h"

namespace r1::cli {

struct TorchContext {
  int threads = 0;    // 0 = one per core
  int log_level = 1;  // r1::log::Level
};

// r1 model init
struct ModelInitOptions {
  std::string arch = "qwen2", preset = "tiny", out, tokenizer, dtype = "bf16";
  uint64_t seed = 0;
  int64_t vocab_size = 0;  // 0: the tokenizer's
};

// r1 model merge-lora
struct ModelMergeLoraOptions {
  std::string base, adapter, out;
  std::string dtype = "auto";  // the base's torch_dtype (bf16 or fp32), or bf16 / fp32
};

// r1 generate
struct GenerateOptions {
  std::string model, prompt, dtype = "fp32";
  std::string adapter;  // a PEFT LoRA adapter folder applied to the model; empty: none
  DeviceChoice device;
  bool chat = false;
  // The rollout seam's parameters (rollout/group.h), as the workers get them; stop ids are added by
  // the shared rule (tokenizer/chat_template.h).
  rollout::SamplingParams sampling = [] {
    rollout::SamplingParams p;
    p.temperature = 0.7;
    return p;
  }();
};

// r1 bench model | rollout | train (bench/torch_bench.h; free of LibTorch)
using ModelBenchOptions = bench::ModelBenchOptions;
using RolloutBenchOptions = bench::RolloutBenchOptions;
using TrainBenchOptions = bench::TrainBenchOptions;
using DistributedBenchOptions = bench::DistributedBenchOptions;
using LoraBenchOptions = bench::LoraBenchOptions;

// r1 rollout serve: the worker's options as they are (rollout/worker_options.h); threads come from
// the TorchContext.
using RolloutServeOptions = rollout::WorkerOptions;

// r1 run: a recipe (trainer/recipe.h; free of LibTorch)
using RunRecipeOptions = trainer::RecipeRun;

struct TorchCommands {
  int abi_version;  // kTorchAbiVersion of the module
  std::string (*runtime_info)(const TorchContext& context);
  void (*model_init)(const TorchContext& context, const ModelInitOptions& options);
  void (*generate)(const TorchContext& context, const GenerateOptions& options);
  void (*bench_model)(const TorchContext& context, const ModelBenchOptions& options);
  void (*rollout_serve)(const TorchContext& context, const RolloutServeOptions& options);
  void (*bench_rollout)(const TorchContext& context, const RolloutBenchOptions& options);
  void (*run_recipe)(const TorchContext& context, const RunRecipeOptions& options);
  void (*bench_train)(const TorchContext& context, const TrainBenchOptions& options);
  void (*bench_distributed)(const TorchContext& context, const DistributedBenchOptions& options);
  void (*model_merge_lora)(const TorchContext& context, const ModelMergeLoraOptions& options);
  void (*bench_lora)(const TorchContext& context, const LoraBenchOptions& options);
};

inline constexpr int kTorchAbiVersion = 13;

// Loads the module on first call (R1_TORCH_MODULE overrides its path). Throws r1::Error naming the
// path and the loader's message when it cannot.
const TorchCommands& torch_commands();
TorchContext torch_context();

}  // namespace r1::cli

extern "C" const r1::cli::TorchCommands* r1_torch_commands();

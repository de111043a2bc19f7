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

#include "rollout/server.h"
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

// r1 generate
struct GenerateOptions {
  std::string model, prompt, dtype = "fp32";
  bool chat = false;
  int64_t n = 1, top_k = 0, max_new_tokens = 256;
  double temperature = 0.7, top_p = 1.0, min_p = 0.0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
};

// r1 bench model
struct ModelBenchOptions {
  std::vector<std::string> presets = {"25m", "qwen2.5-0.5b"};
  std::string dtype = "bf16";
  int64_t prefill_tokens = 256, train_batch = 2, train_tokens = 128, decode_steps = 8, prompt_tokens = 64;
  std::vector<int64_t> decode_batches = {1, 16, 64};
};

// r1 rollout serve: the worker's options as they are (rollout/server.h is free of LibTorch); threads
// come from the TorchContext.
using RolloutServeOptions = rollout::ServerOptions;

// r1 bench rollout
struct RolloutBenchOptions {
  std::string preset = "25m";
  int64_t prompts = 32, samples = 8, prompt_tokens = 64, new_tokens = 256;
  double kv_cache_mb = 1024;
  bool naive = true;  // also time the naive loop (slow: no KV cache, no batching)
};

// r1 bench train
struct TrainBenchOptions {
  std::vector<std::string> configs = {"tiny", "25m"};
  std::string dtype = "auto";  // the trainer's compute_dtype
  int64_t groups = 8, group_size = 8, prompt_tokens = 96, completion_tokens = 160;
  int64_t micro_batch_tokens = 8192;
  int64_t updates = 2;         // timed updates per config (after a warm-up); the best is reported
  bool checkpointing = true;   // also time with activation checkpointing
  int64_t grpo_steps = 5;      // whole GRPO steps per staleness setting (0: skip)
};

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
};

inline constexpr int kTorchAbiVersion = 6;

// Loads the module on first call (R1_TORCH_MODULE overrides its path). Throws r1::Error naming the
// path and the loader's message when it cannot.
const TorchCommands& torch_commands();
TorchContext torch_context();

}  // namespace r1::cli

extern "C" const r1::cli::TorchCommands* r1_torch_commands();

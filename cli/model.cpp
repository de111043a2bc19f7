// r1 model memory (model_memory.cpp): bytes per device a training stage holds; r1 model init: a random-weight checkpoint in Hugging Face's layout; r1 model merge-lora: a PEFT LoRA
// adapter merged into its base, written as a plain checkpoint; r1 generate: completions from a model
// folder (and an adapter). They run in the LibTorch module (torch_module.h); options are parsed here.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/command.h"
#include "cli/torch_module.h"
#include "rollout/worker_options.h"

namespace r1::cli {

void add_model_commands(CLI::App& app) {
  auto* model = app.add_subcommand("model", "Model checkpoints");
  model->require_subcommand(1);
  auto init = std::make_shared<ModelInitOptions>();
  auto* cmd = model->add_subcommand(
      "init", "Write a random-weight checkpoint (config.json, safetensors, tokenizer files) for tests, benchmarks and smoke tests");
  cmd->add_option("--arch", init->arch, "Architecture")->check(CLI::IsMember({"qwen2", "qwen3", "llama"}))->capture_default_str();
  cmd->add_option("--preset", init->preset, "Size: tiny (~0.3M besides embeddings), 25m (~24M besides embeddings), "
                                            "qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b (those models' shapes)")
      ->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b"}))
      ->capture_default_str();
  cmd->add_option("--seed", init->seed, "Seed of the random weights")->capture_default_str();
  cmd->add_option("--out", init->out, "Folder to write")->required();
  cmd->add_option("--tokenizer", init->tokenizer,
                  "A tokenizer.json, or a folder holding one, whose files are copied in (default: r1's built-in "
                  "byte-level tokenizer, 259 tokens with ChatML specials)");
  cmd->add_option("--vocab-size", init->vocab_size, "At least this many embeddings (default: the tokenizer's)");
  cmd->add_option("--dtype", init->dtype, "Weight dtype: bf16 or fp32")->capture_default_str();
  cmd->callback([init] { torch_commands().model_init(torch_context(), *init); });

  add_model_memory_command(*model);

  auto merge = std::make_shared<ModelMergeLoraOptions>();
  auto* mc = model->add_subcommand(
      "merge-lora", "Merge a PEFT LoRA adapter into its base model (W + scale * B A) and write a plain Hugging Face checkpoint");
  mc->add_option("--base", merge->base, "The base model's folder")->required();
  mc->add_option("--adapter", merge->adapter, "The adapter's folder (adapter_config.json, adapter_model.safetensors)")->required();
  mc->add_option("--out", merge->out, "Folder to write (config.json, safetensors, the base's tokenizer and generation config)")
      ->required();
  mc->add_option("--dtype", merge->dtype, "Weight dtype written: auto (the base's), bf16 or fp32")
      ->check(CLI::IsMember({"auto", "bf16", "fp32"}))
      ->capture_default_str();
  mc->callback([merge] { torch_commands().model_merge_lora(torch_context(), *merge); });

  auto gen = std::make_shared<GenerateOptions>();
  auto* g = app.add_subcommand("generate", "Sample completions of a prompt from a model folder (streams when --n 1)");
  g->add_option("--model", gen->model, "Model folder (config.json, safetensors, tokenizer.json)")->required();
  g->add_option("--adapter", gen->adapter, "A PEFT LoRA adapter folder to apply to the model");
  g->add_option("--prompt", gen->prompt, "Prompt text")->required();
  g->add_flag("--chat", gen->chat, "Wrap the prompt as a user message in the tokenizer's chat template");
  g->add_option("--n", gen->sampling.n, "Samples of the prompt (they share its prefill)")->check(CLI::PositiveNumber)->capture_default_str();
  g->add_option("--temperature", gen->sampling.temperature, "0: greedy")->check(CLI::NonNegativeNumber)->capture_default_str();
  g->add_option("--top-p", gen->sampling.top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  g->add_option("--top-k", gen->sampling.top_k, "Keep the k most likely tokens (0: all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  g->add_option("--min-p", gen->sampling.min_p, "Drop tokens below min-p x the top token's probability")->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  g->add_option("--max-new-tokens", gen->sampling.max_new_tokens, "Token budget per sample")->check(CLI::PositiveNumber)->capture_default_str();
  g->add_option("--seed", gen->sampling.seed, "Seed: the same seed replays the same samples")->capture_default_str();
  g->add_option("--stop", gen->sampling.stop_strings, "Stop string (repeatable)");
  g->add_option("--dtype", gen->dtype, "Compute dtype: fp32 or bf16")->capture_default_str();
  rollout::add_device_option(*g, gen->device, "Where the model runs: auto (a GPU when there is one), cpu, cuda, cuda:N");
  g->callback([gen] { torch_commands().generate(torch_context(), *gen); });
}

}  // namespace r1::cli

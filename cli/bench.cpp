// r1 bench <what>: benchmarks that print their figures and a ratio against a baseline measured in
// the same run (these machines are shared; absolute numbers drift, ratios hold).
#include <CLI/CLI.hpp>

#include "bench/chat_template_bench.h"
#include "bench/rewards_bench.h"
#include "bench/sandbox_bench.h"
#include "cli/torch_module.h"
#include "bench/tokenizer_bench.h"
#include "cli/command.h"
#include "rollout/worker_options.h"

namespace r1::cli {

namespace {

// r1 bench tokenizer
void add_tokenizer_bench(CLI::App* bench) {
  auto opt = std::make_shared<bench::TokenizerBenchOptions>();
  auto* tok = bench->add_subcommand("tokenizer", "Encode speed vs the JavaScript reference, scaling, load time, memory");
  tok->add_option("--tokenizer", opt->tokenizer, "tokenizer.json (default: the --reference-name package's from the fixtures)");
  tok->add_option("--corpus", opt->corpus, "JSON lines {\"text\"} (default: fixtures/tokenizer/bench_corpus.jsonl)");
  tok->add_option("--reference-script", opt->reference_script, "node script for the reference, or 'none' to skip it");
  tok->add_option("--reference-name", opt->reference_name, "reference tokenizer package (and, without --tokenizer, the vocabulary r1 loads): qwen3, deepseek_v3, llama3, gpt4o, gemma3 or llama2");
  tok->callback([opt] {
    opt->threads = global_options().threads;
    bench::run_tokenizer_bench(*opt);
  });
}

// r1 bench chat-template
void add_chat_template_bench(CLI::App* bench) {
  auto opt = std::make_shared<bench::ChatTemplateBenchOptions>();
  auto* cmd = bench->add_subcommand("chat-template", "Jinja chat templates: parse and render time, r1 vs built-in vs Python's jinja2");
  cmd->add_option("--repeats", opt->repeats, "Renders of the conversation set per engine (default 200)")->check(CLI::PositiveNumber);
  cmd->add_option("--python", opt->python, "Python with jinja2 for the reference, or 'none' (default /usr/bin/python3)");
  cmd->callback([opt] { bench::run_chat_template_bench(*opt); });
}

// r1 bench rewards
void add_rewards_bench(CLI::App* bench) {
  auto rewards_opt = std::make_shared<bench::RewardsBenchOptions>();
  auto* rw = bench->add_subcommand("rewards", "Math verifications per second and latency on a competition-style mix");
  rw->add_option("--samples", rewards_opt->samples, "How many answers to verify (default 100000)")->check(CLI::PositiveNumber);
  rw->callback([rewards_opt] {
    rewards_opt->threads = global_options().threads;  // the parallel pass: --threads, else the cores (at least 2)
    bench::run_rewards_bench(*rewards_opt);
  });
}

// r1 bench model (the LibTorch module)
void add_model_bench(CLI::App* bench) {
  auto model_opt = std::make_shared<ModelBenchOptions>();
  auto* mb = bench->add_subcommand("model", "Transformer prefill, training and batched decode vs this machine's matrix-product peak; memory vs arithmetic");
  mb->add_option("--presets", model_opt->presets, "Model shapes (qwen2 presets)")->capture_default_str();
  mb->add_option("--dtype", model_opt->dtype, "bf16 or fp32")->check(CLI::IsMember({"bf16", "fp32"}))->capture_default_str();
  mb->add_option("--decode-batches", model_opt->decode_batches, "Decode batch sizes")->capture_default_str();
  mb->add_option("--decode-steps", model_opt->decode_steps, "Decode steps timed per batch size")->capture_default_str();
  mb->add_option("--train-batch", model_opt->train_batch, "Training batch (sequences)")->capture_default_str();
  mb->add_option("--train-tokens", model_opt->train_tokens, "Training tokens per sequence")->capture_default_str();
  mb->add_option("--prefill-tokens", model_opt->prefill_tokens, "Prefill length")->capture_default_str();
  rollout::add_device_option(*mb, model_opt->device, "Where the model runs: auto, cpu, cuda, cuda:N");
  mb->callback([model_opt] { torch_commands().bench_model(torch_context(), *model_opt); });
}

// r1 bench rollout (the LibTorch module)
void add_rollout_bench(CLI::App* bench) {
  auto rollout_opt = std::make_shared<RolloutBenchOptions>();
  auto* rb = bench->add_subcommand("rollout", "Rollout tokens/s: one gRPC worker vs the engine in-process vs a naive loop; "
                                              "fp8 vs bf16 speed, memory and log-prob mismatch; fraction of the matrix-product peak");
  rb->add_option("--preset", rollout_opt->preset, "Model shape (qwen2 presets)")->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b"}))
      ->capture_default_str();
  rb->add_option("--prompts", rollout_opt->prompts, "Prompts (groups)")->check(CLI::PositiveNumber)->capture_default_str();
  rb->add_option("--samples", rollout_opt->samples, "Samples per prompt")->check(CLI::PositiveNumber)->capture_default_str();
  rb->add_option("--prompt-tokens", rollout_opt->prompt_tokens, "Tokens per prompt")->check(CLI::PositiveNumber)->capture_default_str();
  rb->add_option("--new-tokens", rollout_opt->new_tokens, "New tokens per sample")->check(CLI::PositiveNumber)->capture_default_str();
  rb->add_option("--kv-cache-mb", rollout_opt->kv_cache_mb, "KV cache budget")->check(CLI::PositiveNumber)->capture_default_str();
  rb->add_flag("!--no-grpc", rollout_opt->grpc, "Skip the gRPC worker timing");
  rollout::add_device_option(*rb, rollout_opt->device, "Where the engines (and the gRPC worker) run: auto, cpu, cuda, cuda:N");
  rb->add_flag("!--no-naive", rollout_opt->naive, "Skip the naive loop");
  rb->add_option("--turns", rollout_opt->turns,
                 "Turns of the multi-turn line (python tool calls between them; the tool loop in the engine against the "
                 "same turns re-prefilled); 0: skip it")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  rb->callback([rollout_opt] { torch_commands().bench_rollout(torch_context(), *rollout_opt); });
}

// r1 bench train (the LibTorch module)
void add_train_bench(CLI::App* bench) {
  auto train_opt = std::make_shared<TrainBenchOptions>();
  auto* tb = bench->add_subcommand("train", "Trainer tokens/s and model-FLOP utilisation of a GRPO update (tiny and ~25M configs); "
                                            "whole GRPO steps' time split and rollout waiting with max_staleness 0 and 1");
  tb->add_option("--configs", train_opt->configs, "Model configs (tiny: the embedded recipe's; 25m: ~24M in the layers)")
      ->check(CLI::IsMember({"tiny", "25m"}))->capture_default_str();
  tb->add_option("--dtype", train_opt->dtype, "Matrix products: auto (the faster here), fp32 or bf16")
      ->check(CLI::IsMember({"auto", "fp32", "bf16"}))->capture_default_str();
  tb->add_option("--groups", train_opt->groups, "Groups (prompts) per step")->check(CLI::PositiveNumber)->capture_default_str();
  tb->add_option("--group-size", train_opt->group_size, "Samples per group")->check(CLI::PositiveNumber)->capture_default_str();
  tb->add_option("--prompt-tokens", train_opt->prompt_tokens, "Prompt tokens per sample (update timing)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  tb->add_option("--completion-tokens", train_opt->completion_tokens, "Completion tokens per sample (GRPO steps: the limit)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  tb->add_option("--micro-batch-tokens", train_opt->micro_batch_tokens, "Token budget of a micro-batch")
      ->check(CLI::PositiveNumber)->capture_default_str();
  tb->add_option("--updates", train_opt->updates, "Timed updates per config (the best is reported)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  tb->add_flag("!--no-checkpointing", train_opt->checkpointing, "Skip the activation-checkpointing timing");
  rollout::add_device_option(*tb, train_opt->device, "Where the policy trains: auto, cpu, cuda, cuda:N");
  tb->add_option("--grpo-steps", train_opt->grpo_steps, "Whole GRPO steps per staleness setting (0: skip)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  tb->callback([train_opt] { torch_commands().bench_train(torch_context(), *train_opt); });
}

// r1 bench distributed (the LibTorch module)
void add_distributed_bench(CLI::App* bench) {
  auto dist_opt = std::make_shared<DistributedBenchOptions>();
  auto* db = bench->add_subcommand("distributed", "Data-parallel plumbing: a full weight push to one rollout worker (MB/s of bf16), "
                                                   "pushes after AdamW steps with and without deltas (bytes), "
                                                   "Gloo's all-reduce on loopback against memcpy, "
                                                   "and a data-parallel SFT step on 1 process and 2 ranks (overlapped or not, ZeRO-2)");
  db->add_option("--preset", dist_opt->preset, "Shape of the pushed model (qwen2 presets)")
      ->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b"}))->capture_default_str();
  db->add_option("--precision", dist_opt->precision, "The worker's weights")->check(CLI::IsMember({"fp8", "bf16", "fp32"}))
      ->capture_default_str();
  db->add_option("--pushes", dist_opt->pushes, "Timed full pushes")->check(CLI::PositiveNumber)->capture_default_str();
  db->add_option("--chunk-mb", dist_opt->chunk_mb, "Data per weight chunk on the wire")->check(CLI::Range(0.001, 64.0))
      ->capture_default_str();
  db->add_option("--allreduce-mb", dist_opt->allreduce_mb, "All-reduce buffer")->check(CLI::PositiveNumber)->capture_default_str();
  db->add_option("--delta-preset", dist_opt->delta_preset, "Model trained and pushed with and without deltas")
      ->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b"}))->capture_default_str();
  db->add_option("--delta-steps", dist_opt->delta_steps, "AdamW steps, each followed by a push")->check(CLI::PositiveNumber)
      ->capture_default_str();
  db->add_option("--delta-lr", dist_opt->delta_lr, "Their learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  db->add_flag("!--no-push", dist_opt->push, "Skip the full weight push");
  db->add_flag("!--no-deltas", dist_opt->deltas, "Skip the pushes with and without deltas");
  db->add_option("--dp-preset", dist_opt->dp_preset, "Model of the data-parallel SFT runs")
      ->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b"}))->capture_default_str();
  db->add_option("--dp-steps", dist_opt->dp_steps, "Their steps")->check(CLI::Range(2, 1000))->capture_default_str();
  db->add_flag("!--no-allreduce", dist_opt->allreduce, "Skip the all-reduce");
  db->add_flag("!--no-data-parallel", dist_opt->data_parallel, "Skip the data-parallel SFT runs");
  db->callback([dist_opt] { torch_commands().bench_distributed(torch_context(), *dist_opt); });
}

// r1 bench lora (the LibTorch module)
void add_lora_bench(CLI::App* bench) {
  auto opt = std::make_shared<LoraBenchOptions>();
  auto* lb = bench->add_subcommand("lora", "LoRA on a rollout worker: adapter bytes against a full push, and merged against "
                                           "unmerged adapters (time to put one in service, decode tokens/s against the base)");
  lb->add_option("--presets", opt->presets, "Model shapes (qwen2 presets)")
      ->check(CLI::IsMember({"tiny", "25m", "qwen2.5-0.5b", "qwen2.5-1.5b"}))->capture_default_str();
  lb->add_option("--precisions", opt->precisions, "Worker weights")->check(CLI::IsMember({"fp8", "bf16"}))
      ->capture_default_str();
  lb->add_option("--targets", opt->targets, "Targeted modules: all-linear, or names joined by ','")->capture_default_str();
  lb->add_option("--r", opt->r, "Adapter rank")->check(CLI::PositiveNumber)->capture_default_str();
  lb->add_option("--prompts", opt->prompts, "Prompts (groups)")->check(CLI::PositiveNumber)->capture_default_str();
  lb->add_option("--samples", opt->samples, "Samples per prompt")->check(CLI::PositiveNumber)->capture_default_str();
  lb->add_option("--prompt-tokens", opt->prompt_tokens, "Tokens per prompt")->check(CLI::PositiveNumber)->capture_default_str();
  lb->add_option("--new-tokens", opt->new_tokens, "New tokens per sample")->check(CLI::PositiveNumber)->capture_default_str();
  lb->add_option("--runs", opt->runs, "Decode timings per model (the best is reported)")->check(CLI::PositiveNumber)
      ->capture_default_str();
  lb->add_option("--kv-cache-mb", opt->kv_cache_mb, "KV cache budget")->check(CLI::PositiveNumber)->capture_default_str();
  rollout::add_device_option(*lb, opt->device, "Where the engines run: auto, cpu, cuda, cuda:N");
  lb->callback([opt] { torch_commands().bench_lora(torch_context(), *opt); });
}

// r1 bench sandbox
void add_sandbox_bench(CLI::App* bench) {
  auto sandbox_opt = std::make_shared<bench::SandboxBenchOptions>();
  auto* sb = bench->add_subcommand("sandbox", "Sandbox jobs/s (Python function tests, C++ compile-and-run) vs the same programs run bare");
  sb->add_option("--python-jobs", sandbox_opt->python_jobs, "Python jobs (default 500)")->check(CLI::PositiveNumber);
  sb->add_option("--cpp-jobs", sandbox_opt->cpp_jobs, "C++ jobs (default 100)")->check(CLI::PositiveNumber);
  sb->callback([sandbox_opt] {
    sandbox_opt->workers = static_cast<size_t>(global_options().threads);
    bench::run_sandbox_bench(*sandbox_opt);
  });
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Run a benchmark");
  bench->require_subcommand(1);
  add_tokenizer_bench(bench);
  add_chat_template_bench(bench);
  add_rewards_bench(bench);
  add_model_bench(bench);
  add_rollout_bench(bench);
  add_train_bench(bench);
  add_distributed_bench(bench);
  add_lora_bench(bench);
  add_sandbox_bench(bench);
}

}  // namespace r1::cli

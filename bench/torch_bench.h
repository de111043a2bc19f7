// The LibTorch benchmarks behind `r1 bench model | rollout | train | distributed`, run from the LibTorch module
// (cli/torch_commands.cpp). This header is free of LibTorch so that `r1` parses their options. Each
// prints the machine's own matrix-product peak and every figure as a ratio measured in the same run;
// docs/benchmarks.md records results with the commands that made them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/choices.h"

namespace r1::bench {

// r1 bench model
struct ModelBenchOptions {
  std::vector<std::string> presets = {"25m", "qwen2.5-0.5b"};
  std::string dtype = "bf16";
  int64_t prefill_tokens = 256, train_batch = 2, train_tokens = 128, decode_steps = 8, prompt_tokens = 64;
  std::vector<int64_t> decode_batches = {1, 16, 64};
  DeviceChoice device;
};

// r1 bench rollout
struct RolloutBenchOptions {
  std::string preset = "25m";
  int64_t prompts = 32, samples = 8, prompt_tokens = 64, new_tokens = 256;
  double kv_cache_mb = 1024;
  bool naive = true;  // also time the naive loop (slow: no KV cache, no batching)
  bool grpc = true;   // also time one gRPC worker (a separate process)
  int64_t turns = 3;  // > 0: also trajectories of this many turns with python tool calls (multiturn_bench.cpp)
  DeviceChoice device;
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
  DeviceChoice device;
};

// r1 bench distributed
struct DistributedBenchOptions {
  std::string preset = "qwen2.5-0.5b";  // the model pushed to a worker
  std::string precision = "fp8";        // the worker's
  int64_t pushes = 3;                   // timed full pushes (after none: the first is timed too)
  double chunk_mb = 1;                  // data per TensorChunk (the client's weight_chunk_bytes)
  int64_t allreduce_mb = 64;            // buffer of the Gloo all-reduce timing
  std::string delta_preset = "25m";     // the model trained and pushed with and without deltas
  int64_t delta_steps = 20;
  double delta_lr = 3e-6;               // recipes/r1-zero-qwen.json's
  std::string dp_preset = "25m";        // the model of the data-parallel SFT runs
  int64_t dp_steps = 6;
  bool push = true, deltas = true, allreduce = true, data_parallel = true;
};

// r1 bench lora
struct LoraBenchOptions {
  std::vector<std::string> presets = {"tiny", "25m"};
  std::vector<std::string> precisions = {"bf16", "fp8"};
  std::vector<std::string> targets = {"all-linear", "q_proj,v_proj"};  // each: all-linear, or modules joined by ','
  int64_t r = 16;
  int64_t prompts = 8, samples = 4, prompt_tokens = 32, new_tokens = 64;
  int64_t runs = 2;        // decode timings per model (the best is reported)
  int64_t apply_runs = 3;  // timings of putting an adapter in service (the best is reported)
  double kv_cache_mb = 256;
  DeviceChoice device;
};

// `threads`: LibTorch's intra-op threads (0: one per core); the log level is the caller's.
void bench_model(int threads, const ModelBenchOptions& options);      // torch_bench.cpp
void bench_rollout(int threads, const RolloutBenchOptions& options);  // rollout_bench.cpp
void bench_train(int threads, const TrainBenchOptions& options);      // train_bench.cpp
void bench_distributed(int threads, const DistributedBenchOptions& options);  // distributed_bench.cpp
void bench_lora(int threads, const LoraBenchOptions& options);                // lora_bench.cpp

}  // namespace r1::bench

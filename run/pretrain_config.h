// A pretrain-synthetic stage's configuration, read from its recipe entry with every key checked, and
// its identity: the canonical JSON whose content hash names the stage's folder in the cache
// (runs/cache/pretrain-<hash>/). The stage itself is trainer/pretrain.h's; this part has no LibTorch,
// so a recipe is planned (every stage checked, the cache looked up) before anything runs.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "run/grpo_config.h"
#include "tasks/arith.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

struct PretrainConfig {
  tasks::ArithOptions task;
  int64_t documents = 50000;
  int64_t train_problems = 5000, heldout_problems = 200;
  uint64_t heldout_seed = 1000;
  // Chat SFT sets for the R1 pipeline (0: not written): coldstart.jsonl, readable long chains of
  // thought in English (arith.h's cold_start_row, problems apart from the held-out ones), and
  // chat.jsonl, non-reasoning one-step facts (fact_row).
  int64_t cold_start_examples = 0, chat_examples = 0;
  int64_t vocab_size = 512;
  // The model: Qwen2 shapes.
  int64_t hidden_size = 128, intermediate_size = 384, layers = 4, heads = 4, kv_heads = 2, context = 512;
  // Training.
  int64_t steps = 500, seq_len = 256, batch_rows = 16;
  DeviceChoice device;                 // auto | cpu | cuda | cuda:N: where the model trains (model/device.h)
  std::string device_key = "device";   // its key path in the recipe, for errors
  ComputeDtype compute_dtype = ComputeDtype::kAuto;  // matrix products: auto (the faster here) | fp32 | bf16
  bool activation_checkpointing = false;
  OptimConfig optim;
  uint64_t seed = 1;

  static PretrainConfig read(ConfigReader& r);
  // The canonical JSON of everything that decides the output (its content hash keys the cache).
  nlohmann::json identity() const;
};

}  // namespace r1::run

// An sft (or distill) stage's configuration, read from its recipe entry with every key checked. The
// training loop that uses it is trainer/sft.h's; this part has no LibTorch, so a recipe is planned
// (every stage checked) before anything runs.
#pragma once

#include <cstdint>
#include <string>

#include "run/grpo_config.h"
#include "run/lora_stage.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

struct SftConfig {
  std::string model;                   // the starting model (Hugging Face layout)
  std::string train_data;              // JSON lines: {"messages"} or {"prompt", "completion"}
  std::string chat_template;           // a name or a template file; "" = the model's own
  bool skip_bad_lines = false;
  int64_t epochs = 1;                  // passes over the data when steps is 0
  int64_t steps = 0;                   // optimiser steps (0: from epochs)
  int64_t seq_len = 1024;              // tokens per packed row
  int64_t batch_tokens = 16384;        // tokens per optimiser step (whole rows: at least one)
  int64_t micro_batch_tokens = 8192;   // tokens per forward/backward (whole rows)
  OptimConfig optim;
  DeviceChoice device;                 // auto | cpu | cuda | cuda:N: where the model trains (model/device.h)
  std::string device_key = "device";   // its key path in the recipe, for errors
  ComputeDtype compute_dtype = ComputeDtype::kAuto;
  bool activation_checkpointing = false;
  StageLora lora;                      // train a LoRA adapter over the frozen model (run/lora_stage.h)
  int64_t save_every = 0;              // 0: at the end only
  int keep_last = 2;
  uint64_t seed = 1;

  int64_t rows_per_step() const;
  // From a recipe stage (the reader's path prefixes errors); unknown keys are refused naming the
  // closest one when the caller finishes the reader.
  static SftConfig read(ConfigReader& r);
};

}  // namespace r1::run

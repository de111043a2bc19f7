// Supervised fine-tuning (the `sft` recipe stage): a model trained with next-token loss on the
// assistant tokens of chat-formatted JSON lines (run/sft_data.h), packed into fixed-length rows.
// The machinery is the GRPO trainer's: the same AdamW and schedules (optim.h), atomic checkpoints with
// the dataset position (checkpoint.h), --resume, metrics.jsonl / TensorBoard and the progress line
// (run_log.h), compute dtype and activation checkpointing.
//
// Run folder: metrics.jsonl, tensorboard/, checkpoints/step-N/ (model, optimizer.pt,
// trainer_state.json), model/ (the final weights, Hugging Face layout), summary.json.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "trainer/optim.h"

namespace r1 {
class ConfigReader;
}

namespace r1::trainer {

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
  std::string compute_dtype = "auto";
  bool activation_checkpointing = false;
  int64_t save_every = 0;              // 0: at the end only
  int keep_last = 2;
  uint64_t seed = 1;

  int64_t rows_per_step() const;
  // From a recipe stage (`path` prefixes errors); unknown keys are refused naming the closest one.
  static SftConfig read(ConfigReader& r);
};

struct SftResult {
  int64_t steps = 0, trained_tokens = 0;
  double final_loss = 0, wall_s = 0;
  std::string model_dir;
};

struct SftRun {
  std::string run_dir;
  bool resume = false;
  int threads = 0;
};

SftResult run_sft(const SftConfig& config, const SftRun& run);

}  // namespace r1::trainer

// Supervised fine-tuning (the `sft` recipe stage): a model trained with next-token loss on the
// assistant tokens of chat-formatted JSON lines (run/sft_data.h), packed into fixed-length rows.
// The machinery is the GRPO trainer's: the same AdamW and schedules (optim.h), atomic checkpoints with
// the dataset position (checkpoint.h), --resume, metrics.jsonl / TensorBoard and the progress line
// (run_log.h), compute dtype and activation checkpointing. Its configuration is run/sft_config.h's.
//
// Run folder: metrics.jsonl, tensorboard/, checkpoints/step-N/ (model, optimizer.pt,
// trainer_state.json), model/ (the final weights, Hugging Face layout), summary.json.
#pragma once

#include <cstdint>
#include <string>

#include "run/sft_config.h"

namespace r1::run {
class Collective;
}

namespace r1::trainer {

struct SftResult {
  int64_t steps = 0, trained_tokens = 0;
  double final_loss = 0, wall_s = 0;
  std::string model_dir;
};

struct SftRun {
  std::string run_dir;
  bool resume = false;
  int threads = 0;
  // The ranks of a data-parallel job (null: this process alone). Each rank takes every world_size-th
  // row of a step's batch; gradients are summed over the ranks before the one AdamW step every rank
  // takes alike, so N ranks give the losses and weights of one process on the same batch (up to the
  // order of float sums). Rank 0 alone writes metrics, checkpoints, the model and summary.json.
  run::Collective* group = nullptr;
};

SftResult run_sft(const run::SftConfig& config, const SftRun& run);

}  // namespace r1::trainer

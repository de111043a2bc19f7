// The common start of a training stage (grpo, sft, pretrain-synthetic): LibTorch's threads, allocator
// setting and seed; for a loop that resumes (grpo, sft), the run folder and its checkpoint store and
// where to start — the base model at step 0, or with `resume` the latest checkpoint, with its dataset
// position; and the model made trainable as the stage's configuration asks.
#pragma once

#include <cstdint>
#include <string>

#include "core/choices.h"
#include "run/checkpoint_store.h"
#include "run/dataset.h"

namespace r1::model {
class Transformer;
}

namespace r1::trainer {

// LibTorch's threads (0: one per core), the allocator setting and the seed.
void configure_training(int threads, uint64_t seed);

struct RunStart {
  run::CheckpointStore checkpoints;
  run::StartPoint from;           // step, model folder to load, trainer_state.json
  run::DatasetPosition position;  // the next row (the start of the data at step 0)
};

RunStart begin_run(const std::string& run_dir, int threads, uint64_t seed, int keep_last, bool resume,
                   const std::string& base_model);

// Gradients on for every weight (with a LoRA adapter attached: for the adapter's alone), matrix products in `compute_dtype` (auto | fp32 | bf16; auto is the
// faster here), activation checkpointing as asked. Returns the dtype in force: kFp32 or kBf16.
ComputeDtype make_trainable(model::Transformer& m, ComputeDtype compute_dtype, bool activation_checkpointing);

}  // namespace r1::trainer

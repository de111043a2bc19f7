// The common start of a training loop (grpo, sft): LibTorch's threads, allocator setting and seed;
// the run folder and its checkpoint store; and where to start — the base model at step 0, or with
// `resume` the latest checkpoint, with its dataset position.
#pragma once

#include <cstdint>
#include <string>

#include "run/checkpoint_store.h"
#include "run/dataset.h"

namespace r1::trainer {

struct RunStart {
  CheckpointStore checkpoints;
  StartPoint from;           // step, model folder to load, trainer_state.json
  DatasetPosition position;  // the next row (the start of the data at step 0)
};

RunStart begin_run(const std::string& run_dir, int threads, uint64_t seed, int keep_last, bool resume,
                   const std::string& base_model);

}  // namespace r1::trainer

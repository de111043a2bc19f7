// A stage's inputs checked before its folder is touched (run/stage.h): a rerun with a broken input
// (a truncated checkpoint, a missing data file) fails with one line while the stage's earlier results
// stay where they are, instead of being moved aside for a run that cannot start. No LibTorch.
#pragma once

#include <string>

#include "run/stage.h"

namespace r1::run {

// Every model folder the stage reads is a whole checkpoint (config.json readable, every safetensors
// file's header valid and its data all there, a tokenizer.json), and every data file exists and is
// readable. An eval stage's optional model that is missing is fine (it is left out of the table).
// Throws r1::Error naming the stage, the key and the file.
void check_stage_inputs(const std::string& stage, const StageConfig& config);

// The model-folder check alone, for a folder given under `key`.
void check_model_folder(const std::string& key, const std::string& dir);

}  // namespace r1::run

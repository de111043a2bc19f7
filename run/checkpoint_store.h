// Checkpoints of a training run, in `<run>/checkpoints/step-000123/`:
//   config.json, model.safetensors, tokenizer files   the model in Hugging Face layout (loads anywhere)
//   optimizer.pt                                      AdamW moments (LibTorch archive)
//   trainer_state.json                                step, policy version, dataset position, seeds,
//                                                     written last: its presence marks a whole checkpoint
//
// A checkpoint is written under a temporary name (`step-000123.partial`) and renamed into place
// only when every file is complete, so a crash or a full disk mid-write leaves the previous
// checkpoints as they were and no half checkpoint that --resume could pick up. The oldest complete
// checkpoints beyond keep_last are deleted after a successful write. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace r1::run {

class CheckpointStore {
 public:
  // `dir`: the folder holding step-N checkpoints (created on first save). keep_last 0: keep all.
  CheckpointStore(std::string dir, int keep_last);

  // Calls write(tmp_dir) to fill a fresh temporary folder, writes trainer_state.json there, and
  // renames the folder to step-N. If write throws (or trainer_state.json cannot be written), the
  // temporary folder is removed and the exception propagates: existing checkpoints are untouched.
  // Returns the checkpoint's folder.
  std::string save(int64_t step, const nlohmann::json& state, const std::function<void(const std::string&)>& write);

  // Complete checkpoints (step-N folders holding trainer_state.json), oldest first; leftovers of
  // interrupted writes are ignored.
  std::vector<std::pair<int64_t, std::string>> list() const;
  std::optional<std::string> latest() const;

  // trainer_state.json of a checkpoint folder; a missing or malformed one is an r1::Error naming it.
  static nlohmann::json read_state(const std::string& checkpoint_dir);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int keep_last_;
};

// Where a training run starts: step 0 from `base_model`, or with `resume`, the latest checkpoint of
// `store` (its step, its trainer_state.json, its folder as the model to load). With `resume` and no
// checkpoint, a warning and step 0.
struct StartPoint {
  int64_t step = 0;
  std::string model_dir;
  nlohmann::json state;  // the checkpoint's trainer_state.json; null at step 0
};
StartPoint start_point(const CheckpointStore& store, bool resume, const std::string& base_model);

}  // namespace r1::run

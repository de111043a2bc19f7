// What a training run leaves for its user, in its run folder:
//   metrics.jsonl    one JSON object per step (every number the step measured)
//   rollouts.jsonl   every scored sample as it is scored: prompt, completion, reward components,
//                    advantage, policy version, step — a crash loses none
//   tensorboard/     the same metrics as TensorBoard event files (`tensorboard --logdir runs/`)
// and a progress line on the terminal while it runs. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

namespace r1::telemetry {

class TensorBoardWriter;

class RunLog {
 public:
  // resume_step >= 0: continue a run; the rows of later steps in metrics.jsonl and rollouts.jsonl (from
  // the interrupted run, which the resumed one redoes) are dropped, and TensorBoard is told to drop
  // its points after resume_step (a restart marker). -1: a fresh run (existing files are replaced).
  RunLog(const std::string& run_dir, int64_t resume_step, bool tensorboard = true);
  ~RunLog();

  // Appends {"step": step, ...values} to metrics.jsonl (flushed) and every number in `values` (nested
  // objects flattened as "a/b") to TensorBoard.
  void metrics(int64_t step, const nlohmann::json& values);
  // Every number in `values` to TensorBoard alone, as metrics() does: a point with no row of its own
  // in metrics.jsonl (the starting policy's held-out evaluation, at step 0).
  void scalars(int64_t step, const nlohmann::json& values);
  // Appends one row to rollouts.jsonl (flushed). Thread-safe.
  void rollout(const nlohmann::json& row);
  const std::string& dir() const { return dir_; }

 private:
  void write_tensorboard(int64_t step, const nlohmann::json& values);  // under mutex_

  std::string dir_;
  std::ofstream metrics_, rollouts_;
  std::unique_ptr<TensorBoardWriter> tb_;
  std::mutex mutex_;
};

// Rewrites the JSON-lines log at `path` (if there is one) without its rows of steps after `last_step`
// and without a line cut off by a crash, as a resumed run needs its logs; throws r1::Error naming the
// file when it cannot.
void cut_back_log(const std::string& path, int64_t last_step);

// A one-line progress bar for step-wise work, on stderr when it is a terminal (otherwise a log line
// every `log_every` steps):  grpo [######------]  12/100  reward 0.53  acc 0.41  len 38  3.1 s/step  ETA 4m32s
class StepProgress {
 public:
  StepProgress(std::string label, int64_t total_steps, int64_t first_step, int64_t log_every = 10);
  ~StepProgress();
  // `fields`: "reward 0.53  acc 0.41 ..." for the step just finished (1-based count done).
  void update(int64_t done, const std::string& fields);
  void finish();
  static std::string render(const std::string& label, int64_t done, int64_t total, const std::string& fields,
                            double seconds_per_step);

 private:
  std::string label_;
  int64_t total_, first_, log_every_;
  bool tty_, drawn_ = false;
  std::chrono::steady_clock::time_point start_;
};

// "4m32s", "1h02m", "12s".
std::string format_duration(double seconds);

}  // namespace r1::telemetry

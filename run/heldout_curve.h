// The held-out curve of a GRPO stage (no LibTorch): its evaluations on eval.data at step 0 (the
// starting policy, base_eval.json), every eval.every steps (eval.every_k samples per problem on the
// first eval.every_limit rows, cheap) and at the end (eval.k, eval.limit), one point each, in
//   heldout.jsonl   {"step": N, ...EvalResult::to_json()} a line, in step order
// beside metrics.jsonl, whose row of step N carries the same numbers as "heldout" (TensorBoard:
// heldout/accuracy, heldout/format_rate, heldout/mean_response_tokens, ...). plot.svg draws it
// (run/report.h's plot_run). A resumed stage keeps the points up to its checkpoint and measures
// the later ones again, as metrics.jsonl does.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "run/dataset.h"
#include "run/eval_metrics.h"
#include "run/grpo_config.h"
#include "run/sampling.h"

namespace r1::telemetry {
class RunLog;
}

namespace r1::run {

// Whether the periodic evaluation runs after `step` (1-based: the policy after `step` updates) of a
// stage of `steps`: eval.every > 0 divides it, and it is not the last step (the final evaluation is
// that step's point).
bool periodic_eval_due(const EvalConfig& eval, int64_t step, int64_t steps);

// The EvalConfig of a periodic evaluation: `eval` with k = every_k and, when every_limit > 0,
// limit = every_limit.
EvalConfig periodic_eval_config(const EvalConfig& eval);

// What a metrics row carries of an evaluation (under "heldout"): EvalResult's numbers (accuracy,
// format_rate, mean_response_tokens, language_consistency, truncation_rate, maj_at_k, samples, ...)
// and pass_at_k; nothing per data source.
nlohmann::json heldout_metrics(const EvalResult& result);

// The held-out evaluation of the policy the sampler's generator serves now, as `eval` (c.eval, or
// periodic_eval_config(c.eval)) says, with the stage's tools or (eval.tools false) without them.
// Not while the sampler runs on another thread. *seconds: the time it took.
EvalResult evaluate_heldout(Sampler& sampler, const PromptDataset& heldout, const GrpoConfig& c, const EvalConfig& eval,
                            double* seconds);

// The starting policy's held-out scores: read back from the stage's base_eval.json on resume
// (start_step > 0), else measured (c.eval) and written there.
EvalResult base_evaluation(Sampler& sampler, const PromptDataset& heldout, const GrpoConfig& c, const std::string& stage_dir,
                           int64_t start_step);

class HeldoutCurve {
 public:
  // heldout.jsonl in `stage_dir`: resume_step >= 0 keeps its points of steps <= resume_step (and
  // drops a line cut off by a crash); -1 starts it again (a fresh run). `runlog`: where points with
  // no metrics row go to TensorBoard (none: nowhere).
  HeldoutCurve(const std::string& stage_dir, int64_t resume_step, telemetry::RunLog* runlog = nullptr);

  // Whether the file holds a point at `step` (the base's, on resume).
  bool has(int64_t step) const;
  // The point of `step`: appended to the file unless it holds one of that step already (a write
  // failure is a warning); its heldout_metrics into `metrics` (the step's row, before it is logged)
  // as "heldout", or with no row (null: the base's step 0, a final evaluation after a resume) to the
  // run log's TensorBoard alone.
  void record(int64_t step, const EvalResult& result, nlohmann::json* metrics);
  // evaluate_heldout of the policy after `step` updates, as the periodic evaluation (periodic_eval_
  // config) or the final one (c.eval) does; logged in a line, then record()ed.
  EvalResult measure(Sampler& sampler, const PromptDataset& heldout, const GrpoConfig& c, int64_t step, bool periodic,
                     nlohmann::json* metrics);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  telemetry::RunLog* runlog_;
};

}  // namespace r1::run

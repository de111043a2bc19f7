// The held-out curve of a GRPO stage: see heldout_curve.h.
#include "run/heldout_curve.h"

#include <filesystem>
#include <fstream>

#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/text.h"
#include "run/report.h"
#include "telemetry/run_log.h"

namespace fs = std::filesystem;

namespace r1::run {

bool periodic_eval_due(const EvalConfig& eval, int64_t step, int64_t steps) {
  return !eval.data.empty() && eval.every > 0 && step > 0 && step % eval.every == 0 && step < steps;
}

EvalConfig periodic_eval_config(const EvalConfig& eval) {
  EvalConfig e = eval;
  e.k = eval.every_k;
  if (eval.every_limit > 0) e.limit = eval.every_limit;
  return e;
}

nlohmann::json heldout_metrics(const EvalResult& result) {
  nlohmann::json out = nlohmann::json::object();
  const nlohmann::json all = result.to_json();  // items() of a temporary would outlive it
  for (const auto& [key, value] : all.items())
    if (value.is_number() || key == "pass_at_k") out[key] = value;
  return out;
}

EvalResult evaluate_heldout(Sampler& sampler, const PromptDataset& heldout, const GrpoConfig& c, const EvalConfig& eval,
                            double* seconds) {
  auto measure = [&] { return evaluate(sampler, heldout, eval, c.max_new_tokens, c.target_language, c.seed, seconds); };
  if (c.tools.is_null() || eval.tools) return measure();
  sampler.set_tools("", {}, nlohmann::json::array());
  EvalResult r = measure();
  sampler.set_tools(c.tools.dump(), tool_shaping(c.tools), tool_schemas(c.tools));
  return r;
}

EvalResult base_evaluation(Sampler& sampler, const PromptDataset& heldout, const GrpoConfig& c, const std::string& stage_dir,
                           int64_t start_step) {
  const fs::path path = fs::path(stage_dir) / "base_eval.json";
  if (start_step > 0 && fs::exists(path)) {
    try {
      return EvalResult::from_json(read_json_file(path.string()), path.string());
    } catch (const Error& e) {
      log::warn() << e.what() << ": the starting policy is evaluated again";
    }
  }
  log::info() << "evaluating the starting policy on " << c.eval.data;
  double s = 0;
  EvalResult base = evaluate_heldout(sampler, heldout, c, c.eval, &s);
  write_file_atomic(path.string(), base.to_json().dump(2) + "\n");
  log::info() << "base: accuracy " << base.accuracy << ", format " << base.format_rate << ", response "
              << base.mean_response_tokens << " tokens (" << s << " s)";
  return base;
}

HeldoutCurve::HeldoutCurve(const std::string& stage_dir, int64_t resume_step, telemetry::RunLog* runlog)
    : path_((fs::path(stage_dir) / "heldout.jsonl").string()), runlog_(runlog) {
  if (resume_step >= 0) {
    telemetry::cut_back_log(path_, resume_step);
  } else {
    std::error_code ec;
    fs::remove(path_, ec);
  }
}

bool HeldoutCurve::has(int64_t step) const {
  std::ifstream in(path_);
  for (std::string line; std::getline(in, line);) {
    const auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step") && row["step"].is_number_integer() && row["step"].get<int64_t>() == step)
      return true;
  }
  return false;
}

void HeldoutCurve::record(int64_t step, const EvalResult& result, nlohmann::json* metrics) {
  if (!has(step)) {
    nlohmann::json row = result.to_json();
    row["step"] = step;
    std::ofstream out(path_, std::ios::app);
    out << to_json_line(row) << "\n";
    out.flush();
    if (!out) log::warn() << path_ << ": write failed (disk full?); the held-out point of step " << step << " is not in it";
  }
  if (metrics) (*metrics)["heldout"] = heldout_metrics(result);
  else if (runlog_) runlog_->scalars(step, {{"heldout", heldout_metrics(result)}});
}

EvalResult HeldoutCurve::measure(Sampler& sampler, const PromptDataset& heldout, const GrpoConfig& c, int64_t step, bool periodic,
                                 nlohmann::json* metrics) {
  double s = 0;
  const EvalResult r = evaluate_heldout(sampler, heldout, c, periodic ? periodic_eval_config(c.eval) : c.eval, &s);
  log::info() << (periodic ? "held-out" : "final held-out") << " evaluation after step " << step << ": accuracy " << r.accuracy
              << ", format " << r.format_rate << ", response " << r.mean_response_tokens << " tokens (" << s << " s)";
  record(step, r, metrics);
  return r;
}

}  // namespace r1::run

// Held-out evaluation and the run report: see report.h.
#include "run/report.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "rewards/language.h"
#include "telemetry/plot.h"
#include "run/evaluate.h"
#include "run/sampling.h"

namespace fs = std::filesystem;

namespace r1::run {

EvalOptions eval_options(const EvalConfig& e, int64_t default_max_new_tokens, const std::string& target_language, uint64_t seed) {
  EvalOptions o;
  o.samples_per_problem = e.k;
  o.limit = e.limit;
  o.max_new_tokens = e.max_new_tokens > 0 ? e.max_new_tokens : default_max_new_tokens;
  o.temperature = e.temperature;
  o.top_p = e.top_p;
  o.seed = seed;
  o.accuracy = e.accuracy;
  o.format = e.format;
  o.target_language = target_language;
  o.reflection_phrases = e.reflection_phrases;
  return o;
}

EvalResult evaluate(Sampler& sampler, const PromptDataset& data, const EvalConfig& e, int64_t default_max_new_tokens,
                    const std::string& target_language, uint64_t seed, double* seconds) {
  // The overall result carries the per-difficulty measures (by_difficulty) into base_eval.json and summary.json.
  return evaluate_samples(sampler, data, eval_options(e, default_max_new_tokens, target_language, seed), nullptr, seconds).overall;
}

void plot_run(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "metrics.jsonl");
  telemetry::Series reward{"reward", {}, {}}, acc{"accuracy", {}, {}}, fmt{"format rate", {}, {}}, len{"mean", {}, {}},
      len_max{"max", {}, {}};
  // With tools: calls per trajectory, the share of calls answered with an error, and the share of
  // trajectories calling at all.
  telemetry::Series calls{"calls per trajectory", {}, {}}, errors{"error rate", {}, {}}, calling{"trajectories calling", {}, {}};
  std::string line;
  while (std::getline(in, line)) {
    auto m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.is_object() || !m.contains("step")) continue;
    const double s = m["step"].get<double>();
    auto put = [&](telemetry::Series& series, const nlohmann::json& v) {
      if (v.is_number()) {
        series.x.push_back(s);
        series.y.push_back(v.get<double>());
      }
    };
    if (m.contains("reward")) put(reward, m["reward"].value("mean", nlohmann::json()));
    put(acc, m.value("accuracy", nlohmann::json()));
    put(fmt, m.value("format_rate", nlohmann::json()));
    if (m.contains("response_length")) {
      put(len, m["response_length"].value("mean", nlohmann::json()));
      put(len_max, m["response_length"].value("max", nlohmann::json()));
    }
    if (m.contains("tools") && m["tools"].is_object()) {
      put(calls, m["tools"].value("calls_per_trajectory", nlohmann::json()));
      put(errors, m["tools"].value("error_rate", nlohmann::json()));
      put(calling, m["tools"].value("trajectories_calling", nlohmann::json()));
    }
  }
  std::vector<telemetry::Panel> panels = {{"Reward", "mean reward", {reward}},
                               {"Accuracy and format (training samples)", "fraction", {acc, fmt}},
                               {"Response length", "tokens", {len, len_max}}};
  if (!calls.x.empty()) panels.push_back({"Tool use (training samples)", "per trajectory / fraction", {calls, calling, errors}});
  telemetry::write_svg_plot((fs::path(run_dir) / "plot.svg").string(), panels, fs::path(run_dir).filename().string(), "step");
}

void write_run_report(const std::string& run_dir, const GrpoResult& r) {
  nlohmann::json summary = {{"steps", r.steps}, {"wall_s", r.wall_s}, {"model", r.model_dir}};
  if (!r.adapter_dir.empty()) summary["adapter"] = r.adapter_dir;
  if (r.evaluated) {
    summary["base"] = r.base.to_json();
    summary["final"] = r.final.to_json();
  }
  write_file_atomic((fs::path(run_dir) / "summary.json").string(), summary.dump(2) + "\n");
  try {
    plot_run(run_dir);
  } catch (const Error& e) {
    log::warn() << e.what();
  }
  if (r.evaluated) {
    // Accuracy with pass@1's 95% interval across problems (eval_metrics.h; "±" is two bytes, so 19 wide is 18
    // characters); reflection when measured.
    const bool reflection = r.base.reflection_measured || r.final.reflection_measured;
    std::printf("\n%-8s %18s %12s %10s %16s%s\n", "", "accuracy", "format rate", "language", "response tokens",
                reflection ? "  reflection" : "");
    for (const auto& [name, e] : {std::pair{"base", &r.base}, std::pair{"final", &r.final}}) {
      std::printf("%-8s %19s %12.3f %10.3f %16.1f", name, mean_with_ci(e->accuracy, e->accuracy_ci95).c_str(), e->format_rate,
                  e->language_consistency, e->mean_response_tokens);
      if (reflection) std::printf(" %11.3f", e->reflection_rate);
      std::printf("\n");
    }
    const std::string levels = difficulty_table({{"base", &r.base}, {"final", &r.final}});
    if (!levels.empty()) std::printf("\n%s", levels.c_str());
    std::printf("(%lld held-out problems; %lld steps in %.0f s; %s/summary.json, plot.svg)\n",
                static_cast<long long>(r.final.samples), static_cast<long long>(r.steps), r.wall_s, run_dir.c_str());
  }
}

}  // namespace r1::run

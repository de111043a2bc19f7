// Held-out evaluation and the run report: see report.h.
#include "run/report.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

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

namespace {

// The held-out curve, step -> (accuracy, format rate, mean response tokens): the metrics rows'
// "heldout" and heldout.jsonl's points (the base's step 0, a final evaluation after a resume: no row).
using HeldoutPoints = std::map<double, std::array<double, 3>>;

void add_heldout_point(HeldoutPoints& points, double step, const nlohmann::json& e) {
  if (!e.is_object()) return;
  const auto acc = e.value("accuracy", nlohmann::json()), fmt = e.value("format_rate", nlohmann::json()),
             len = e.value("mean_response_tokens", nlohmann::json());
  if (acc.is_number() && fmt.is_number() && len.is_number())
    points.emplace(step, std::array<double, 3>{acc.get<double>(), fmt.get<double>(), len.get<double>()});
}

void read_heldout_file(HeldoutPoints& points, const fs::path& path) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const auto row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step") && row["step"].is_number()) add_heldout_point(points, row["step"].get<double>(), row);
  }
}

}  // namespace

void plot_run(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "metrics.jsonl");
  telemetry::Series reward{"reward", {}, {}}, acc{"accuracy", {}, {}}, fmt{"format rate", {}, {}}, len{"mean", {}, {}},
      len_max{"max", {}, {}}, len_correct{"correct", {}, {}}, len_wrong{"wrong", {}, {}};
  // With tools: calls per trajectory, the share of calls answered with an error, and the share of
  // trajectories calling at all.
  telemetry::Series calls{"calls per trajectory", {}, {}}, errors{"error rate", {}, {}}, calling{"trajectories calling", {}, {}};
  telemetry::Series reflection{"reflection rate", {}, {}};
  HeldoutPoints heldout;
  std::string line;
  while (std::getline(in, line)) {
    auto m = nlohmann::json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.is_object() || !m.contains("step") || !m["step"].is_number()) continue;
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
    if (m.contains("response_tokens") && m["response_tokens"].is_object()) {
      put(len_correct, m["response_tokens"].value("correct", nlohmann::json()));
      put(len_wrong, m["response_tokens"].value("wrong", nlohmann::json()));
    }
    if (m.contains("tools") && m["tools"].is_object()) {
      put(calls, m["tools"].value("calls_per_trajectory", nlohmann::json()));
      put(errors, m["tools"].value("error_rate", nlohmann::json()));
      put(calling, m["tools"].value("trajectories_calling", nlohmann::json()));
    }
    put(reflection, m.value("reflection_rate", nlohmann::json()));
    add_heldout_point(heldout, s, m.value("heldout", nlohmann::json()));
  }
  read_heldout_file(heldout, fs::path(run_dir) / "heldout.jsonl");
  std::vector<telemetry::Series> length_series = {len, len_max};
  for (const auto* series : {&len_correct, &len_wrong})
    if (!series->x.empty()) length_series.push_back(*series);
  std::vector<telemetry::Panel> panels = {{"Reward", "mean reward", {reward}},
                               {"Accuracy and format (training samples)", "fraction", {acc, fmt}},
                               {"Response length", "tokens", length_series}};
  if (!heldout.empty()) {
    telemetry::Series h_acc{"accuracy", {}, {}}, h_fmt{"format rate", {}, {}}, h_len{"mean response tokens", {}, {}};
    for (const auto& [step, p] : heldout) {
      for (auto* series : {&h_acc, &h_fmt, &h_len}) series->x.push_back(step);
      h_acc.y.push_back(p[0]);
      h_fmt.y.push_back(p[1]);
      h_len.y.push_back(p[2]);
    }
    panels.push_back({"Held-out accuracy (evaluation set)", "fraction", {h_acc, h_fmt}});
    panels.push_back({"Held-out response length (evaluation set)", "tokens", {h_len}});
  }
  if (!reflection.x.empty()) panels.push_back({"Reflection (training samples)", "fraction with a phrase", {reflection}});
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

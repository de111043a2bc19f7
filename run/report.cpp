// Held-out evaluation and the run report: see report.h.
#include "run/report.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "rewards/language.h"
#include "telemetry/plot.h"
#include "run/sampling.h"

namespace fs = std::filesystem;

namespace r1::run {

nlohmann::json EvalResult::to_json() const {
  return {{"accuracy", accuracy}, {"format_rate", format_rate}, {"language_consistency", language_consistency},
          {"mean_response_tokens", mean_response_tokens}, {"samples", samples}};
}

EvalResult EvalResult::from_json(const nlohmann::json& j, const std::string& where) {
  EvalResult r;
  auto number = [&](const char* key) {
    if (!j.is_object() || !j.contains(key) || !j.at(key).is_number())
      throw Error(where + ": \"" + key + "\" missing or not a number");
    return j.at(key).get<double>();
  };
  r.accuracy = number("accuracy");
  r.format_rate = number("format_rate");
  r.language_consistency = number("language_consistency");
  r.mean_response_tokens = number("mean_response_tokens");
  r.samples = static_cast<int64_t>(number("samples"));
  return r;
}

EvalResult evaluate(Sampler& sampler, const PromptDataset& data, const EvalConfig& e, int64_t default_max_new_tokens,
                    const std::string& target_language, uint64_t seed, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<size_t> rows;
  const size_t n = e.limit > 0 ? std::min<size_t>(data.size(), static_cast<size_t>(e.limit)) : data.size();
  for (size_t i = 0; i < n; ++i) rows.push_back(i);
  rollout::SamplingParams spec;
  spec.max_new_tokens = e.max_new_tokens > 0 ? e.max_new_tokens : default_max_new_tokens;
  spec.temperature = e.temperature;
  spec.seed = seed + 77;
  const std::vector<int> scripts = rewards::scripts_of_language(target_language);
  EvalResult r;
  double tokens = 0;
  size_t target_words = 0, words = 0;
  sampler.run(data, rows, spec, [&](size_t, std::vector<ScoredSample>&& g) {
    for (const auto& s : g) {
      auto acc = s.score.components.find(e.accuracy);
      auto fmt = s.score.components.find(e.format);
      r.accuracy += acc != s.score.components.end() ? acc->second : 0;
      r.format_rate += fmt != s.score.components.end() && fmt->second >= 1.0 ? 1 : 0;
      tokens += static_cast<double>(s.ids.size());
      // The <think> block r1's templates ask for; a byte-level model can cut a character in half,
      // and such a chain of thought counts no words.
      rewards::WordCount wc;
      try {
        wc = rewards::chain_of_thought_words(s.text, "think", scripts);
      } catch (const Error&) {
      }
      target_words += wc.target;
      words += wc.total;
      ++r.samples;
    }
  }, nullptr);
  if (r.samples > 0) {
    r.accuracy /= static_cast<double>(r.samples);
    r.format_rate /= static_cast<double>(r.samples);
    r.mean_response_tokens = tokens / static_cast<double>(r.samples);
  }
  r.language_consistency = words > 0 ? static_cast<double>(target_words) / static_cast<double>(words) : 0.0;
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

void plot_run(const std::string& run_dir) {
  std::ifstream in(fs::path(run_dir) / "metrics.jsonl");
  telemetry::Series reward{"reward", {}, {}}, acc{"accuracy", {}, {}}, fmt{"format rate", {}, {}}, len{"mean", {}, {}},
      len_max{"max", {}, {}};
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
  }
  std::vector<telemetry::Panel> panels = {{"Reward", "mean reward", {reward}},
                               {"Accuracy and format (training samples)", "fraction", {acc, fmt}},
                               {"Response length", "tokens", {len, len_max}}};
  telemetry::write_svg_plot((fs::path(run_dir) / "plot.svg").string(), panels, fs::path(run_dir).filename().string(), "step");
}

void write_run_report(const std::string& run_dir, const GrpoResult& r) {
  nlohmann::json summary = {{"steps", r.steps}, {"wall_s", r.wall_s}, {"model", r.model_dir}};
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
    std::printf("\n%-8s %10s %12s %10s %16s\n", "", "accuracy", "format rate", "language", "response tokens");
    for (const auto& [name, e] : {std::pair{"base", &r.base}, std::pair{"final", &r.final}})
      std::printf("%-8s %10.3f %12.3f %10.3f %16.1f\n", name, e->accuracy, e->format_rate, e->language_consistency,
                  e->mean_response_tokens);
    std::printf("(%lld held-out problems; %lld steps in %.0f s; %s/summary.json, plot.svg)\n",
                static_cast<long long>(r.final.samples), static_cast<long long>(r.steps), r.wall_s, run_dir.c_str());
  }
}

}  // namespace r1::run

// The eval stage: see eval_stage.h.
#include "run/eval_stage.h"

#include <cstdio>
#include <filesystem>
#include <memory>
#include <algorithm>
#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "rewards/language.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"
#include "run/eval_data.h"
#include "run/evaluate.h"
#include "run/reflection.h"
#include "run/report.h"
#include "telemetry/run_log.h"

namespace fs = std::filesystem;

namespace r1::run {

EvalStageConfig EvalStageConfig::read(ConfigReader& r) {
  EvalStageConfig c;
  c.eval.data = r.require_string("data");
  const nlohmann::json* models = r.raw("models");
  if (!models || !models->is_array() || models->empty())
    throw ConfigError(r.key_path("models") + ": required, a non-empty array of {\"name\", \"model\", \"optional\"}");
  std::set<std::string> names;
  for (size_t i = 0; i < models->size(); ++i) {
    ConfigReader m((*models)[i], r.key_path("models") + "[" + std::to_string(i) + "]");
    Entry e;
    e.name = m.require_string("name");
    e.model = m.require_string("model");
    e.optional = m.get("optional", false);
    e.tools = m.get("tools", e.tools);
    m.finish();
    if (!names.insert(e.name).second) throw ConfigError(m.path() + ".name: '" + e.name + "' is listed twice");
    c.models.push_back(e);
  }
  c.baseline = r.get("baseline", c.baseline);
  if (!c.baseline.empty() && !names.count(c.baseline)) {
    std::string listed;
    for (const Entry& e : c.models) listed += (listed.empty() ? "'" : ", '") + e.name + "'";
    throw ConfigError(r.key_path("baseline") + ": '" + c.baseline + "' is not one of the models (" + listed + ")");
  }
  c.eval.reflection_phrases = r.get("reflection_phrases", c.eval.reflection_phrases);
  check_reflection_phrases(c.eval.reflection_phrases, r.key_path("reflection_phrases"));
  c.prompt_template = r.get("template", c.prompt_template);
  if (const nlohmann::json* t = r.raw("tools")) c.tools = read_stage_tools(*t, r.key_path("tools"), c.prompt_template);
  c.target_language = r.get("target_language", c.target_language);
  c.skip_bad_lines = r.get_choice("on_bad_line", "stop", {"stop", "skip"}) == "skip";
  c.eval.limit = r.get("limit", c.eval.limit);
  c.eval.max_new_tokens = r.get("max_new_tokens", static_cast<int64_t>(256));
  c.eval.temperature = r.get("temperature", c.eval.temperature);
  c.eval.top_p = r.get("top_p", c.eval.top_p);
  c.eval.k = r.get("k", c.eval.k);
  c.eval.accuracy = r.get("accuracy_component", c.eval.accuracy);
  c.eval.format = r.get("format_component", c.eval.format);
  c.seed = static_cast<uint64_t>(r.get("seed", static_cast<int64_t>(c.seed)));
  if (const nlohmann::json* rw = r.raw("rewards")) c.rewards = rewards::RewardSet::current_spelling(*rw, r.key_path("rewards"));
  else throw ConfigError(r.key_path("rewards") + ": required (they judge accuracy and format)");
  {
    const DeviceChoice device = read_device(r);  // the stage's: its workers' unless "rollout" names one
    ConfigReader w = r.child("rollout");
    c.rollout = RolloutConfig::read(w, device);
    if (c.rollout.colocate)  // this stage runs without LibTorch in the trainer: its sampling is the workers'
      throw ConfigError(w.key_path("colocate") + ": only a grpo stage runs its engine in its own process");
    w.finish();
  }
  if (c.eval.limit < 0) throw ConfigError(r.key_path("limit") + ": must be >= 0 (0: all)");
  if (c.eval.max_new_tokens < 1) throw ConfigError(r.key_path("max_new_tokens") + ": must be >= 1");
  if (!(c.eval.temperature >= 0)) throw ConfigError(r.key_path("temperature") + ": must be >= 0 (0: greedy)");
  if (!(c.eval.top_p > 0 && c.eval.top_p <= 1)) throw ConfigError(r.key_path("top_p") + ": must be in (0, 1]");
  if (c.eval.k < 1) throw ConfigError(r.key_path("k") + ": must be >= 1 (samples per problem)");
  rewards::scripts_of_language(c.target_language);  // an unknown language is refused now
  return c;
}

namespace {

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

PairedDifference compare_rows(const EvalRow& row, const EvalRow& baseline) {
  std::map<int64_t, double> base;
  for (size_t i = 0; i < baseline.per_problem.size() && i < baseline.problem_lines.size(); ++i)
    base[baseline.problem_lines[i]] = baseline.per_problem[i];
  std::vector<double> a, b;  // the problems both answered (each model's context may leave some out)
  for (size_t i = 0; i < row.per_problem.size() && i < row.problem_lines.size(); ++i)
    if (auto it = base.find(row.problem_lines[i]); it != base.end()) {
      a.push_back(row.per_problem[i]);
      b.push_back(it->second);
    }
  return paired_difference(a, b);
}

std::string difference_cell(const PairedDifference& d) {
  char buf[96];
  if (d.ci95) std::snprintf(buf, sizeof buf, "%+.3f ± %.3f", d.difference, *d.ci95);
  else std::snprintf(buf, sizeof buf, "%+.3f ± n/a", d.difference);
  return std::string(buf) + (d.within_noise ? " (within noise)" : "");
}

std::string eval_table(const std::vector<EvalRow>& rows) {
  int64_t k = 1;
  bool tools = false, reflection = false;
  std::string baseline;
  for (const EvalRow& r : rows) {
    k = std::max(k, r.result.samples_per_problem);
    tools = tools || r.tools;
    reflection = reflection || r.result.reflection_measured;
    if (baseline.empty()) baseline = r.baseline;
  }
  const bool compare = rows.size() > 1 && !baseline.empty();
  const std::string ks = std::to_string(k);
  std::string out = "| model | accuracy |";
  out += compare ? " vs " + baseline + " |" : "";
  out += " format rate | language consistency | response tokens |";
  out += k > 1 ? " pass@" + ks + " | maj@" + ks + " |" : "";
  out += reflection ? " reflection |" : "";
  out += tools ? " tool calls | tool errors |\n" : "\n";
  out += "| --- | --- |";
  out += compare ? " --- |" : "";
  out += " --- | --- | --- |";
  out += k > 1 ? " --- | --- |" : "";
  out += reflection ? " --- |" : "";
  out += tools ? " --- | --- |\n" : "\n";
  char numbers[160];
  for (const EvalRow& r : rows) {  // the name as it is, however long
    out += "| " + r.name + " | " + mean_with_ci(r.result.accuracy, r.result.accuracy_ci95) + " |";
    if (compare) out += " " + (r.vs_baseline ? difference_cell(*r.vs_baseline) : r.name == baseline ? "(baseline)" : "-") + " |";
    std::snprintf(numbers, sizeof numbers, " %.3f | %.3f | %.1f |", r.result.format_rate, r.result.language_consistency,
                  r.result.mean_response_tokens);
    out += numbers;
    if (k > 1) {
      auto it = r.result.pass_at_k.find(r.result.samples_per_problem);
      std::snprintf(numbers, sizeof numbers, " %.3f | %.3f |", it != r.result.pass_at_k.end() ? it->second : 0.0,
                    r.result.maj_at_k);
      out += numbers;
    }
    if (reflection) out += " " + (r.result.reflection_measured ? fixed(r.result.reflection_rate, 3) : std::string("off")) + " |";
    if (tools) {
      std::snprintf(numbers, sizeof numbers, " %s | %s |", r.tools ? fixed(r.result.tool_call_rate, 2).c_str() : "off",
                    r.tools ? fixed(r.result.tool_error_rate, 3).c_str() : "off");
      out += numbers;
    }
    out += "\n";
  }
  std::vector<std::pair<std::string, const EvalResult*>> results;
  for (const EvalRow& r : rows) results.emplace_back(r.name, &r.result);
  const std::string levels = difficulty_table(results);
  if (!levels.empty()) out += "\n" + levels;
  return out;
}

namespace {

nlohmann::json difference_json(const EvalRow& r) {
  if (!r.vs_baseline) return nullptr;
  const PairedDifference& d = *r.vs_baseline;
  return {{"name", r.baseline},
          {"difference", d.difference},
          {"ci95", d.ci95 ? nlohmann::json(*d.ci95) : nlohmann::json()},
          {"within_noise", d.within_noise},
          {"problems", d.n}};
}

// Each row compared with the baseline row, once it has been evaluated (rows before it too).
void compare_with_baseline(std::vector<EvalRow>& rows, const std::string& baseline) {
  const EvalRow* base = nullptr;
  for (const EvalRow& r : rows)
    if (r.name == baseline) base = &r;
  for (EvalRow& r : rows) {
    r.baseline = baseline;
    if (base && &r != base) r.vs_baseline = compare_rows(r, *base);
  }
}

}  // namespace

std::vector<EvalRow> run_eval_stage(const EvalStageConfig& c, const std::string& run_dir, const std::string& r1_binary,
                                    const rewards::RewardServices& services) {
  fs::create_directories(run_dir);
  // Every model is checked before the first is evaluated.
  std::vector<EvalStageConfig::Entry> present;
  for (const auto& e : c.models) {
    const bool here = fs::exists(fs::path(e.model) / "config.json");
    if (!here && !e.optional)
      throw ConfigError("eval: model '" + e.name + "': " + e.model + " holds no model (config.json)");
    if (!here) log::warn() << "eval: model '" << e.name << "' (" << e.model << ") is not there; left out of the table";
    else present.push_back(e);
  }
  auto reward_set = std::make_shared<rewards::RewardSet>(rewards::RewardSet::from_json(c.rewards, "rewards", services));
  const PromptDataset data = load_eval_dataset(c.eval.data, eval_fields_for(*reward_set, c.eval.accuracy, {}), c.skip_bad_lines);
  ModelEvalSetup setup;
  setup.prompt_template = c.prompt_template;
  setup.skip_bad_lines = c.skip_bad_lines;
  setup.rollout = c.rollout;
  setup.r1_binary = r1_binary;
  setup.scorer = std::make_shared<rewards::BatchScorer>(reward_set, 0);
  const EvalOptions options = eval_options(c.eval, c.eval.max_new_tokens, c.target_language, c.seed);
  // The reference row: the named entry, else the first present one (a missing optional baseline:
  // no comparison).
  std::string baseline = c.baseline.empty() && !present.empty() ? present.front().name : c.baseline;
  if (!c.baseline.empty() && std::none_of(present.begin(), present.end(), [&](const auto& e) { return e.name == c.baseline; })) {
    log::warn() << "eval: the baseline '" << c.baseline << "' is not there; the models are not compared";
    baseline.clear();
  }
  std::vector<EvalRow> rows;
  nlohmann::json out = {{"data", c.eval.data}, {"k", c.eval.k}, {"baseline", baseline.empty() ? nlohmann::json() : nlohmann::json(baseline)},
                        {"rows", nlohmann::json::array()}};
  nlohmann::json summary = nlohmann::json::object();
  for (const auto& e : present) {
    EvalRow row{e.name, e.model, {}, 0, e.tools && !c.tools.is_null(), {}, {}, {}, std::nullopt};
    setup.tools = row.tools ? c.tools : nlohmann::json();
    std::unique_ptr<telemetry::StepProgress> progress;  // sized once the model's prompts are known
    const EvalReport report = evaluate_model(
        e.model, data, setup, options,
        [&](size_t done, size_t total, const PromptRow&, const std::vector<ScoredSample>&, const ProblemOutcome&) {
          if (!progress)
            progress = std::make_unique<telemetry::StepProgress>("eval " + e.name, static_cast<int64_t>(total), 0,
                                                                 std::max<int64_t>(10, static_cast<int64_t>(total) / 10));
          progress->update(static_cast<int64_t>(done), "");
        },
        &row.seconds);
    if (progress) progress->finish();
    row.result = report.overall;
    row.per_problem = report.per_problem;
    row.problem_lines = report.problem_lines;
    log::info() << "eval: " << e.name << ": accuracy " << mean_with_ci(row.result.accuracy, row.result.accuracy_ci95) << ", format " << row.result.format_rate
                << ", language " << row.result.language_consistency << " (" << row.result.samples << " samples, "
                << static_cast<int64_t>(row.seconds) << " s)";
    nlohmann::json j = row.result.to_json();
    j["name"] = e.name;
    j["model"] = e.model;
    j["seconds"] = row.seconds;
    j["tools"] = row.tools;
    j["by_source"] = report.to_json()["by_source"];
    j["per_problem"] = row.per_problem;
    out["rows"].push_back(j);
    summary[e.name] = row.result.to_json();
    summary[e.name]["tools"] = row.tools;
    rows.push_back(std::move(row));
    if (!baseline.empty()) compare_with_baseline(rows, baseline);
    for (size_t i = 0; i < rows.size(); ++i) {  // a baseline evaluated later compares the rows before it too
      out["rows"][i]["vs_baseline"] = difference_json(rows[i]);
      summary[rows[i].name]["vs_baseline"] = difference_json(rows[i]);
    }
    // Written after every model, so an interrupted stage keeps what it measured.
    write_file_atomic((fs::path(run_dir) / "eval.json").string(), out.dump(2) + "\n");
    write_file_atomic((fs::path(run_dir) / "summary.json").string(), summary.dump(2) + "\n");
  }
  const std::string table = eval_table(rows);
  write_file_atomic((fs::path(run_dir) / "eval.json").string(), out.dump(2) + "\n");
  write_file_atomic((fs::path(run_dir) / "table.md").string(), table);
  std::printf("\n%s(%zu held-out prompts from %s; %s/eval.json)\n", table.c_str(),
              rows.empty() ? size_t{0} : static_cast<size_t>(rows.front().result.problems), c.eval.data.c_str(), run_dir.c_str());
  std::fflush(stdout);
  return rows;
}

}  // namespace r1::run

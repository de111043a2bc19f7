// The rejection-sample stage: see rejection_sample.h.
#include "run/rejection_sample.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "checkpoint/config.h"
#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/text.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"
#include "rollout/client.h"
#include "run/dataset.h"
#include "run/trajectory.h"
#include "telemetry/run_log.h"

namespace fs = std::filesystem;

namespace r1::run {

RejectionSampleConfig RejectionSampleConfig::read(ConfigReader& r) {
  RejectionSampleConfig c;
  c.model = r.require_string("model");
  c.prompts = r.require_string("prompts");
  c.prompt_template = r.get("template", c.prompt_template);
  c.skip_bad_lines = r.get_choice("on_bad_line", "stop", {"stop", "skip"}) == "skip";
  c.target_language = r.get("target_language", c.target_language);
  c.seed = static_cast<uint64_t>(r.get("seed", static_cast<int64_t>(c.seed)));
  c.limit = r.get("limit", c.limit);
  c.samples_per_prompt = r.get("samples_per_prompt", c.samples_per_prompt);
  c.keep_per_prompt = r.get("keep_per_prompt", c.keep_per_prompt);
  {
    ConfigReader s = r.child("sampling");
    SamplingSettings read = SamplingSettings::read(s, {c.temperature, c.top_p, c.max_new_tokens});
    c.temperature = read.temperature, c.top_p = read.top_p, c.max_new_tokens = read.max_new_tokens;
    s.finish();
  }
  if (const nlohmann::json* rw = r.raw("rewards")) c.rewards = rewards::RewardSet::current_spelling(*rw, r.key_path("rewards"));
  else throw ConfigError(r.key_path("rewards") + ": required (they judge which samples are correct)");
  c.accuracy = r.get("accuracy_component", c.accuracy);
  {
    ConfigReader f = r.child("filters");
    c.filters = RejectionFilters::read(f);
    f.finish();
  }
  if (const nlohmann::json* t = r.raw("tools")) c.tools = read_stage_tools(*t, r.key_path("tools"), c.prompt_template);
  c.passthrough = r.get("passthrough", c.passthrough);
  c.passthrough_limit = r.get("passthrough_limit", c.passthrough_limit);
  {
    const DeviceChoice device = read_device(r);  // the stage's: its workers' unless "rollout" names one
    ConfigReader w = r.child("rollout");
    c.rollout = RolloutConfig::read(w, device);
    if (c.rollout.colocate)  // this stage runs without LibTorch in the trainer: its sampling is the workers'
      throw ConfigError(w.key_path("colocate") + ": only a grpo stage runs its engine in its own process");
    w.finish();
  }
  if (c.limit < 0 || c.passthrough_limit < 0) throw ConfigError(r.key_path("limit") + ": limits must be >= 0 (0: all)");
  if (c.samples_per_prompt < 1) throw ConfigError(r.key_path("samples_per_prompt") + ": must be >= 1");
  if (c.keep_per_prompt < 1) throw ConfigError(r.key_path("keep_per_prompt") + ": must be >= 1");
  if (c.max_new_tokens < 1) throw ConfigError(r.key_path("sampling") + ".max_new_tokens: must be >= 1");
  return c;
}

namespace {

// The passthrough rows: SFT rows as they are, checked for shape.
std::vector<nlohmann::json> read_passthrough(const RejectionSampleConfig& c) {
  std::vector<nlohmann::json> out;
  if (c.passthrough.empty()) return out;
  std::ifstream in(c.passthrough, std::ios::binary);
  if (!in) throw Error(c.passthrough + ": cannot open the passthrough dataset");
  JsonLinesReader reader(in, c.passthrough);
  size_t skipped = 0;
  nlohmann::json row;
  while ((c.passthrough_limit == 0 || static_cast<int64_t>(out.size()) < c.passthrough_limit)) {
    try {
      if (!reader.next(row)) break;
      const bool ok = row.is_object() && ((row.contains("messages") && row["messages"].is_array() && !row["messages"].empty()) ||
                                          (row.contains("prompt") && row["prompt"].is_string() && row.contains("completion") &&
                                           row["completion"].is_string()) ||
                                          (row.contains("segments") && row["segments"].is_array()));
      if (!ok)
        throw ConfigError(reader.where() + "expected {\"messages\": [...]}, {\"prompt\", \"completion\"} or a trajectory's {\"segments\": [...]}");
      row["source"] = "passthrough";
      out.push_back(row);
    } catch (const ConfigError& e) {
      if (!c.skip_bad_lines) throw;
      if (skipped++ == 0) log::warn() << e.what() << " (skipped; further bad lines are counted)";
    }
  }
  if (skipped) log::warn() << c.passthrough << ": " << skipped << " malformed lines skipped";
  return out;
}

std::string strip_leading_space(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

}  // namespace

nlohmann::json rejection_sft_row(const PromptRow& row, const ScoredSample& s, const Tokenizer& tokenizer) {
  nlohmann::json out;
  if (has_appended(s.sampled)) {
    // The prompt as the row gave it (the SFT stage renders it through its template), then the
    // trajectory's segments exactly as sampled and appended.
    if (row.messages.is_array()) out["messages"] = row.messages;
    else out["prompt"] = row.prompt;
    out["segments"] = segments_to_json(trajectory_segments(tokenizer, s.ids, s.sampled));
  } else {
    nlohmann::json messages = row.messages.is_array() ? row.messages
                                                      : nlohmann::json::array({{{"role", "user"}, {"content", row.prompt}}});
    messages.push_back({{"role", "assistant"}, {"content", strip_leading_space(s.text)}});
    out["messages"] = messages;
  }
  out["source"] = "rejection";
  for (const auto& [k, v] : row.reference.items())
    if (k != "prompt" && k != "messages" && k != "segments") out[k] = v;
  return out;
}

namespace {

// What the stage keeps while groups arrive. Groups arrive in finishing order; the files are written in
// dataset order, so a rerun gives the same files.
class Judge {
 public:
  Judge(const RejectionSampleConfig& c, const Tokenizer& tokenizer) : c_(c), tokenizer_(tokenizer) {}

  // Judges one prompt's samples: filters, duplicates, then at most keep_per_prompt kept.
  void group(const PromptRow& row, const std::vector<ScoredSample>& group) {
    const std::string question = row.messages.is_array() ? row.messages.dump() : row.prompt;
    int64_t kept_here = 0;
    for (const ScoredSample& s : group) {
      std::string reason = rejection(s, question, kept_here);
      nlohmann::json components = nlohmann::json::object();
      for (const auto& [k, v] : s.score.components) components[k] = v;
      nlohmann::json sample = {{"row", s.row}, {"sample", s.index}, {"prompt", s.prompt}, {"completion", s.text},
                               {"tokens", s.ids.size()}, {"components", components}, {"kept", reason.empty()}};
      if (!c_.tools.is_null())
        sample["tools"] = {{"turns", s.tools.turns},         {"calls", s.tools.calls},
                           {"errors", s.tools.errors},       {"tool_tokens", s.tools.tool_tokens},
                           {"tool_seconds", s.tools.tool_seconds}, {"limit", s.tool_limit}};
      if (!reason.empty()) {
        sample["reason"] = reason;
        result_.reasons[reason] = result_.reasons.value(reason, 0) + 1;
      } else {
        ++kept_here;
        kept_by_row_[s.row].push_back(rejection_sft_row(row, s, tokenizer_));
      }
      samples_by_row_[s.row].push_back(std::move(sample));
      ++result_.samples;
    }
    result_.kept += kept_here;
  }

  // Writes samples.jsonl, sft.jsonl (kept rows, then the passthrough) and summary.json.
  RejectionSampleResult finish(const std::string& run_dir, int64_t prompts, const std::vector<nlohmann::json>& passthrough) {
    std::string sft, samples;
    for (const auto& [r, v] : kept_by_row_)
      for (const auto& j : v) sft += j.dump() + "\n";
    for (const auto& j : passthrough) sft += j.dump() + "\n";
    for (const auto& [r, v] : samples_by_row_)
      for (const auto& j : v) samples += j.dump() + "\n";
    write_file_atomic((fs::path(run_dir) / "samples.jsonl").string(), samples);
    write_file_atomic((fs::path(run_dir) / "sft.jsonl").string(), sft);
    result_.prompts = prompts;
    result_.passthrough = static_cast<int64_t>(passthrough.size());
    const nlohmann::json summary = {
        {"prompts", result_.prompts},
        {"samples", result_.samples},
        {"kept", result_.kept},
        {"acceptance", result_.samples ? static_cast<double>(result_.kept) / static_cast<double>(result_.samples) : 0.0},
        {"passthrough", result_.passthrough},
        {"rejected", result_.reasons}};
    write_file_atomic((fs::path(run_dir) / "summary.json").string(), summary.dump(2) + "\n");
    return result_;
  }

  const RejectionSampleResult& so_far() const { return result_; }

 private:
  // Why a sample is not kept ("" keeps it).
  std::string rejection(const ScoredSample& s, const std::string& question, int64_t kept_here) {
    auto acc = s.score.components.find(c_.accuracy);
    if (acc == s.score.components.end())
      throw ConfigError("rejection-sample: the rewards give no '" + c_.accuracy + "' component (set accuracy_component)");
    std::string reason = rejection_reason(s.text, static_cast<int64_t>(s.ids.size()), acc->second, c_.target_language, c_.filters);
    if (reason.empty() && !dedup_.first(question, s.text)) reason = "duplicate";
    if (reason.empty() && kept_here >= c_.keep_per_prompt) reason = "enough kept for this prompt";
    return reason;
  }

  const RejectionSampleConfig& c_;
  const Tokenizer& tokenizer_;
  std::map<size_t, std::vector<nlohmann::json>> samples_by_row_, kept_by_row_;
  RejectionSampleResult result_;
  Deduplicator dedup_;
};

rollout::SamplingParams sampling_params(const RejectionSampleConfig& c) {
  rollout::SamplingParams spec;
  spec.n = c.samples_per_prompt;
  spec.max_new_tokens = c.max_new_tokens;
  spec.temperature = c.temperature;
  spec.top_p = c.top_p;
  spec.seed = c.seed * 7919ULL + 11;
  return spec;
}

}  // namespace

RejectionSampleResult run_rejection_sample(const RejectionSampleConfig& c, const std::string& run_dir,
                                           const std::string& r1_binary, const rewards::RewardServices& services) {
  fs::create_directories(run_dir);
  const std::vector<nlohmann::json> passthrough = read_passthrough(c);  // bad input found before sampling
  const Tokenizer tokenizer = Tokenizer::load(c.model);
  PromptDataset data = PromptDataset::load(c.prompts, c.skip_bad_lines, c.seed);
  check_prompt_lengths(data, PromptRenderer(tokenizer, c.prompt_template),
                       checkpoint::read_model_config(c.model + "/config.json").max_position_embeddings, c.max_new_tokens,
                       c.skip_bad_lines);
  auto reward_set = std::make_shared<rewards::RewardSet>(rewards::RewardSet::from_json(c.rewards, "rewards", services));
  auto scorer = std::make_shared<rewards::BatchScorer>(reward_set, 0);
  rollout::RolloutClient client(c.rollout.client_options(r1_binary, c.model, c.samples_per_prompt, 0));
  Sampler sampler(client, tokenizer, c.prompt_template, scorer, c.target_language, checkpoint::read_eos_token_ids(c.model));

  std::vector<size_t> rows;
  const size_t n = c.limit > 0 ? std::min<size_t>(data.size(), static_cast<size_t>(c.limit)) : data.size();
  for (size_t i = 0; i < n; ++i) rows.push_back(i);

  if (!c.tools.is_null()) sampler.set_tools(c.tools.dump(), tool_shaping(c.tools), tool_schemas(c.tools));

  Judge judge(c, tokenizer);
  telemetry::StepProgress progress("rejection-sample", static_cast<int64_t>(rows.size()), 0, 10);
  int64_t done = 0;
  sampler.run(data, rows, sampling_params(c), [&](size_t, std::vector<ScoredSample>&& group) {
    judge.group(data.row(group.front().row), group);
    char fields[64];
    std::snprintf(fields, sizeof fields, "kept %lld of %lld", static_cast<long long>(judge.so_far().kept),
                  static_cast<long long>(judge.so_far().samples));
    progress.update(++done, fields);
  }, nullptr);
  progress.finish();

  const RejectionSampleResult result = judge.finish(run_dir, static_cast<int64_t>(rows.size()), passthrough);
  log::info() << "rejection-sample: kept " << result.kept << " of " << result.samples << " samples from " << result.prompts
              << " prompts, plus " << result.passthrough << " passthrough rows -> " << (fs::path(run_dir) / "sft.jsonl").string();
  if (result.kept == 0 && result.passthrough == 0)
    throw Error("rejection-sample: no sample passed the filters and there is no passthrough data: the SFT set would be "
                "empty (see " + (fs::path(run_dir) / "samples.jsonl").string() + " for the reasons)");
  return result;
}

}  // namespace r1::run

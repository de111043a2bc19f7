// r1 eval --model DIR --data FILE.jsonl --k K: a held-out set through rollout workers started for the
// model, K samples a problem, scored by a reward set, measured as papers report it (run/evaluate.h,
// run/eval_metrics.h): pass@1 over K samples, pass@k, maj@K, format rate, language consistency, mean
// length, truncation rate, overall and per data source. A table on stdout, JSON with --out, every
// sample with --samples-out, a progress bar on stderr. No LibTorch in this process: the workers are
// `r1 rollout serve` children (docs/recipes.md, "r1 eval").
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <unistd.h>

#include "cli/command.h"
#include "cli/torch_module.h"
#include "core/config.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"
#include "core/text.h"
#include "rewards/language.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"
#include "rollout/worker_options.h"
#include "run/eval_data.h"
#include "run/evaluate.h"
#include "run/reflection.h"
#include "telemetry/run_log.h"

namespace fs = std::filesystem;

namespace r1::cli {
namespace {

// The reward set r1 eval scores with unless --rewards names one: the math verifier and the strict
// <think>/<answer> format, as the R1-Zero recipes train with.
const char* kDefaultRewards = R"([{"kind": "math", "name": "accuracy"}, {"kind": "format", "name": "format"}])";

struct EvalCommandOptions {
  std::string model, adapter, data, rewards, out, samples_out, tools;
  bool tools_only = false;
  std::string prompt_template = "r1-zero";
  std::string target_language = "en";
  std::string accuracy = "accuracy", format = "format";
  std::string prompt_field, answer_field, source_field;
  std::string on_bad_line = "stop";
  int64_t k = 1, max_new_tokens = 1024, limit = 0, top_k = 0;
  double temperature = 0.6, top_p = 0.95, min_p = 0;
  uint64_t seed = 1;
  bool json = false;
  // Workers.
  int workers = 1, threads_per_worker = 1;
  std::string precision = "bf16";
  double kv_cache_mb = 256, kv_cache_fraction = 0, group_timeout_s = 600;
  std::vector<std::string> addresses;
  DeviceChoice device;
  std::vector<std::string> reflection_phrases;
};

// Checks what CLI11 cannot say in one line naming the flag.
void check(const EvalCommandOptions& o) {
  if (!fs::exists(fs::path(o.model) / "config.json"))
    throw ConfigError("--model " + o.model + ": " +
                      (fs::is_directory(o.model) ? "holds no model (no config.json)" : "no such folder"));
  if (!o.adapter.empty() && !fs::exists(fs::path(o.adapter) / "adapter_config.json"))
    throw ConfigError("--adapter " + o.adapter + ": " +
                      (fs::is_directory(o.adapter) ? "holds no adapter (no adapter_config.json)" : "no such folder"));
  if (!fs::is_regular_file(o.data)) throw ConfigError("--data " + o.data + ": no such file");
  if (o.k < 1) throw ConfigError("--k " + std::to_string(o.k) + ": must be >= 1 (samples per problem)");
  if (o.k > 4096) throw ConfigError("--k " + std::to_string(o.k) + ": at most 4096 samples per problem");
  if (!std::isfinite(o.temperature) || o.temperature < 0) throw ConfigError("--temperature: must be >= 0 (0: greedy)");
  if (!(o.top_p > 0 && o.top_p <= 1)) throw ConfigError("--top-p: must be in (0, 1]");
  if (!(o.min_p >= 0 && o.min_p < 1)) throw ConfigError("--min-p: must be in [0, 1)");
  if (o.top_k < 0) throw ConfigError("--top-k: must be >= 0 (0: all tokens)");
  if (o.max_new_tokens < 1) throw ConfigError("--max-new-tokens: must be >= 1");
  if (o.limit < 0) throw ConfigError("--limit: must be >= 0 (0: all)");
  if (o.workers < 1) throw ConfigError("--workers: must be >= 1");
  if (o.threads_per_worker < 0) throw ConfigError("--threads-per-worker: must be >= 0 (0: one per core)");
  if (!(o.kv_cache_mb > 0)) throw ConfigError("--kv-cache-mb: must be > 0");
  if (o.kv_cache_fraction < 0 || o.kv_cache_fraction > 0.95) throw ConfigError("--kv-cache-fraction: must be in [0, 0.95]");
  rewards::scripts_of_language(o.target_language);  // an unknown language is refused now
  run::check_reflection_phrases(o.reflection_phrases, "--reflection-phrase");
  if (o.k > 1 && o.temperature == 0)
    log::warn() << "--k " << o.k << " with --temperature 0: greedy samples of one problem are all alike, so pass@k = pass@1";
}

run::RolloutConfig rollout_config(const EvalCommandOptions& o) {
  run::RolloutConfig r;
  r.workers = o.workers;
  r.addresses = o.addresses;
  r.precision = parse_weight_precision(o.precision, "--precision");
  r.kv_cache_mb = o.kv_cache_mb;
  r.kv_cache_fraction = o.kv_cache_fraction;
  r.threads_per_worker = o.threads_per_worker;
  r.group_timeout_s = o.group_timeout_s;
  r.device = o.device;
  if (const char* env = std::getenv("R1_ROLLOUT_TOKEN")) r.token = env;
  return r;
}

// One line of --samples-out: a sample, its scores, the answer it states and whether the vote chose it.
nlohmann::json sample_row(const run::PromptRow& row, const run::ScoredSample& s, const run::SampleOutcome& o, bool voted,
                          const std::string& gold_key) {
  return {{"line", row.line},
          {"source", row.source},
          {"gold", row.reference.value(gold_key, nlohmann::json())},
          {"sample", s.index},
          {"completion", s.text},
          {"answer", o.answer ? nlohmann::json(*o.answer) : nlohmann::json()},
          {"correct", o.correct()},
          {"voted", voted},
          {"reward", s.score.value},
          {"components", s.score.components},
          {"reason", s.score.reason},
          {"tokens", o.tokens},
          {"truncated", o.truncated}};
}

void run_eval(const EvalCommandOptions& o) {
  check(o);
  const nlohmann::json reward_config = o.rewards.empty() ? nlohmann::json::parse(kDefaultRewards) : read_json_file(o.rewards);
  auto reward_set = std::make_shared<rewards::RewardSet>(
      rewards::RewardSet::from_json(reward_config, o.rewards.empty() ? "default rewards" : o.rewards, reward_services()));
  bool has_accuracy = false;
  for (const auto& e : reward_set->entries()) has_accuracy = has_accuracy || e.reward->name() == o.accuracy;
  if (!has_accuracy)
    throw ConfigError((o.rewards.empty() ? std::string("the rewards") : o.rewards) + ": no reward named '" + o.accuracy +
                      "' (--accuracy-component names the one that says correct)");
  run::EvalFields fields;
  fields.prompt = o.prompt_field;
  fields.answer = o.answer_field;
  fields.source = o.source_field;
  fields = run::eval_fields_for(*reward_set, o.accuracy, fields);
  const bool skip = o.on_bad_line == "skip";
  const run::PromptDataset data = run::load_eval_dataset(o.data, fields, skip);

  // An adapter is merged into a copy of the base once (W + scale * B A, in LibTorch's module), and the
  // workers serve the merged model: the same numbers as applying it unmerged, at plain-model speed.
  std::string model = o.model;
  std::unique_ptr<fs::path, void (*)(fs::path*)> merged(nullptr, [](fs::path* p) {
    std::error_code ec;
    fs::remove_all(*p, ec);
    delete p;
  });
  if (!o.adapter.empty()) {
    merged.reset(new fs::path(fs::temp_directory_path() / ("r1-eval-merged-" + std::to_string(getpid()))));
    fs::remove_all(*merged);
    ModelMergeLoraOptions merge;
    merge.base = o.model;
    merge.adapter = o.adapter;
    merge.out = merged->string();
    log::info() << "eval: merging the adapter " << o.adapter << " into " << o.model << " (" << merge.out << ")";
    torch_commands().model_merge_lora(torch_context(), merge);
    model = merge.out;
  }

  run::ModelEvalSetup setup;
  setup.prompt_template = o.prompt_template;
  setup.skip_bad_lines = skip;
  setup.rollout = rollout_config(o);
  setup.r1_binary = fs::read_symlink("/proc/self/exe").string();
  setup.scorer = std::make_shared<rewards::BatchScorer>(reward_set, static_cast<size_t>(global_options().threads));
  if (!o.tools.empty()) setup.tools = run::read_stage_tools(read_json_file(o.tools), o.tools, o.prompt_template);
  run::EvalOptions options;
  options.samples_per_problem = o.k;
  options.limit = o.limit;
  options.max_new_tokens = o.max_new_tokens;
  options.temperature = o.temperature;
  options.top_p = o.top_p;
  options.top_k = o.top_k;
  options.min_p = o.min_p;
  options.seed = o.seed;
  options.accuracy = o.accuracy;
  options.format = o.format;
  options.target_language = o.target_language;
  options.reflection_phrases = o.reflection_phrases;

  std::ofstream samples_out;
  if (!o.samples_out.empty()) {
    samples_out.open(o.samples_out, std::ios::binary | std::ios::trunc);
    if (!samples_out) throw Error("--samples-out " + o.samples_out + ": cannot write");
  }
  const size_t total = o.limit > 0 ? std::min<size_t>(data.size(), static_cast<size_t>(o.limit)) : data.size();
  log::info() << "eval: " << o.model << " on " << total << " problems of " << o.data << ", " << o.k << " samples each";
  std::unique_ptr<telemetry::StepProgress> progress;  // sized by the prompts that fit the model
  size_t correct = 0, samples = 0;
  double seconds = 0;
  const run::EvalReport report = run::evaluate_model(
      model, data, setup, options,
      [&](size_t done, size_t problems, const run::PromptRow& row, const std::vector<run::ScoredSample>& group,
          const run::ProblemOutcome& p) {
        for (size_t i = 0; i < group.size(); ++i) {
          correct += p.samples[i].correct() ? 1 : 0;
          ++samples;
          if (samples_out.is_open())
            samples_out << to_json_line(sample_row(row, group[i], p.samples[i], p.vote == static_cast<int>(i), fields.gold_key))
                        << '\n';
        }
        char fields_text[64];
        std::snprintf(fields_text, sizeof fields_text, "pass@1 %.3f",
                      samples ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0);
        if (!progress)
          progress = std::make_unique<telemetry::StepProgress>("eval", static_cast<int64_t>(problems), 0,
                                                               std::max<int64_t>(1, static_cast<int64_t>(problems) / 10));
        progress->update(static_cast<int64_t>(done), fields_text);
      },
      &seconds);
  if (progress) progress->finish();
  // With tools, the same problems and sampling without them, so the table says what the tools add.
  std::optional<run::EvalReport> without;
  if (!setup.tools.is_null() && !o.tools_only) {
    run::ModelEvalSetup plain = setup;
    plain.tools = nlohmann::json();
    log::info() << "eval: the same problems without tools";
    double plain_seconds = 0;
    without = run::evaluate_model(model, data, plain, options, nullptr, &plain_seconds);
    seconds += plain_seconds;
  }
  if (samples_out.is_open()) {
    samples_out.flush();
    if (!samples_out) throw Error("--samples-out " + o.samples_out + ": write failed (disk full?)");
  }

  nlohmann::json ks = nlohmann::json::array();
  for (int64_t k : run::pass_k_values(o.k)) ks.push_back(k);
  nlohmann::json out = {{"model", o.model},
                        {"adapter", o.adapter.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.adapter)},
                        {"data", o.data},
                        {"k", o.k},
                        {"pass_k", ks},
                        {"sampling", {{"temperature", o.temperature}, {"top_p", o.top_p}, {"top_k", o.top_k}, {"min_p", o.min_p},
                                      {"max_new_tokens", o.max_new_tokens}, {"seed", o.seed}}},
                        {"template", o.prompt_template},
                        {"rewards", reward_config},
                        {"accuracy_component", o.accuracy},
                        {"format_component", o.format},
                        {"reflection_phrases", o.reflection_phrases},
                        {"rows_skipped", data.skipped()},
                        {"seconds", seconds}};
  const nlohmann::json measured = report.to_json();
  out["overall"] = measured["overall"];
  out["by_source"] = measured["by_source"];
  out["per_problem"] = measured["per_problem"];  // each problem's pass@1, held-out order (pooling seeds, pairing models)
  if (!setup.tools.is_null()) out["tools"] = setup.tools;
  if (without) out["without_tools"] = without->to_json()["overall"];
  if (!o.out.empty()) write_file_atomic(o.out, out.dump(2) + "\n");
  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s", run::eval_report_table(report).c_str());
    if (!setup.tools.is_null())
      std::printf("with tools: %.2f calls per trajectory, %.1f%% of calls answered with an error\n",
                  report.overall.tool_call_rate, 100.0 * report.overall.tool_error_rate);
    if (without)
      std::printf("without tools: accuracy %s (with: %s; %+.1f points), format rate %.3f\n",
                  run::mean_with_ci(without->overall.accuracy, without->overall.accuracy_ci95).c_str(),
                  run::mean_with_ci(report.overall.accuracy, report.overall.accuracy_ci95).c_str(),
                  100.0 * (report.overall.accuracy - without->overall.accuracy), without->overall.format_rate);
    std::printf("(%lld problems x %lld samples of %s, temperature %g, top-p %g, max %lld new tokens; %.0f s%s%s)\n",
                static_cast<long long>(report.overall.problems), static_cast<long long>(o.k), o.data.c_str(), o.temperature,
                o.top_p, static_cast<long long>(o.max_new_tokens), seconds, o.out.empty() ? "" : "; ", o.out.c_str());
  }
  std::fflush(stdout);
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalCommandOptions>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate a model on a held-out set through rollout workers: pass@1 over K samples, pass@k, maj@K, format rate, "
      "language consistency, length and truncation, overall and per data source (GSM8K, MATH and AIME rows read as they "
      "ship; docs/recipes.md)");
  cmd->add_option("--model", o->model, "Model folder (Hugging Face layout)")->required();
  cmd->add_option("--adapter", o->adapter,
                  "A PEFT LoRA adapter folder for the model: merged into a temporary copy of it, which the workers serve");
  cmd->add_option("--data", o->data,
                  "Held-out JSON lines: a prompt (prompt, messages, question or problem) and a gold answer (answer, "
                  "reward_model.ground_truth, ground_truth or solution: a GSM8K '#### N', a MATH \\boxed{}, a number)")
      ->required();
  cmd->add_option("--k", o->k, "Samples per problem (K): pass@1 is averaged over them, pass@k reported for k = 1, 2, 4, ... K")
      ->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "Sampling temperature (0: greedy); the R1 paper's evaluation used 0.6")
      ->capture_default_str();
  cmd->add_option("--top-p", o->top_p, "Nucleus sampling (R1: 0.95)")->capture_default_str();
  cmd->add_option("--top-k", o->top_k, "Keep the k most likely tokens (0: all)")->capture_default_str();
  cmd->add_option("--min-p", o->min_p, "Drop tokens below min-p x the most likely one's probability")->capture_default_str();
  cmd->add_option("--max-new-tokens", o->max_new_tokens, "Tokens a completion may have (more: truncated)")->capture_default_str();
  cmd->add_option("--template", o->prompt_template, "Chat template: a name (r1-zero, qwen2, chatml, ...) or a file; '' = the model's own")
      ->capture_default_str();
  cmd->add_option("--rewards", o->rewards,
                  "Reward set (JSON, docs/rewards.md) that scores the samples (default: math verifier as 'accuracy' + strict "
                  "format as 'format')");
  cmd->add_option("--accuracy-component", o->accuracy, "The reward that says correct (>= 1)")->capture_default_str();
  cmd->add_option("--format-component", o->format, "The reward that says well-formed (>= 1)")->capture_default_str();
  cmd->add_option("--target-language", o->target_language, "Language of the chains of thought, for language consistency")
      ->capture_default_str();
  cmd->add_option("--prompt-field", o->prompt_field,
                  "The rows' prompt field (default: the first of prompt, messages, question, problem)");
  cmd->add_option("--answer-field", o->answer_field,
                  "The rows' gold-answer field, a path like reward_model.ground_truth (default: the first of answer, "
                  "reward_model.ground_truth, ground_truth, solution)");
  cmd->add_option("--source-field", o->source_field,
                  "The rows' data-source field for per-source results (default: data_source or source)");
  cmd->add_option("--reflection-phrase", o->reflection_phrases,
                  "A phrase that marks reflection (self-checking), e.g. 'wait,': the share of samples whose completion "
                  "holds any of them, case-insensitively, is reported (repeat the option, or list several after it)")
      ->take_all();
  cmd->add_option("--limit", o->limit, "Only the first N problems (0: all)")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Sampling seed (problem i samples with seed + 77 + i)")->capture_default_str();
  cmd->add_option("--on-bad-line", o->on_bad_line, "A malformed row or a prompt too long for the model: stop, or skip and count it")
      ->check(CLI::IsMember({"stop", "skip"}))
      ->capture_default_str();
  cmd->add_option("--tools", o->tools,
                  "A JSON file holding a \"tools\" object (docs/tools.md): the model answers in multi-turn trajectories "
                  "that call them; the same problems are then evaluated without tools too")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--tools-only", o->tools_only, "With --tools: skip the evaluation without tools");
  cmd->add_option("--out", o->out, "Write the results as JSON (docs/recipes.md lists the keys)");
  cmd->add_option("--samples-out", o->samples_out, "Write every sample as JSON lines: completion, stated answer, scores, vote");
  cmd->add_flag("--json", o->json, "Print the JSON on stdout instead of the table");
  cmd->add_option("--workers", o->workers, "Local rollout workers to start")->capture_default_str();
  cmd->add_option("--threads-per-worker", o->threads_per_worker, "LibTorch threads of each worker (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--precision", o->precision, "Worker weights: bf16, fp32 or fp8 (fp8 evaluates a quantised model)")
      ->check(CLI::IsMember({"fp8", "bf16", "fp32"}))
      ->capture_default_str();
  cmd->add_option("--kv-cache-mb", o->kv_cache_mb, "KV cache budget of each worker")->capture_default_str();
  cmd->add_option("--kv-cache-fraction", o->kv_cache_fraction, "> 0: the KV budget as this share of the device's free memory")
      ->capture_default_str();
  cmd->add_option("--group-timeout", o->group_timeout_s, "Seconds a problem's samples may take before they are sent to another worker")
      ->capture_default_str();
  cmd->add_option("--addresses", o->addresses, "Remote workers (host:port, serving the same --model) instead of local ones")
      ->delimiter(',');
  rollout::add_device_option(*cmd, o->device, "Where local workers run the model: auto (a GPU when there is one), cpu, cuda, cuda:N");
  cmd->callback([o] { run_eval(*o); });
}

}  // namespace r1::cli

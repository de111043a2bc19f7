// Held-out evaluation: see evaluate.h.
#include "run/evaluate.h"

#include <chrono>

#include "checkpoint/config.h"
#include "core/error.h"
#include "rewards/language.h"
#include "rewards/math.h"
#include "rewards/reward_set.h"
#include "rewards/scorer.h"
#include "rollout/client.h"
#include "run/reflection.h"

namespace r1::run {
namespace {

// How the accuracy component reads a final answer: its math reward's options, else the defaults.
rewards::MathOptions vote_reading(const rewards::RewardSet& set, const std::string& accuracy) {
  for (const rewards::RewardEntry& e : set.entries())
    if (e.reward && e.reward->name() == accuracy)
      if (const auto* math = dynamic_cast<const rewards::MathReward*>(e.reward.get())) return math->options();
  return {};
}

// Two stated answers are one ballot when the math verifier finds them equal (within a second each;
// a timeout keeps them apart).
bool same_answer(const std::string& a, const std::string& b, const rewards::MathOptions& reading) {
  return rewards::verify_math(a, b, reading, rewards::Deadline::in(std::chrono::milliseconds(1000))).correct;
}

}  // namespace

EvalFields eval_fields_for(const rewards::RewardSet& set, const std::string& accuracy, EvalFields fields) {
  for (const rewards::RewardEntry& e : set.entries())
    if (e.reward && e.reward->name() == accuracy)
      if (const auto* math = dynamic_cast<const rewards::MathReward*>(e.reward.get())) {
        fields.require_answer = true;
        fields.gold_key = math->options().answer_field;
        return fields;
      }
  fields.require_answer = false;
  return fields;
}

EvalReport evaluate_samples(Sampler& sampler, const PromptDataset& data, const EvalOptions& e, const OnProblem& on_problem,
                            double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  if (e.samples_per_problem < 1) throw ConfigError("eval: samples per problem (k) must be >= 1");
  std::vector<size_t> rows;
  const size_t n = e.limit > 0 ? std::min<size_t>(data.size(), static_cast<size_t>(e.limit)) : data.size();
  for (size_t i = 0; i < n; ++i) rows.push_back(i);
  rollout::SamplingParams spec;
  spec.max_new_tokens = e.max_new_tokens;
  spec.temperature = e.temperature;
  spec.top_p = e.top_p;
  spec.top_k = e.top_k;
  spec.min_p = e.min_p;
  spec.n = e.samples_per_problem;
  spec.seed = e.seed + 77;
  const std::vector<int> scripts = rewards::scripts_of_language(e.target_language);
  const rewards::MathOptions reading = vote_reading(sampler.scorer().reward_set(), e.accuracy);
  std::vector<ProblemOutcome> problems(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {  // a bad difficulty stops before anything is sampled
    const PromptRow& row = data.row(rows[k]);
    problems[k].line = row.line;
    problems[k].difficulty = row_difficulty(row, "held-out line " + std::to_string(row.line) + ": ");
  }
  size_t done = 0;
  sampler.run(data, rows, spec, [&](size_t k, std::vector<ScoredSample>&& group) {
    ProblemOutcome& p = problems[k];
    const PromptRow& row = data.row(rows[k]);
    p.source = row.source;
    std::vector<std::optional<std::string>> answers;
    for (const ScoredSample& s : group) {
      SampleOutcome o;
      auto acc = s.score.components.find(e.accuracy);
      auto fmt = s.score.components.find(e.format);
      o.accuracy = acc != s.score.components.end() ? acc->second : 0;
      o.formatted = fmt != s.score.components.end() && fmt->second >= 1.0;
      o.truncated = s.truncated;
      o.tokens = static_cast<int64_t>(s.ids.size());
      o.tool_calls = s.tools.calls;
      o.tool_errors = s.tools.errors;
      // The <think> block r1's templates ask for; a byte-level model can cut a character in half,
      // and such a chain of thought counts no words.
      try {
        const rewards::WordCount wc = rewards::chain_of_thought_words(s.text, "think", scripts);
        o.target_words = wc.target;
        o.words = wc.total;
      } catch (const Error&) {
      }
      std::string answer = rewards::extract_answer(s.text, reading);
      if (!answer.empty()) o.answer = std::move(answer);
      if (!e.reflection_phrases.empty()) o.reflects = reflects(s.text, e.reflection_phrases);
      answers.push_back(o.answer);
      p.samples.push_back(std::move(o));
    }
    p.vote = majority_vote(answers, [&](const std::string& a, const std::string& b) { return same_answer(a, b, reading); });
    ++done;
    if (on_problem) on_problem(done, rows.size(), row, group, p);
  }, nullptr);
  EvalReport report = summarize(problems);
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

EvalReport evaluate_model(const std::string& model_dir, const PromptDataset& data, const ModelEvalSetup& setup,
                          const EvalOptions& options, const OnProblem& on_problem, double* seconds) {
  if (!setup.scorer) throw Error("eval: no rewards to score with");
  const Tokenizer tokenizer = Tokenizer::load(model_dir);
  PromptDataset fitting = data;  // each model's context decides which prompts it can answer
  check_prompt_lengths(fitting, PromptRenderer(tokenizer, setup.prompt_template),
                       checkpoint::read_model_config(model_dir + "/config.json").max_position_embeddings,
                       options.max_new_tokens, setup.skip_bad_lines);
  rollout::RolloutClient client(setup.rollout.client_options(setup.r1_binary, model_dir, options.samples_per_problem, 0));
  Sampler sampler(client, tokenizer, setup.prompt_template, setup.scorer, options.target_language,
                  checkpoint::read_eos_token_ids(model_dir));
  if (!setup.tools.is_null()) sampler.set_tools(setup.tools.dump(), tool_shaping(setup.tools), tool_schemas(setup.tools));
  return evaluate_samples(sampler, fitting, options, on_problem, seconds);
}

}  // namespace r1::run

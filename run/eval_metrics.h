// What an evaluation reports, computed from what each sample did (no LibTorch, no workers: pure
// functions, unit-tested on hand-computed values). docs/recipes.md, "r1 eval", gives the formulas.
//
//   pass@k       Chen et al. (2021)'s unbiased estimator from n samples of which c are correct:
//                1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i) (no factorials,
//                exact enough for n in the thousands), averaged over problems. pass@1 = c/n averaged
//                over problems: the R1 paper's "pass@1 over 64 samples".
//   maj@k        cons@k: the answers the samples state, grouped by equivalence, vote; the largest group
//                wins, a tie goes to the group whose first member came first (the lowest sample index),
//                samples stating no answer do not vote; the problem counts when the winner is correct.
//   interval     accuracy_ci95: the half-width of pass@1's 95% interval across problems, from each
//                problem's p_i = correct samples / K (run/eval_stats.h's mean_ci95: t_{0.975, n-1} *
//                sd(p_i) / sqrt(n)); none (JSON null) for fewer than 2 problems.
//   reflection   the share of samples whose completion holds one of the reflection phrases
//                (run/reflection.h); measured only when phrases are given.
//   the rest     accuracy (mean accuracy component; = pass@1 for 0/1 rewards), format rate, language
//                consistency (target-language words / all words of the chains of thought, pooled),
//                mean response length in tokens, truncation rate (finish reason: length).
//
// By difficulty: held-out rows may carry an integer "difficulty" (the steps a worked solution needs,
// a level); the overall result then holds the main measures per difficulty (by_difficulty, ordered
// numerically; problems without one are left out of it).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace r1::run {

// 1 - C(n-c, k) / C(n, k): the probability that k of the n samples drawn without replacement hold at
// least one of the c correct ones. Throws r1::Error unless 1 <= k <= n and 0 <= c <= n.
double pass_at_k(int64_t n, int64_t c, int64_t k);

// The k reported for K samples a problem: 1, 2, 4, ... below K, then K itself (64: 1 2 4 8 16 32 64;
// 10: 1 2 4 8 10).
std::vector<int64_t> pass_k_values(int64_t samples_per_problem);

// The majority vote: the index of the sample whose answer won (the first sample of the winning
// group), or -1 when no sample states an answer. `same` says whether two answers are equivalent; it
// is asked only about answers that differ as text, once per answer and group.
int majority_vote(const std::vector<std::optional<std::string>>& answers,
                  const std::function<bool(const std::string&, const std::string&)>& same);

// One sample, as the metrics see it.
struct SampleOutcome {
  double accuracy = 0;            // the accuracy component (correct: >= 1)
  bool formatted = false;         // the format component is 1
  bool truncated = false;         // stopped by max_new_tokens
  int64_t tokens = 0;             // completion tokens
  int64_t tool_calls = 0, tool_errors = 0;  // with tools (rollout/tools.h)
  size_t target_words = 0, words = 0;  // of its chain of thought
  std::optional<std::string> answer;   // the final answer it states (the vote's ballot)
  std::optional<bool> reflects;        // holds a reflection phrase; none: no phrases to look for
  bool correct() const { return accuracy >= 1.0; }
};

// One problem: its data source ("" when the row names none) and its samples.
struct ProblemOutcome {
  std::string source;
  std::vector<SampleOutcome> samples;
  int vote = -1;                  // majority_vote over the samples' answers
  std::optional<int64_t> difficulty;  // the row's "difficulty", when it has one
  int64_t line = 0;               // the held-out row's line (pairs problems across models)
  double pass_at_1() const;       // correct samples / K (0 without samples)
};

struct EvalResult;

// The measures of one difficulty's problems (EvalResult::by_difficulty).
struct DifficultyResult {
  int64_t problems = 0, samples = 0;
  double accuracy = 0, pass_at_1 = 0, mean_response_tokens = 0, format_rate = 0, reflection_rate = 0;
  std::optional<double> accuracy_ci95;  // pass@1's, as EvalResult's
  static DifficultyResult of(const EvalResult& r);
  nlohmann::json to_json() const;
  static DifficultyResult from_json(const nlohmann::json& j, const std::string& where);
};

// The measures of a set of problems (the whole set, or one data source).
struct EvalResult {
  double accuracy = 0, format_rate = 0, mean_response_tokens = 0;
  // Target-language words / all words of the chains of thought (the <think> blocks, or whole
  // completions without one), pooled over the samples: rewards/language.h's measure.
  double language_consistency = 0;
  int64_t samples = 0;
  // Since samples per problem (K) became an option; an older summary.json without them reads as K = 1.
  int64_t problems = 0, samples_per_problem = 1;
  std::map<int64_t, double> pass_at_k;  // k -> pass@k, k from pass_k_values(K)
  double maj_at_k = 0;                  // cons@K
  double truncation_rate = 0;
  // Tool calls per trajectory, and the share of calls answered with an error (0 without tools;
  // an older summary.json without them reads as 0).
  double tool_call_rate = 0, tool_error_rate = 0;
  // The half-width of pass@1's 95% interval across problems; none for fewer than 2 problems (JSON
  // null; an older file without it reads as none).
  std::optional<double> accuracy_ci95;
  // The share of samples that reflect (run/reflection.h), when phrases were given (reflection_measured).
  double reflection_rate = 0;
  bool reflection_measured = false;
  // Per held-out difficulty (rows with a "difficulty"): empty when no row has one. Set on the overall
  // result only; JSON "by_difficulty": {"<d>": {...}} (absent in older files and when empty).
  std::map<int64_t, DifficultyResult> by_difficulty;

  nlohmann::json to_json() const;
  // What to_json wrote; r1::Error naming `where` and the key when a field is missing or mistyped.
  static EvalResult from_json(const nlohmann::json& j, const std::string& where);
};

// The measures of every problem together and of each data source (empty when no problem names one;
// problems without a source are "(none)" when others have one).
// per_problem: each problem's pass@1 in the order the problems were given (held-out order), with
// the held-out line of each (problem_lines), for paired comparisons and pooling across seeds.
struct EvalReport {
  EvalResult overall;
  std::map<std::string, EvalResult> by_source;
  std::vector<double> per_problem;
  std::vector<int64_t> problem_lines;
  // {"overall": {...}, "by_source": {"name": {...}, ...}, "per_problem": [p_1, ...]}
  nlohmann::json to_json() const;
};

// Every problem must hold the same number of samples, K >= 1 (r1::Error otherwise).
EvalResult summarize(const std::vector<const ProblemOutcome*>& problems);
EvalReport summarize(const std::vector<ProblemOutcome>& problems);

// "0.520 ± 0.048" (digits after the point), or "0.520 ± n/a" without an interval.
std::string mean_with_ci(double mean, const std::optional<double>& ci95, int digits = 3);

// Rows of cells as an aligned Markdown table (the first row is the header; the first column is
// aligned left, the others right).
std::string markdown_table(const std::vector<std::vector<std::string>>& rows);

// The per-difficulty block of results ("" when none has by_difficulty): difficulty, problems, pass@1
// with its interval, tokens, and reflection when measured; a leading model column when there are
// several named results.
std::string difficulty_table(const std::vector<std::pair<std::string, const EvalResult*>>& results);

// The report as an aligned Markdown table: one row for all problems, then one per source, with the
// columns problems, pass@1 (with its 95% interval), pass@k for each reported k, maj@K (K > 1),
// format, language, tokens, truncated, reflection (when measured); then the per-difficulty block.
std::string eval_report_table(const EvalReport& report);

}  // namespace r1::run

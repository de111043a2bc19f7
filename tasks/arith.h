// The synthetic arithmetic task of r1's embedded R1-Zero recipe (no LibTorch).
//
// A tiny model is pretrained on make_corpus()'s documents, then trained with GRPO on make_problems()'s
// rows under DeepSeek-R1-Zero's prompt (r1_zero_prompt) with format and accuracy rewards. The corpus
// makes a plausible "base": it has seen the template and the tags, but mostly answers directly (and
// often wrongly, with human-like slips), uses the tags wrongly now and then, and only sometimes works
// the problem out; worked solutions are always right, so RL can discover that <think> pays.
//
// Problems: add and sub of min..max-digit operands (sub has a >= b), mul of a min..max-digit number by
// a digit 2..9. Questions read "Compute 47 + 385" (imperative, no final punctuation: the template adds
// "."). Worked solutions are column arithmetic, one locally computable step per column:
//   add  "47 + 385: 7 + 5 = 12, write 2 carry 1. 4 + 8 + 1 = 13, write 3 carry 1. 0 + 3 + 1 = 4, write 4.
//         So 47 + 385 = 432."                   (the last column writes its whole sum)
//   sub  "52 - 17: 12 - 7 = 5, write 5 borrow 1. 5 - 1 - 1 = 3, write 3. So 52 - 17 = 35."
//         (a column that borrows shows its top digit plus 10; an incoming borrow is the trailing "- 1")
//   mul  "385 * 7: 5 * 7 = 35, write 5 carry 3. 8 * 7 + 3 = 59, write 9 carry 5. 3 * 7 + 5 = 26, write 26.
//         So 385 * 7 = 2695."
// In Chinese (second_language): "7 加 5 等于 12，写 2 进 1。" / "12 减 7 等于 5，写 5 借 1。" /
// "8 乘 7 加 3 等于 59，写 9 进 5。", ending "所以 385 * 7 = 2695。".
//
// Corpus documents (kind chosen by the normalised mix; no end-of-text marker, the caller separates):
//   template_worked     r1_zero_prompt(Q) + " <think> {worked} </think> <answer> {ans} </answer>"
//   template_direct     r1_zero_prompt(Q) + " The answer is {ans}."
//   template_tag_misuse r1_zero_prompt(Q) + tags used wrongly (answer only, think only, empty think,
//                       mismatched or unclosed tags): never passes the format reward
//   qa_direct           "Question: {Q}\nAnswer: {ans}"
//   qa_worked           "Question: {Q}\nSolution: {worked}\nAnswer: {ans}"
//   facts               "Facts: 7 + 5 + 1 = 13. 8 * 7 + 3 = 59. 12 - 7 = 5. ..." — a drill of step_facts
//                       equations exactly as worked solutions write their column steps (the digit
//                       tables every text-book has; a model that knows them can work problems out)
// Direct answers (template_direct, misuse, qa_direct) are wrong at direct_error_rate, by a slip: one
// digit off, a dropped carry or borrow, two digits swapped; a wrong answer never equals the truth.
//
// Randomness is std::mt19937_64 with r1's own integer/real mapping, so a seed gives the same problems
// and corpus on every platform and standard library.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace r1 {
class ConfigReader;
}

namespace r1::tasks {

struct ArithOptions {
  uint64_t seed = 1;
  std::vector<std::string> ops = {"add", "sub", "mul"};
  int min_digits = 2, max_digits = 3;  // operands of add/sub; mul is (min..max)-digit * one digit 2..9
  // Corpus mix, fractions of documents (normalised):
  double template_worked = 0.20;
  double template_direct = 0.25;
  double template_tag_misuse = 0.10;
  double qa_direct = 0.30;
  double qa_worked = 0.15;
  double facts = 0.0;
  int facts_per_document = 8;
  double direct_error_rate = 0.35;  // of direct answers (template_direct, misuse, qa_direct)
  double second_language = 0.0;     // of worked solutions, written with Chinese step phrases
  // language_mixing: "solution" (false): a worked solution is all English or all Chinese (second_language
  // of them Chinese, operators as words: 加 减 乘 等于). "step" (true): every part of every worked
  // solution (header, each column step, the closing "So") is Chinese with probability second_language,
  // around the same symbols ("7 + 5 = 12，写 2 进 1。"): code-switching in mid-solution, with the
  // arithmetic shared by both languages, so which language a step is in says nothing about whether it
  // is right (and R1-Zero-style RL, rewarded for right answers only, keeps the mix).
  bool mix_steps = false;
};

// Reads the fields above by their names (all optional) and checks them; errors name the key path.
ArithOptions read_arith_options(ConfigReader& reader);
// Throws r1::ConfigError naming the bad field, prefixed by `where` ("arith.ops: unknown op 'div' ...").
void check_arith_options(const ArithOptions& options, const std::string& where = "arith");

struct Problem {
  std::string op;  // add | sub | mul
  int64_t a = 0, b = 0;
  std::string question;  // "Compute 47 + 385"
  std::string answer;    // "432"
  std::string worked;    // English worked solution
};

enum class StepLanguage { English, Chinese };

// One column-step equation of the kind worked_solution writes ("4 + 8 + 1 = 13", "12 - 7 - 1 = 4",
// "8 * 7 + 3 = 59"), for an op of options.ops drawn uniformly, its digits uniform over what a column
// can hold. Always true.
std::string step_fact(std::mt19937_64& rng, const ArithOptions& options, StepLanguage language = StepLanguage::English);

Problem make_problem(std::mt19937_64& rng, const ArithOptions& options);
// `n` distinct problems (by problem_key), none in `exclude`; throws r1::Error when fewer exist.
std::vector<Problem> make_problems(size_t n, uint64_t seed, const ArithOptions& options,
                                   const std::set<std::string>* exclude = nullptr);
std::string problem_key(const Problem& problem);  // "add:47:385"
std::string worked_solution(const Problem& problem, StepLanguage language = StepLanguage::English);
// The worked solution with each part in Chinese (symbols kept) with probability `chinese`, else English.
std::string code_switched_solution(const Problem& problem, std::mt19937_64& rng, double chinese);

// Exactly what r1's "r1-zero" chat template renders for one user turn with a generation prompt.
std::string r1_zero_prompt(const std::string& question);

// One pretraining document; problems whose key is in `exclude` (held-out evaluation) are never used.
std::string corpus_document(std::mt19937_64& rng, const ArithOptions& options,
                            const std::set<std::string>* exclude = nullptr);
// `documents` documents seeded by options.seed.
std::vector<std::string> make_corpus(size_t documents, const ArithOptions& options,
                                     const std::set<std::string>* exclude = nullptr);

// DeepSeek-R1's cold-start shape for one problem: readable and English only, the reasoning process
// (one column step per sentence) then its summary ("So 47 + 385 = 432.") inside <think>, the bare
// answer inside <answer> (so the R1-Zero format and accuracy rewards judge it unchanged):
//   "<think> 47 + 385: 7 + 5 = 12, write 2 carry 1. ... So 47 + 385 = 432. </think> <answer> 432 </answer>"
// Only words the corpus (and so the base's tokenizer) knows: a tiny model asked to write new ones
// ("Check:", "Summary:") misspells them and loses its place, and the answer with it.
std::string cold_start_response(const Problem& problem);
// A chat SFT row: {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content":
// cold_start_response}], "answer", "op"}.
nlohmann::json cold_start_row(const Problem& problem);
// A non-reasoning chat row: a one-step fact asked and answered at once, {"messages": [user "Compute 7 +
// 5", assistant "<think> 7 + 5 = 12. </think> <answer> 12 </answer>"], "answer", "op"}: the data an
// SFT set mixes in beside the reasoning samples. Operands: digits (sub: a two-digit top under 19).
nlohmann::json fact_row(std::mt19937_64& rng, const ArithOptions& options);

// A GRPO dataset row: {"prompt": question, "answer": "432", "op": "add"}.
nlohmann::json problem_row(const Problem& problem);
// One row per line, written to a temporary file and renamed; r1::Error naming `path` on failure.
void write_problems_jsonl(const std::string& path, const std::vector<Problem>& problems);

}  // namespace r1::tasks

// The synthetic arithmetic task of r1's embedded R1-Zero recipe (no LibTorch).
//
// A tiny model is pretrained on make_corpus()'s documents, then trained with GRPO on make_problems()'s
// rows under DeepSeek-R1-Zero's prompt (r1_zero_prompt) with format and accuracy rewards. The corpus
// makes a plausible "base": it has seen the template and the tags, but mostly answers directly (and
// often wrongly, with human-like slips), uses the tags wrongly now and then, and only sometimes works
// the problem out; worked solutions are always right, so RL can discover that <think> pays.
//
// Problems: add and sub of min..max-digit operands (sub has a >= b), mul of a min..max-digit number by
// a digit 2..9, and mulm ("long multiplication", the tool task's op) of a mulm_min_digits..
// mulm_max_digits-digit number by a mulm_b_digits-digit one ("Compute 385 * 47", key "mulm:385:47").
// Questions read "Compute 47 + 385" (imperative, no final punctuation: the template adds "."). Worked
// solutions are column arithmetic, one locally computable step per column:
//   add  "47 + 385: 7 + 5 = 12, write 2 carry 1. 4 + 8 + 1 = 13, write 3 carry 1. 0 + 3 + 1 = 4, write 4.
//         So 47 + 385 = 432."                   (the last column writes its whole sum)
//   sub  "52 - 17: 12 - 7 = 5, write 5 borrow 1. 5 - 1 - 1 = 3, write 3. So 52 - 17 = 35."
//         (a column that borrows shows its top digit plus 10; an incoming borrow is the trailing "- 1")
//   mul  "385 * 7: 5 * 7 = 35, write 5 carry 3. 8 * 7 + 3 = 59, write 9 carry 5. 3 * 7 + 5 = 26, write 26.
//         So 385 * 7 = 2695."
//   chain "7 + 5 - 3 + 8: 7 + 5 = 12. 12 - 3 = 9. 9 + 8 = 17. So 7 + 5 - 3 + 8 = 17."
//         (one step per operation, each a fact of the drills: the length of the reasoning grows with the
//         number of operations, and a direct answer has to hold the whole chain at once; key
//         "chain:7+5-3+8")
//   mulm "385 * 47: 385 * 7 = 2695. 385 * 40 = 15400. 2695 + 15400 = 18095. So 385 * 47 = 18095."
//         (one partial product per nonzero digit of b, then their sum; each partial product is itself a
//         multi-digit product, so this is no column-by-column path a tiny model can follow in its head)
// In Chinese (second_language): "7 加 5 等于 12，写 2 进 1。" / "12 减 7 等于 5，写 5 借 1。" /
// "8 乘 7 加 3 等于 59，写 9 进 5。" / "385 乘 7 等于 2695。", ending "所以 385 * 7 = 2695。".
// mulm problems appear in worked documents (template_worked, qa_worked) only at mulm_worked of the
// times one is drawn for them (default 0: never, unless mulm is the only op): the corpus shows mulm
// answered directly (a slip: a partial product not shifted), or with the tool.
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
//                       tables every text-book has; a model that knows them can work problems out;
//                       mulm drills mul's column steps)
//   template_tool       r1_zero_prompt(Q) + a trajectory that calls the python tool (below)
//   template_brief      r1_zero_prompt(Q) + " <think> 47 + 385 = {ans}. </think> <answer> {ans} </answer>": the
//                       format kept, the "reasoning" one line, the answer direct (so wrong as often as any
//                       direct answer): a base whose well-formed answers are mostly short, so RL learns the
//                       format first and longer reasoning after, where the problem needs it
// Direct answers (template_direct, misuse, qa_direct, brief, and a failed tool call's) are wrong at
// direct_error_rate (growing with the problem's steps by direct_error_per_step), by a slip: one digit
// off, a dropped carry or borrow, two digits swapped (mulm: a partial product left unshifted); a wrong
// answer never equals the truth.
//
// Tool documents (template_tool; the hermes call format a tools stage's runtime parses, with the python
// tool). The model's text, the tool's reply the runtime appends after "</tool_call>", then the model
// again; parts are joined by single spaces, exactly:
//   r1_zero_prompt(Q) + " <think> " [+ reason + " "] + tool_call_text(code) + " " +
//   tool_response_text(output) + " So {a op b} = {ans}. </think> <answer> {ans} </answer>"
// e.g. ... Assistant: <think> <tool_call> {"name": "python", "arguments": {"code": "print(385 * 47)"}}
//   </tool_call> <tool_response> 18095 </tool_response> So 385 * 47 = 18095. </think> <answer> 18095 </answer>
// (one line). code is "print(a + b)", "print(a - b)" or "print(a * b)" (mul and mulm); output is what
// the code prints with its trailing newline dropped; reason, in about a quarter of the documents, is
// one of a few sentences ("I will compute it with python."). tool_error_rate of the tool documents are
// flawed: the call is malformed JSON (its closing brace missing), names an unknown tool ("calculator"),
// or runs code Python rejects ("print(385 x 47)"); the reply is the error the runtime sends
// (tool_response_text("Error: ...")), and the model then answers directly without the tool's help:
//   ... <tool_response> Error: SyntaxError: invalid syntax </tool_response> </think> <answer> {direct} </answer>
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
  std::vector<std::string> ops = {"add", "sub", "mul"};  // of add, sub, mul, mulm, chain
  // How often problems (the corpus's, train's, held-out's) have each op, one weight > 0 per op, in ops'
  // order (normalised); empty: every op alike. Fact drills and fact rows always pick ops alike.
  std::vector<double> op_weights;
  int min_digits = 2, max_digits = 3;  // operands of add/sub; mul is (min..max)-digit * one digit 2..9
  // mulm: a mulm_min_digits..mulm_max_digits-digit number times a mulm_b_digits-digit one (2..4).
  int mulm_min_digits = 2, mulm_max_digits = 3, mulm_b_digits = 2;
  double mulm_worked = 0.0;  // of the worked documents that draw a mulm problem, those that keep it
  // chain: a first number 1..9 then chain_min_ops..chain_max_ops (1..12) more digits 1..9, each added or
  // subtracted, the running total kept in 0..chain_max_total ("Compute 7 + 5 - 3 + 8").
  int chain_min_ops = 1, chain_max_ops = 6, chain_max_total = 99;
  // Corpus mix, fractions of documents (normalised):
  double template_worked = 0.20;
  double template_direct = 0.25;
  double template_tag_misuse = 0.10;
  double qa_direct = 0.30;
  double qa_worked = 0.15;
  double facts = 0.0;
  double template_tool = 0.0;  // documents calling the python tool (see above); 0: the corpus is as before
  double template_brief = 0.0;  // r1_zero_prompt(Q) + " <think> {a op b} = {direct}. </think> <answer> {direct} </answer>"
  int facts_per_document = 8;
  double tool_error_rate = 0.15;  // of template_tool documents: a broken call, an error reply, a direct answer
  double direct_error_rate = 0.35;  // of direct answers (template_direct, misuse, qa_direct, brief)
  // Direct answers to harder problems are wrong more often: a problem of s steps (problem_steps) is
  // answered wrongly at min(0.95, direct_error_rate + direct_error_per_step * (s - 1)). 0: flat.
  double direct_error_per_step = 0.0;
  // Of worked solutions (template_worked, qa_worked), those in which one column step is first written
  // with a wrong result, then corrected: "4 + 8 + 1 = 12, wait, 4 + 8 + 1 = 13, write 3 carry 1." (in
  // Chinese "，等等，"). The reflection the corpus makes possible but rare; 0: never (add, sub, mul only).
  double self_correct = 0.0;
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
  std::string op;  // add | sub | mul | mulm | chain
  int64_t a = 0, b = 0;  // chain: a = terms[0], b = the last term
  std::string question;  // "Compute 47 + 385"
  std::string answer;    // "432"
  std::string worked;    // English worked solution
  // chain only: the numbers in order, and signs[i] ('+' or '-') the operation that brings in terms[i + 1].
  std::vector<int64_t> terms;
  std::string signs;
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
// How many steps its worked solution takes, the task's difficulty: the column steps of add, sub and mul
// (one per column: 47 + 385 has 3), and for mulm its partial products plus their sum when there are two
// or more. Harder problems need longer reasoning in proportion.
int problem_steps(const Problem& problem);
std::string worked_solution(const Problem& problem, StepLanguage language = StepLanguage::English);
// The worked solution with each part in Chinese (symbols kept) with probability `chinese`, else English.
std::string code_switched_solution(const Problem& problem, std::mt19937_64& rng, double chinese);

// Exactly what r1's "r1-zero" chat template renders for one user turn with a generation prompt.
std::string r1_zero_prompt(const std::string& question);

// The tool-call format of template_tool documents, in one place (see the header comment):
//   tool_call_text("print(385 * 47)") ==
//     "<tool_call> {\"name\": \"python\", \"arguments\": {\"code\": \"print(385 * 47)\"}} </tool_call>"
// (code written as a JSON string, escapes and all), and the reply the runtime appends after it:
//   tool_response_text("18095") == "<tool_response> 18095 </tool_response>"
std::string tool_call_text(const std::string& code, const std::string& tool = "python");
std::string tool_response_text(const std::string& content);
// The python code a tool document runs for `problem`: "print(385 * 47)".
std::string tool_code(const Problem& problem);

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

// A GRPO dataset row: {"prompt": question, "answer": "432", "op": "add", "difficulty": problem_steps}.
nlohmann::json problem_row(const Problem& problem);
// One row per line, written to a temporary file and renamed; r1::Error naming `path` on failure.
void write_problems_jsonl(const std::string& path, const std::vector<Problem>& problems);

}  // namespace r1::tasks

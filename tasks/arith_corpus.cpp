// The arithmetic task's documents and rows (arith.h): the R1-Zero prompt, the tool-call text, the
// pretraining corpus, cold-start, chat and GRPO rows. Problems and worked solutions are arith.cpp's.
#include "tasks/arith.h"
#include "tasks/arith_detail.h"

#include "core/error.h"
#include "core/jsonl.h"
#include "core/text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

namespace r1::tasks {
using namespace detail;

namespace {

// A problem for a corpus document. `worked`: for a worked document, which keeps a mulm problem only at
// mulm_worked (or when mulm is the only op) and draws again otherwise.
Problem draw(std::mt19937_64& rng, const ArithOptions& o, const std::set<std::string>* exclude, bool worked = false) {
  const bool only_mulm = o.ops.size() == 1 && o.ops[0] == "mulm";
  for (int tries = 0; tries < 100000; ++tries) {
    Problem p = make_problem(rng, o);
    if (exclude && exclude->count(problem_key(p))) continue;
    if (worked && p.op == "mulm" && !only_mulm && !(unit(rng) < o.mulm_worked)) continue;
    return p;
  }
  throw Error("arithmetic corpus: every problem drawn is in the excluded set (exclude fewer problems)");
}

// How often a direct answer to p is wrong: direct_error_rate, plus direct_error_per_step for each step
// past the first, at most 0.95.
double direct_error(const Problem& p, const ArithOptions& o) {
  if (o.direct_error_per_step == 0) return o.direct_error_rate;
  return std::min(0.95, o.direct_error_rate + o.direct_error_per_step * (problem_steps(p) - 1));
}

// Sentences a tool document may open its reasoning with.
const std::array<const char*, 4> kToolReasons = {"I will compute it with python.", "Let me use python for this.",
                                                 "This needs python.", "I will check it with python."};

}  // namespace

std::string r1_zero_prompt(const std::string& question) {
  return "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. "
         "The assistant first thinks about the reasoning process in the mind and then provides the user with the "
         "answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
         "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: " +
         question + ". Assistant:";
}

std::string tool_call_text(const std::string& code, const std::string& tool) {
  return "<tool_call> {\"name\": " + nlohmann::json(tool).dump() + ", \"arguments\": {\"code\": " + nlohmann::json(code).dump() +
         "}} </tool_call>";
}

std::string tool_response_text(const std::string& content) { return "<tool_response> " + content + " </tool_response>"; }

std::string tool_code(const Problem& p) { return "print(" + expression(p) + ")"; }

namespace {

// A template_tool document's completion after the prompt (see arith.h): the call, the tool's reply, the
// answer; or, at tool_error_rate, a broken call, the error it gets, and a direct answer.
std::string tool_trajectory(const Problem& p, std::mt19937_64& rng, const ArithOptions& o) {
  std::string out = " <think> ";
  if (below(rng, 4) == 0) out += std::string(kToolReasons[below(rng, kToolReasons.size())]) + " ";
  if (!(unit(rng) < o.tool_error_rate))
    return out + tool_call_text(tool_code(p)) + " " + tool_response_text(p.answer) + " So " + expression(p) + " = " + p.answer +
           ". </think> <answer> " + p.answer + " </answer>";
  std::string call, error;
  switch (below(rng, 3)) {
    case 0: {  // malformed JSON: the closing brace of the arguments object missing
      call = tool_call_text(tool_code(p));
      call.erase(call.rfind("}}"), 1);
      error = "Error: the tool call is not valid JSON";
      break;
    }
    case 1:
      call = tool_call_text(tool_code(p), "calculator");
      error = "Error: unknown tool 'calculator'";
      break;
    default:  // code Python rejects: the operator written as a word or a letter
      std::string code = expression(p);
      for (const auto& [from, to] : {std::pair{" + ", " plus "}, std::pair{" - ", " minus "}, std::pair{" * ", " x "}})
        replace_all(code, from, to);
      call = tool_call_text("print(" + code + ")");
      error = "Error: SyntaxError: invalid syntax";
      break;
  }
  const std::string ans = unit(rng) < direct_error(p, o) ? slip(p, rng) : p.answer;
  return out + call + " " + tool_response_text(error) + " </think> <answer> " + ans + " </answer>";
}

}  // namespace

std::string corpus_document(std::mt19937_64& rng, const ArithOptions& o, const std::set<std::string>* exclude) {
  check_arith_options(o);
  const double mix[] = {o.template_worked, o.template_direct, o.template_tag_misuse, o.qa_direct, o.qa_worked, o.facts,
                        o.template_tool, o.template_brief};
  constexpr int kKinds = 8;
  double total = 0;
  for (double v : mix) total += v;
  double u = unit(rng) * total;
  int kind = 0;
  for (; kind < kKinds - 1 && u >= mix[kind]; ++kind) u -= mix[kind];
  while (mix[kind] == 0) --kind;  // rounding at the top end
  if (kind == 5) {
    // Step mixing writes steps with the same symbols in both languages: the drills stay English.
    const StepLanguage language = !o.mix_steps && unit(rng) < o.second_language ? StepLanguage::Chinese : StepLanguage::English;
    std::string out = language == StepLanguage::Chinese ? "口诀：" : "Facts:";
    for (int i = 0; i < o.facts_per_document; ++i)
      out += (language == StepLanguage::Chinese ? "" : " ") + step_fact(rng, o, language) +
             (language == StepLanguage::Chinese ? "。" : ".");
    return out;
  }
  const Problem p = draw(rng, o, exclude, kind == 0 || kind == 4);
  if (kind == 6) return r1_zero_prompt(p.question) + tool_trajectory(p, rng, o);
  auto direct = [&] { return unit(rng) < direct_error(p, o) ? slip(p, rng) : p.answer; };
  auto worked = [&] {
    // Only a self_correct above 0 draws: without it the corpus is the one before the option existed.
    Correction fix;
    if (o.self_correct > 0 && p.op != "mulm" && unit(rng) < o.self_correct) {
      fix.step = 1 + below(rng, static_cast<uint64_t>(problem_steps(p)));
      fix.delta = below(rng, 2) ? 1 : -1;
    }
    if (o.mix_steps) return code_switched(p, rng, o.second_language, fix);
    return worked_in(p, unit(rng) < o.second_language ? StepLanguage::Chinese : StepLanguage::English, fix);
  };
  if (kind == 7) {
    const std::string ans = direct();
    return r1_zero_prompt(p.question) + " <think> " + expression(p) + " = " + ans + ". </think> <answer> " + ans + " </answer>";
  }
  switch (kind) {
    case 0: return r1_zero_prompt(p.question) + " <think> " + worked() + " </think> <answer> " + p.answer + " </answer>";
    case 1: return r1_zero_prompt(p.question) + " The answer is " + direct() + ".";
    case 2: {
      const std::string ans = direct();
      switch (below(rng, 5)) {
        case 0: return r1_zero_prompt(p.question) + " <answer> " + ans + " </answer>";
        case 1: return r1_zero_prompt(p.question) + " <think> " + ans + " </think>";
        case 2: return r1_zero_prompt(p.question) + " <think> </think> <answer> " + ans + " </answer>";
        case 3: return r1_zero_prompt(p.question) + " <think> " + ans + " </answer>";
        default: return r1_zero_prompt(p.question) + " <answer> " + ans;
      }
    }
    case 3: return "Question: " + p.question + "\nAnswer: " + direct();
    default: return "Question: " + p.question + "\nSolution: " + worked() + "\nAnswer: " + p.answer;
  }
}

std::vector<std::string> make_corpus(size_t documents, const ArithOptions& o, const std::set<std::string>* exclude) {
  std::mt19937_64 rng(o.seed ^ 0x9e3779b97f4a7c15ULL);  // a stream apart from make_problems(seed)
  std::vector<std::string> out;
  out.reserve(documents);
  for (size_t i = 0; i < documents; ++i) out.push_back(corpus_document(rng, o, exclude));
  return out;
}

std::string cold_start_response(const Problem& p) {
  return "<think> " + worked_solution(p) + " </think> <answer> " + p.answer + " </answer>";
}

nlohmann::json cold_start_row(const Problem& p) {
  return {{"messages", nlohmann::json::array({{{"role", "user"}, {"content", p.question}},
                                               {{"role", "assistant"}, {"content", cold_start_response(p)}}})},
          {"answer", p.answer},
          {"op", p.op}};
}

nlohmann::json fact_row(std::mt19937_64& rng, const ArithOptions& o) {
  check_arith_options(o);
  const std::string& drawn = o.ops[below(rng, o.ops.size())];
  const std::string op = drawn == "mulm" ? "mul" : drawn == "chain" ? "add" : drawn;  // mulm's one-step facts are mul's
  int64_t a = static_cast<int64_t>(below(rng, 10)), b = static_cast<int64_t>(below(rng, 10));
  if (op == "sub") a = b + static_cast<int64_t>(below(rng, static_cast<uint64_t>(19 - b)));  // b <= a <= 18
  if (op == "mul") b = between(rng, 2, 9);
  const std::string e = std::to_string(a) + " " + symbol(op) + " " + std::to_string(b);
  const std::string ans = std::to_string(evaluate(op, a, b));
  return {{"messages", nlohmann::json::array({{{"role", "user"}, {"content", "Compute " + e}},
                                               {{"role", "assistant"}, {"content", "<think> " + e + " = " + ans +
                                                                                       ". </think> <answer> " + ans + " </answer>"}}})},
          {"answer", ans},
          {"op", op}};
}

nlohmann::json problem_row(const Problem& p) {
  return {{"prompt", p.question}, {"answer", p.answer}, {"op", p.op}, {"difficulty", problem_steps(p)}};
}

void write_problems_jsonl(const std::string& path, const std::vector<Problem>& problems) {
  std::string text;
  for (const auto& p : problems) text += to_json_line(problem_row(p)) + "\n";
  write_file_atomic(path, text);
}

}  // namespace r1::tasks

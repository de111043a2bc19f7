// Held-out sets for evaluation: see eval_data.h.
#include "run/eval_data.h"

#include <array>
#include <cmath>

#include "core/error.h"
#include "rewards/math_extract.h"

namespace r1::run {
namespace {

std::string trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// The value at a dotted path ("reward_model.ground_truth"), or nullptr.
const nlohmann::json* at_path(const nlohmann::json& row, const std::string& path) {
  const nlohmann::json* v = &row;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!v->is_object() || !v->contains(key)) return nullptr;
    v = &v->at(key);
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// The named field, or the first of `candidates` the row has; nullptr when none. `*name` says which.
const nlohmann::json* find_field(const nlohmann::json& row, const std::string& named,
                                 std::initializer_list<const char*> candidates, std::string* name) {
  if (!named.empty()) {
    *name = named;
    return at_path(row, named);
  }
  for (const char* c : candidates)
    if (const nlohmann::json* v = at_path(row, c); v && !v->is_null()) {
      *name = c;
      return v;
    }
  return nullptr;
}

std::string list_of(std::initializer_list<const char*> names) {
  std::string out;
  for (const char* n : names) out += (out.empty() ? "\"" : ", \"") + std::string(n) + "\"";
  return out;
}

constexpr std::initializer_list<const char*> kPromptFields = {"prompt", "messages", "question", "problem"};
constexpr std::initializer_list<const char*> kAnswerFields = {"answer", "reward_model.ground_truth", "ground_truth",
                                                              "solution"};
constexpr std::initializer_list<const char*> kSourceFields = {"data_source", "source"};

}  // namespace

std::optional<std::string> gold_answer(const nlohmann::json& value, bool solution) {
  if (value.is_number_integer() || value.is_number_unsigned()) return value.dump();
  if (value.is_number_float()) return value.dump();
  if (!value.is_string()) return std::nullopt;
  const std::string& s = value.get_ref<const std::string&>();
  // GSM8K: the worked solution, then "#### <answer>" on its last line.
  if (const size_t hashes = s.rfind("####"); hashes != std::string::npos) {
    std::string_view rest = std::string_view(s).substr(hashes + 4);
    rest = rest.substr(0, rest.find('\n'));
    std::string answer = trim(rest);
    if (answer.empty()) return std::nullopt;
    return answer;
  }
  // MATH: a solution stating its answer in \boxed{...} (an unclosed box states none).
  if (s.find("\\boxed") != std::string::npos || s.find("\\fbox") != std::string::npos) return rewards::math::all_boxes(s);
  if (solution) return std::nullopt;  // prose without a stated answer
  std::string answer = trim(s);
  if (answer.empty()) return std::nullopt;
  return answer;
}

PromptRow parse_eval_row(const nlohmann::json& row, const std::string& source, int64_t line, const EvalFields& fields) {
  const std::string where = source + ":" + std::to_string(line) + ": ";
  if (!row.is_object()) throw ConfigError(where + "expected a JSON object (a held-out problem)");
  nlohmann::json canonical = row;

  std::string prompt_name;
  const nlohmann::json* prompt = find_field(row, fields.prompt, kPromptFields, &prompt_name);
  if (!prompt)
    throw ConfigError(where + (fields.prompt.empty() ? "no prompt: the row has none of " + list_of(kPromptFields)
                                                     : "no \"" + fields.prompt + "\" (the prompt field)"));
  if (!prompt->is_string() && !prompt->is_array())
    throw ConfigError(where + "\"" + prompt_name + "\" must be a string or a list of chat messages");
  const nlohmann::json prompt_value = *prompt;
  if (prompt_name.find('.') == std::string::npos) canonical.erase(prompt_name);
  canonical.erase("prompt");
  canonical.erase("messages");
  canonical[prompt_value.is_string() ? "prompt" : "messages"] = prompt_value;

  std::string answer_name;
  const nlohmann::json* answer = find_field(row, fields.answer, kAnswerFields, &answer_name);
  const bool solution = answer_name == "solution" || answer_name.ends_with(".solution");
  std::optional<std::string> gold = answer ? gold_answer(*answer, solution) : std::nullopt;
  if (gold) {
    canonical[fields.gold_key] = *gold;
  } else if (fields.require_answer) {
    if (!answer)
      throw ConfigError(where + (fields.answer.empty() ? "no gold answer: the row has none of " + list_of(kAnswerFields)
                                                       : "no \"" + fields.answer + "\" (the answer field)"));
    throw ConfigError(where + "\"" + answer_name + "\" holds no gold answer (" +
                      (answer->is_string() ? solution ? "a solution states it in \\boxed{...} or after \"####\""
                                                      : "an empty answer, \"####\" with nothing after it, or an unclosed \\boxed{"
                                           : "expected a string or a number, got " + std::string(answer->type_name())) +
                      ")");
  }

  PromptRow out = parse_prompt_row(canonical, source, line);
  std::string source_name;
  const nlohmann::json* src = find_field(row, fields.source, kSourceFields, &source_name);
  if (src && !src->is_null()) {
    if (!src->is_string() && !src->is_number())
      throw ConfigError(where + "\"" + source_name + "\" (the data source) must be a string or a number");
    out.source = src->is_string() ? src->get<std::string>() : src->dump();
  } else if (!fields.source.empty()) {
    throw ConfigError(where + "no \"" + fields.source + "\" (the source field)");
  }
  row_difficulty(out, where);  // checked now, naming the line
  return out;
}

std::optional<int64_t> row_difficulty(const PromptRow& row, const std::string& where) {
  if (!row.reference.is_object()) return std::nullopt;
  auto it = row.reference.find("difficulty");
  if (it == row.reference.end() || it->is_null()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_unsigned()) return static_cast<int64_t>(it->get<uint64_t>());
  if (it->is_number_float()) {
    const double v = it->get<double>();
    if (v == std::floor(v) && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
  }
  throw ConfigError(where + "\"difficulty\" must be an integer, got " + it->dump());
}

PromptDataset load_eval_dataset(const std::string& path, const EvalFields& fields, bool skip_bad_lines) {
  return PromptDataset::load(path, skip_bad_lines, 1, [&](const nlohmann::json& row, const std::string& source, int64_t line) {
    return parse_eval_row(row, source, line, fields);
  });
}

}  // namespace r1::run

// Held-out sets as benchmarks ship them, read for evaluation (`r1 eval`, the eval stage; no LibTorch).
//
// A row's prompt, gold answer and data source are found by field, named or else the first present of:
//
//   prompt   "prompt" (a string, or a list of chat messages as verl's parquet rows hold), "messages",
//            "question" (GSM8K), "problem" (MATH, AIME)
//   answer   "answer", "reward_model.ground_truth" (verl), "ground_truth", "solution" (MATH)
//   source   "data_source" (verl), "source"
//
// An optional integer "difficulty" groups the measures by difficulty (eval_metrics.h's by_difficulty).
//
// The gold answer is read from what the field holds (gold_answer): a GSM8K solution ending in
// "#### 72" gives 72, a MATH solution gives its \boxed{...} (several boxes: their list), an integer
// (AIME) or any other string is the answer itself. The row handed to the rewards holds it as "answer"
// (the math reward's answer field; `gold_key`), so every format is judged the same way. Field names may be paths
// into objects ("reward_model.ground_truth").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "run/dataset.h"

namespace r1::run {

struct EvalFields {
  std::string prompt, answer, source;  // "" = the first present of the list above
  bool require_answer = true;          // a row without a gold answer is an error (math); else passed on
  std::string gold_key = "answer";     // where the row handed to the rewards holds the gold answer
};

// The gold answer `value` holds (see above), or nullopt when it holds none (not a string or number,
// an empty string, "####" with nothing after it, an unclosed box). A `solution` (a "solution" field:
// worked prose) states its answer in a box or after "####", or holds none.
std::optional<std::string> gold_answer(const nlohmann::json& value, bool solution = false);

// One held-out row: ConfigError "<source>:<line>: ..." naming the field at fault (no prompt, a row
// without a gold answer when one is required, a field of the wrong type).
PromptRow parse_eval_row(const nlohmann::json& row, const std::string& source, int64_t line, const EvalFields& fields);

// The row's "difficulty" (an integer: the steps its worked solution needs, a level), or nullopt when
// it has none (absent or null). ConfigError "<where>\"difficulty\" must be an integer" otherwise.
std::optional<int64_t> row_difficulty(const PromptRow& row, const std::string& where);

// The whole file through parse_eval_row (skip_bad_lines: bad rows left out and counted).
PromptDataset load_eval_dataset(const std::string& path, const EvalFields& fields, bool skip_bad_lines);

}  // namespace r1::run

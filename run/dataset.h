// Prompt datasets for RL (docs/datasets.md): JSON lines, one problem per line,
//
//   {"prompt": "What is 47 + 385?", "answer": "432"}
//   {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}], "tests": {...}}
//
// "prompt" (a string, rendered through the recipe's template) or "messages" (a chat, rendered
// through the model's or a named chat template) is required; every other key is a reference field
// handed to the rewards (answer, tests, target_language, ...).
//
// The order is a seeded shuffle per epoch, and the position (epoch, index) is part of a checkpoint,
// so a resumed run draws exactly the prompts the uninterrupted run would have. A malformed line
// stops loading with "<file>:<line>: <what>", or with on_bad_line = skip is counted, logged once
// with its line number, and left out. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace r1::run {

struct PromptRow {
  std::string prompt;            // set when the row has "prompt"
  std::string source;            // its "data_source" or "source" (a string), for per-source evaluation
  nlohmann::json messages;       // set (an array) when the row has "messages"
  nlohmann::json reference;      // every other key
  int64_t line = 0;              // in the file, for messages about it
};

struct DatasetPosition {
  int64_t epoch = 0, index = 0;  // the next row is order(epoch)[index]
  nlohmann::json to_json() const { return {{"epoch", epoch}, {"index", index}}; }
  static DatasetPosition from_json(const nlohmann::json& j);
};

class PromptDataset {
 public:
  // How a line's JSON becomes a row (parse_prompt_row unless given: run/eval_data.h reads benchmarks).
  using RowParser = std::function<PromptRow(const nlohmann::json& row, const std::string& source, int64_t line)>;
  // skip_bad_lines: leave malformed lines out (with a warning) instead of stopping.
  static PromptDataset load(const std::string& path, bool skip_bad_lines, uint64_t seed, const RowParser& parse = nullptr);
  size_t size() const { return rows_.size(); }
  size_t skipped() const { return skipped_; }
  const PromptRow& row(size_t i) const { return rows_[i]; }
  const std::vector<PromptRow>& rows() const { return rows_; }

  // Rows `refuse` finds a fault with (it returns why, or nullopt): with skip_bad_lines left out and
  // counted in skipped(), logged once with the line; otherwise a ConfigError "<file>:<line>: <why>".
  // Call it right after load(), before any row is drawn (the rows' indices change). Returns how many
  // rows it left out.
  size_t drop_rows(const std::function<std::optional<std::string>(const PromptRow&)>& refuse, bool skip_bad_lines);

  // The next `n` rows (as indices into rows()) from `position`, which moves on; crossing the end of
  // an epoch reshuffles.
  std::vector<size_t> next(size_t n, DatasetPosition& position) const;

 private:
  std::vector<size_t> order(int64_t epoch) const;
  std::vector<PromptRow> rows_;
  size_t skipped_ = 0;
  uint64_t seed_ = 0;
  std::string path_;
};

// Parses one dataset row (tests and other readers): throws r1::ConfigError "<source>:<line>: <what>".
PromptRow parse_prompt_row(const nlohmann::json& row, const std::string& source, int64_t line);

}  // namespace r1::run

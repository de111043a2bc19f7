// r1 verify-math: JSON lines {"gold": "...", "pred": "..."} in, {"correct", "reason", "gold_parsed",
// "pred_parsed"} out, in order. `pred` may be a whole completion (extraction applies) or an answer.
// Exit 0 whatever the verdicts; a malformed line is an error naming its line.
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "rewards/math.h"

namespace r1::cli {

void add_verify_math_command(CLI::App& app) {
  auto input = std::make_shared<std::string>("-");
  auto budget_ms = std::make_shared<int>(1000);
  auto options = std::make_shared<rewards::MathOptions>();
  auto* cmd = app.add_subcommand("verify-math", "Check math answers: JSON lines {\"gold\", \"pred\"} -> verdicts");
  cmd->add_option("--input", *input, "JSON-lines file (default: stdin)");
  cmd->add_option("--time-budget-ms", *budget_ms, "Time budget per answer (default 1000)")->check(CLI::PositiveNumber);
  cmd->add_option("--numeric-tolerance", options->numeric_tolerance,
                  "Relative tolerance for answers that are not integers (default 0: exact)")
      ->check(CLI::Range(0.0, 0.999999));
  cmd->callback([input, budget_ms, options] {
    std::ifstream file;
    if (*input != "-") {
      file.open(*input, std::ios::binary);
      if (!file) throw Error(*input + ": cannot open");
    }
    JsonLinesReader reader(*input == "-" ? std::cin : file, *input == "-" ? "<stdin>" : *input);
    nlohmann::json row;
    while (reader.next(row)) {
      if (!row.is_object() || !row.contains("gold") || !row.contains("pred") || !row["gold"].is_string() ||
          !row["pred"].is_string()) {
        throw Error(reader.where() + "expected an object with strings \"gold\" and \"pred\"");
      }
      auto verdict = rewards::verify_math(row["gold"].get<std::string>(), row["pred"].get<std::string>(), *options,
                                          rewards::Deadline::in(std::chrono::milliseconds(*budget_ms)));
      std::cout << to_json_line({{"correct", verdict.correct},
                                 {"reason", verdict.reason},
                                 {"gold_parsed", verdict.gold_parsed},
                                 {"pred_parsed", verdict.pred_parsed}})
                << '\n';
    }
  });
}

}  // namespace r1::cli

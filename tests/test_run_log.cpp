// telemetry/run_log.h: metrics and rollouts as JSON lines (a resume drops the later steps' rows),
// the progress line and durations.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "tests/run_helpers.h"
#include "telemetry/run_log.h"

namespace fs = std::filesystem;
using namespace r1::telemetry;
using r1::test::fresh_dir;
using r1::test::write;


TEST_CASE("run log: metrics and rollouts as JSON lines, a resume drops later steps", "[telemetry]") {
  const fs::path dir = fresh_dir("runlog");
  {
    r1::telemetry::RunLog log(dir.string(), -1, /*tensorboard=*/true);
    for (int s = 1; s <= 4; ++s) log.metrics(s, {{"reward", {{"mean", s * 0.1}}}, {"loss", 1.0 / s}});
    log.rollout({{"step", 1}, {"completion", "x"}});
  }
  CHECK(fs::exists(dir / "tensorboard"));
  {
    std::ofstream(dir / "rollouts.jsonl", std::ios::app) << "{\"step\": 2}\n{\"step\": 3}\n{\"step\": 4, \"compl";  // cut by a crash
  }
  {
    r1::telemetry::RunLog log(dir.string(), 2);
    log.metrics(3, {{"loss", 9.0}});
    log.rollout({{"step", 3}});
  }
  std::ifstream in(dir / "metrics.jsonl");
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0]["step"] == 1);
  CHECK(rows[1]["reward"]["mean"].get<double>() == Approx(0.2));
  CHECK(rows[2]["step"] == 3);
  CHECK(rows[2]["loss"] == 9.0);
  std::ifstream rin(dir / "rollouts.jsonl");
  std::vector<int> steps;
  for (std::string line; std::getline(rin, line);) steps.push_back(nlohmann::json::parse(line)["step"].get<int>());
  CHECK(steps == std::vector<int>{1, 2, 3});  // the interrupted run's step 3 and 4 rows are gone, the redone 3 stays
  CHECK_FALSE(fs::exists(dir / "rollouts.jsonl.cut"));
  CHECK(r1::telemetry::StepProgress::render("grpo", 5, 10, "reward 0.50", 2.0) ==
        "grpo [##########----------] 5/10  reward 0.50  2.0 s/step  ETA 10s");
  CHECK(r1::telemetry::format_duration(272) == "4m32s");
  CHECK(r1::telemetry::format_duration(3720) == "1h02m");
  fs::remove_all(dir);
}

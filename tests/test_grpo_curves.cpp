// A GRPO stage's learning curves end to end (`r1 run` on a tiny random Qwen2 checkpoint): the held-out
// set evaluated every eval.every steps between the base and the final evaluation (heldout.jsonl,
// metrics' "heldout", TensorBoard, plot.svg), through workers and through the colocated engine, a
// resumed run's curve, and the per-step reflection rate and lengths of correct and wrong samples.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/grpo_run_helpers.h"

namespace fs = std::filesystem;
using r1::test::rows;
using r1::test::run_recipe;
using r1::test::Setup;
using r1::test::slurp;

namespace {

// Held-out problems whose prompts differ from every training prompt ("Compute i + 2i").
std::string heldout_file(const Setup& s) {
  const std::string path = s.dir / "heldout.jsonl";
  std::ofstream out(path);
  for (int i = 0; i < 6; ++i) out << "{\"prompt\": \"What is " << 100 + i << " plus 7?\", \"answer\": \"" << 107 + i << "\"}\n";
  return path;
}

std::vector<int64_t> steps_of(const std::vector<nlohmann::json>& points) {
  std::vector<int64_t> out;
  for (const auto& p : points) out.push_back(p["step"].get<int64_t>());
  return out;
}

bool tensorboard_has(const std::string& run, const std::string& tag) {
  for (const auto& e : fs::directory_iterator(run + "/tensorboard"))
    if (slurp(e.path().string()).find(tag) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("r1 run: eval.every draws the held-out curve from base to final, and a resumed run keeps it whole",
          "[grpo-run][heldout]") {
  Setup s("curves");
  const std::vector<std::string> edits = {"zero.eval.data=" + heldout_file(s), "zero.eval.every=2", "zero.eval.every_limit=2",
                                          "zero.steps=5", "zero.checkpoint.every=2", "zero.checkpoint.keep_last=5",
                                          "zero.rollout.workers=1", R"(zero.reflection_phrases=["wait,", "a"])"};
  std::string err;
  REQUIRE(run_recipe(s, "curves", edits, &err) == 0);
  const std::string run = s.dir / "runs/curves/zero";

  // Base (step 0, eval.limit's 4 problems), steps 2 and 4 (every_limit's 2), the final (step 5: 4).
  auto points = rows(run + "/heldout.jsonl");
  REQUIRE(steps_of(points) == std::vector<int64_t>{0, 2, 4, 5});
  CHECK(points[0]["samples"] == 4);
  CHECK(points[1]["samples"] == 2);
  CHECK(points[2]["samples"] == 2);
  CHECK(points[3]["samples"] == 4);
  for (const auto& p : points)
    for (const char* key : {"accuracy", "format_rate", "mean_response_tokens", "language_consistency", "pass_at_k"})
      CHECK(p.contains(key));
  // The base point is base_eval.json's, the final one summary.json's.
  CHECK(nlohmann::json::parse(slurp(run + "/base_eval.json"))["accuracy"] == points[0]["accuracy"]);
  const auto summary = nlohmann::json::parse(slurp(run + "/summary.json"));
  CHECK(summary["final"]["mean_response_tokens"] == points[3]["mean_response_tokens"]);
  CHECK(summary["final"]["samples"] == 4);

  // The evaluated steps' metrics rows carry the same numbers; the others none.
  auto metrics = rows(run + "/metrics.jsonl");
  REQUIRE(metrics.size() == 5);
  for (size_t i = 0; i < metrics.size(); ++i) {
    INFO("step " << i + 1);
    const bool evaluated = i == 1 || i == 3 || i == 4;
    CHECK(metrics[i].contains("heldout") == evaluated);
    if (evaluated) {
      for (const char* key : {"accuracy", "format_rate", "mean_response_tokens", "language_consistency"})
        CHECK(metrics[i]["heldout"].contains(key));
      CHECK(metrics[i]["heldout"]["samples"] == (i == 4 ? 4 : 2));
    }
    // Per step: the reflection rate (phrases given) and, judged by the accuracy component, the mean
    // lengths of correct and of wrong samples, whichever the step had.
    REQUIRE(metrics[i].contains("reflection_rate"));
    CHECK(metrics[i]["reflection_rate"].get<double>() >= 0);
    CHECK(metrics[i]["reflection_rate"].get<double>() <= 1);
    REQUIRE(metrics[i].contains("response_tokens"));
    CHECK((metrics[i]["response_tokens"].contains("correct") || metrics[i]["response_tokens"].contains("wrong")));
  }
  CHECK(metrics[3]["heldout"]["accuracy"] == points[2]["accuracy"]);
  CHECK(tensorboard_has(run, "heldout/accuracy"));
  CHECK(tensorboard_has(run, "reflection_rate"));
  const std::string svg = slurp(run + "/plot.svg");
  CHECK(svg.find("Held-out accuracy") != std::string::npos);
  CHECK(svg.find("Reflection") != std::string::npos);

  // The held-out prompts never reach training, nor training prompts the evaluation (one sampler
  // samples both sets: its prompt cache tells them apart).
  for (const auto& r : rows(run + "/rollouts.jsonl")) {
    CHECK(r["prompt"].get<std::string>().find("Compute ") != std::string::npos);
    CHECK(r["prompt"].get<std::string>().find(" plus 7?") == std::string::npos);
  }

  // Interrupted after step 2's checkpoint: the later checkpoints gone, the stage not done. The same
  // command resumes from step 2: the curve keeps 0 and 2 and measures 4 and 5 again, once each.
  const auto before = points;
  fs::remove_all(run + "/checkpoints/step-000004");
  fs::remove_all(run + "/checkpoints/step-000005");
  auto state = nlohmann::json::parse(slurp(run + "/stage.json"));
  state["status"] = "running";
  std::ofstream(run + "/stage.json") << state.dump();
  REQUIRE(run_recipe(s, "curves", edits, &err) == 0);
  INFO(err);
  CHECK(err.find("(step 2)") != std::string::npos);  // "resuming from .../step-000002 (step 2)"
  points = rows(run + "/heldout.jsonl");
  REQUIRE(steps_of(points) == std::vector<int64_t>{0, 2, 4, 5});
  CHECK(points[0] == before[0]);
  CHECK(points[1] == before[1]);
  CHECK(points[3]["samples"] == 4);
  metrics = rows(run + "/metrics.jsonl");
  REQUIRE(metrics.size() == 5);
  for (size_t i = 0; i < metrics.size(); ++i) CHECK(metrics[i]["step"] == static_cast<int>(i + 1));
  CHECK(metrics[3].contains("heldout"));
  CHECK(metrics[4].contains("heldout"));
}

TEST_CASE("r1 run: eval.every with a colocated engine, every step", "[grpo-run][heldout][colocate]") {
  Setup s("curves-colocated");
  std::string err;
  const int code = run_recipe(s, "colocated", {"zero.eval.data=" + heldout_file(s), "zero.eval.every=1", "zero.eval.every_k=2",
                                               "zero.steps=3", "zero.rollout.colocate=true"}, &err);
  INFO(err);
  REQUIRE(code == 0);
  const auto points = rows(s.dir / "runs/colocated/zero/heldout.jsonl");
  REQUIRE(steps_of(points) == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(points[1]["samples_per_problem"] == 2);  // every_k
  CHECK(points[1]["samples"] == 8);              // 4 problems (eval.limit) x 2
  CHECK(points[3]["samples_per_problem"] == 1);  // the final evaluation: eval.k
  const auto metrics = rows(s.dir / "runs/colocated/zero/metrics.jsonl");
  REQUIRE(metrics.size() == 3);
  for (const auto& m : metrics) CHECK(m.contains("heldout"));
  CHECK_FALSE(metrics[0].contains("reflection_rate"));  // no phrases: not measured
}

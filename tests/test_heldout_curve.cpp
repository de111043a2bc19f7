// A GRPO stage's learning curves without a run: the keys that configure them (eval.every,
// eval.every_k, eval.every_limit, reflection_phrases), when the periodic evaluation is due and what
// it measures, heldout.jsonl across a resume, and the panels plot_run draws from what a run wrote.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "run/grpo_config.h"
#include "run/heldout_curve.h"
#include "run/report.h"
#include "tests/run_helpers.h"

using r1::test::Dir;
using r1::test::rows;
using r1::test::slurp;
using r1::test::write;

namespace {

r1::run::GrpoConfig read_stage(nlohmann::json more) {
  nlohmann::json stage = {{"model", "m"}, {"train", "t.jsonl"}, {"rewards", {{{"kind", "math"}, {"name", "accuracy"}}}}};
  for (const auto& [k, v] : more.items()) stage[k] = v;
  r1::ConfigReader r(stage, "zero");
  r1::run::GrpoConfig c = r1::run::GrpoConfig::read(r);
  r.finish();
  return c;
}

r1::run::EvalResult result(double accuracy, double tokens) {
  r1::run::EvalResult r;
  r.accuracy = accuracy;
  r.format_rate = 0.5;
  r.mean_response_tokens = tokens;
  r.samples = r.problems = 4;
  r.pass_at_k = {{1, accuracy}};
  return r;
}

}  // namespace

TEST_CASE("grpo config: eval.every, every_k, every_limit and reflection_phrases, read and checked", "[heldout]") {
  const r1::run::GrpoConfig plain = read_stage({});
  CHECK(plain.eval.every == 0);
  CHECK(plain.eval.every_k == 1);
  CHECK(plain.eval.every_limit == 0);
  CHECK(plain.reflection_phrases.empty());

  const r1::run::GrpoConfig c = read_stage({{"eval", {{"data", "h.jsonl"}, {"every", 5}, {"every_k", 2}, {"every_limit", 8}}},
                                            {"reflection_phrases", {"wait,", "Let me check"}}});
  CHECK(c.eval.every == 5);
  CHECK(c.eval.every_k == 2);
  CHECK(c.eval.every_limit == 8);
  // The stage's phrases serve its held-out evaluations too, unless eval names its own.
  CHECK(c.eval.reflection_phrases == std::vector<std::string>{"wait,", "Let me check"});
  const r1::run::GrpoConfig own = read_stage({{"eval", {{"data", "h.jsonl"}, {"reflection_phrases", {"hmm"}}}},
                                              {"reflection_phrases", {"wait,"}}});
  CHECK(own.eval.reflection_phrases == std::vector<std::string>{"hmm"});
  CHECK(own.reflection_phrases == std::vector<std::string>{"wait,"});
  CHECK(c.reflection_phrases == std::vector<std::string>{"wait,", "Let me check"});

  CHECK_THROWS_WITH(read_stage({{"eval", {{"data", "h.jsonl"}, {"every", -1}}}}), Catch::Contains("zero.eval.every: must be >= 0"));
  CHECK_THROWS_WITH(read_stage({{"eval", {{"every", 5}}}}), Catch::Contains("zero.eval.every: held-out evaluations during training need eval.data"));
  CHECK_THROWS_WITH(read_stage({{"eval", {{"data", "h.jsonl"}, {"every_k", 0}}}}), Catch::Contains("zero.eval.every_k: must be >= 1"));
  CHECK_THROWS_WITH(read_stage({{"eval", {{"data", "h.jsonl"}, {"every_limit", -2}}}}),
                    Catch::Contains("zero.eval.every_limit: must be >= 0"));
  CHECK_THROWS_WITH(read_stage({{"eval", {{"data", "h.jsonl"}, {"every", "5"}}}}), Catch::Contains("zero.eval.every"));
  CHECK_THROWS_WITH(read_stage({{"reflection_phrases", "wait"}}), Catch::Contains("zero.reflection_phrases"));
  CHECK_THROWS_WITH(read_stage({{"reflection_phrases", {"wait", 3}}}), Catch::Contains("zero.reflection_phrases[1]"));
  CHECK_THROWS_WITH(read_stage({{"reflection_phrases", {""}}}), Catch::Contains("zero.reflection_phrases[0]: an empty phrase"));
}

TEST_CASE("held-out curve: due every N steps but the last, the periodic config's k and limit", "[heldout]") {
  r1::run::EvalConfig e;
  e.data = "h.jsonl";
  e.k = 8;
  e.limit = 100;
  CHECK_FALSE(r1::run::periodic_eval_due(e, 3, 10));  // every 0: never
  e.every = 3;
  std::vector<int64_t> due;
  for (int64_t step = 0; step <= 9; ++step)
    if (r1::run::periodic_eval_due(e, step, 9)) due.push_back(step);
  CHECK(due == std::vector<int64_t>{3, 6});  // not 0 (the base) nor 9 (the final evaluation)
  e.data.clear();
  CHECK_FALSE(r1::run::periodic_eval_due(e, 3, 9));

  e.every_k = 1;
  r1::run::EvalConfig p = r1::run::periodic_eval_config(e);
  CHECK(p.k == 1);
  CHECK(p.limit == 100);  // every_limit 0: eval.limit's rows
  e.every_limit = 10;
  CHECK(r1::run::periodic_eval_config(e).limit == 10);

  const nlohmann::json m = r1::run::heldout_metrics(result(0.25, 40));
  CHECK(m["accuracy"] == 0.25);
  CHECK(m["mean_response_tokens"] == 40.0);
  for (const char* key : {"format_rate", "language_consistency", "truncation_rate", "samples", "maj_at_k"}) CHECK(m.contains(key));
  CHECK(m["pass_at_k"]["1"] == 0.25);
}

TEST_CASE("held-out curve: heldout.jsonl one point a step, cut back to the checkpoint on resume", "[heldout]") {
  Dir dir("r1-heldout-", "file");
  {
    r1::run::HeldoutCurve curve(dir.path.string(), -1);
    nlohmann::json row = {{"loss", 1.0}};
    curve.record(0, result(0.1, 50), nullptr);
    curve.record(2, result(0.2, 45), &row);
    curve.record(4, result(0.3, 40), nullptr);
    curve.record(4, result(0.9, 10), nullptr);  // the file has step 4 already: not twice
    CHECK(row["heldout"]["accuracy"] == 0.2);
    CHECK(row["loss"] == 1.0);
  }
  auto points = rows(dir / "heldout.jsonl");
  REQUIRE(points.size() == 3);
  CHECK(points[0]["step"] == 0);
  CHECK(points[2]["step"] == 4);
  CHECK(points[2]["accuracy"] == 0.3);
  CHECK(r1::run::EvalResult::from_json(points[1], "heldout.jsonl").mean_response_tokens == 45);

  // A resume from step 3's checkpoint drops step 4 (the resumed run measures it again), and a line a
  // crash cut off.
  std::ofstream(dir / "heldout.jsonl", std::ios::app) << "{\"step\": 5, \"accur";
  r1::run::HeldoutCurve resumed(dir.path.string(), 3);
  CHECK(resumed.has(0));
  CHECK(resumed.has(2));
  CHECK_FALSE(resumed.has(4));
  resumed.record(4, result(0.35, 38), nullptr);
  points = rows(dir / "heldout.jsonl");
  REQUIRE(points.size() == 3);
  CHECK(points[2]["accuracy"] == 0.35);

  // A fresh run starts the file again.
  r1::run::HeldoutCurve fresh(dir.path.string(), -1);
  CHECK_FALSE(fresh.has(0));
}

TEST_CASE("plot_run: held-out and reflection panels when the run has them, not otherwise", "[heldout][plot]") {
  Dir dir("r1-heldout-", "plot");
  const std::string run = dir.path.string();
  auto metrics_row = [](int step) {
    return nlohmann::json{{"step", step},       {"reward", {{"mean", 0.1 * step}}}, {"accuracy", 0.1},
                          {"format_rate", 0.5}, {"response_length", {{"mean", 20}, {"max", 30}}}};
  };
  std::string plain;
  for (int step = 1; step <= 4; ++step) plain += metrics_row(step).dump() + "\n";
  write(dir / "metrics.jsonl", plain);
  r1::run::plot_run(run);
  std::string svg = slurp(dir / "plot.svg");
  CHECK(svg.find("Response length") != std::string::npos);
  CHECK(svg.find("Held-out") == std::string::npos);
  CHECK(svg.find("Reflection") == std::string::npos);
  CHECK(svg.find("data-name=\"correct\"") == std::string::npos);

  // Steps 2 and 4 evaluated, the base (step 0) in heldout.jsonl alone; a reflection rate; the
  // lengths of correct and wrong samples.
  std::string curves;
  for (int step = 1; step <= 4; ++step) {
    nlohmann::json m = metrics_row(step);
    m["reflection_rate"] = 0.05 * step;
    m["response_tokens"] = {{"correct", 25}, {"wrong", 15}};
    if (step % 2 == 0) m["heldout"] = r1::run::heldout_metrics(result(0.1 * step, 30 + step));
    curves += m.dump() + "\n";
  }
  write(dir / "metrics.jsonl", curves);
  r1::run::HeldoutCurve file(run, -1);
  file.record(0, result(0.05, 28), nullptr);
  r1::run::plot_run(run);
  svg = slurp(dir / "plot.svg");
  CHECK(svg.find("Held-out accuracy") != std::string::npos);
  CHECK(svg.find("Held-out response length") != std::string::npos);
  CHECK(svg.find("Reflection") != std::string::npos);
  CHECK(svg.find("data-name=\"correct\"") != std::string::npos);
  CHECK(svg.find("data-name=\"wrong\"") != std::string::npos);
  // The held-out curve has three points (steps 0, 2, 4): one polyline of three.
  const size_t at = svg.find("data-name=\"mean response tokens\"");
  REQUIRE(at != std::string::npos);
  const size_t from = svg.find("points=\"", at) + 8;
  const std::string points = svg.substr(from, svg.find('"', from) - from);
  CHECK(std::count(points.begin(), points.end(), ',') == 3);
}

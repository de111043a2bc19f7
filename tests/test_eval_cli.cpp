// `r1 eval` end to end, as users run it: a tiny random Qwen2 checkpoint evaluated through real rollout
// worker processes, K samples a problem, held-out rows in GSM8K, MATH and AIME form; the JSON's keys,
// its numbers checked against each other and against every sample (--samples-out), the table; and the
// one-line errors of bad input.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "checkpoint/config.h"
#include "checkpoint/lora_config.h"
#include "checkpoint/safetensors.h"
#include "core/text.h"
#include "run/eval_metrics.h"
#include "tests/run_helpers.h"

using Json = nlohmann::json;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

struct Run {
  int exit_code;
  std::string out, err;
};

struct Setup {
  r1::test::Dir dir;
  std::string model, data;
  explicit Setup(const std::string& name, bool real_model = true)
      : dir("r1-eval-", name), model(dir / "model"), data(dir / "heldout.jsonl") {
    if (real_model) {
      const std::string cmd =
          std::string(R1_BINARY) + " -q model init --arch qwen2 --preset tiny --seed 1 --dtype fp32 --out " + model;
      REQUIRE(std::system(cmd.c_str()) == 0);
    } else {  // enough for the checks made before a worker starts
      std::filesystem::create_directories(model);
      r1::test::write(dir / "model/config.json", "{}");
    }
    // Two rows each as GSM8K (a solution ending in "#### N"), MATH (a \boxed{} solution) and AIME (an
    // integer) ship them, with their data sources; all but the last with a difficulty.
    r1::test::write(data,
                    R"({"question": "Tom has 5 apples and buys 7 more. How many?", "answer": "5 + 7 = <<5+7=12>>12\n#### 12", "data_source": "gsm8k", "difficulty": 1}
{"question": "A box holds 3 rows of 4 eggs. How many eggs?", "answer": "3 * 4 = 12.\n#### 1,200", "data_source": "gsm8k", "difficulty": 2}
{"problem": "What is $2 + 3$?", "solution": "We add: $2 + 3 = \\boxed{5}$.", "level": "Level 1", "data_source": "math", "difficulty": 1}
{"problem": "Simplify $\\frac{2}{4}$.", "solution": "Divide by 2: $\\boxed{\\frac{1}{2}}$.", "data_source": "math", "difficulty": 2}
{"problem": "Find the remainder when 2024 is divided by 1000.", "answer": 24, "data_source": "aime", "difficulty": 10}
{"problem": "Find $7 \\cdot 11$.", "answer": "077", "data_source": "aime"}
)");
  }

  Run eval(const std::string& args) const {
    const std::string out = dir / "stdout", err = dir / "stderr";
    const std::string cmd = std::string(R1_BINARY) + " --threads 1 eval --model " + model + " --data " + data +
                            " --max-new-tokens 8 --kv-cache-mb 4 --precision fp32 --workers 1 " + args + " > " + out + " 2> " + err;
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, r1::test::slurp(out), r1::test::slurp(err)};
  }
};

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("r1 eval: K samples a problem on a tiny model give one consistent report, per source, as JSON and a table", "[eval-cli]") {
  Setup s("report");
  // An accuracy that is right about half the time whatever the model writes (the parity of the
  // completion's bytes), so pass@k has something to measure on a random model.
  r1::test::write(s.dir / "parity.py", R"(import json, sys
for line in sys.stdin:
    x = json.loads(line)
    print(json.dumps({"id": x.get("id"), "reward": float(sum(x["completion"].encode()) % 2 == 0)}), flush=True)
)");
  r1::test::write(s.dir / "rewards.json", R"([{"kind": "external", "name": "accuracy", "command": ["/usr/bin/python3", ")" +
                                              (s.dir / "parity.py") + R"("]}, {"kind": "format", "name": "format"}])");
  // Reflection phrases a random model's bytes hold now and then: the rate is checked against the samples.
  const Run run = s.eval("--k 4 --temperature 1.0 --top-p 1 --seed 3 --rewards " + (s.dir / "rewards.json") + " --out " +
                         (s.dir / "eval.json") + " --samples-out " + (s.dir / "samples.jsonl") +
                         " --reflection-phrase E --reflection-phrase 'a'");
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const Json j = Json::parse(r1::test::slurp(s.dir / "eval.json"));
  for (const char* key : {"model", "data", "k", "pass_k", "sampling", "template", "rewards", "accuracy_component",
                          "format_component", "rows_skipped", "seconds", "overall", "by_source"})
    CHECK(j.contains(key));
  CHECK(j["k"] == 4);
  CHECK(j["pass_k"] == Json::array({1, 2, 4}));
  CHECK(j["sampling"]["temperature"] == 1.0);
  const Json& all = j["overall"];
  CHECK(all["problems"] == 6);
  CHECK(all["samples"] == 24);
  CHECK(all["samples_per_problem"] == 4);
  const double p1 = all["pass_at_k"]["1"], p2 = all["pass_at_k"]["2"], p4 = all["pass_at_k"]["4"];
  const double maj = all["maj_at_k"];
  CHECK(p1 <= p2);
  CHECK(p2 <= p4);
  CHECK(p4 <= 1.0);
  CHECK(maj >= 0.0);
  CHECK(maj <= p4);  // the voted sample is one of the K
  CHECK(all["accuracy"].get<double>() == Approx(p1));  // a 0/1 accuracy: its mean is pass@1
  for (const char* rate : {"format_rate", "language_consistency", "truncation_rate"}) {
    CHECK(all[rate].get<double>() >= 0.0);
    CHECK(all[rate].get<double>() <= 1.0);
  }
  CHECK(all["mean_response_tokens"].get<double>() > 0);
  CHECK(all["mean_response_tokens"].get<double>() <= 8);
  // Per source: the three sources, two problems each, adding up to the whole.
  REQUIRE(j["by_source"].size() == 3);
  int64_t problems = 0;
  double pass1_sum = 0;
  for (const char* source : {"gsm8k", "math", "aime"}) {
    REQUIRE(j["by_source"].contains(source));
    CHECK(j["by_source"][source]["problems"] == 2);
    problems += j["by_source"][source]["problems"].get<int64_t>();
    pass1_sum += 2 * j["by_source"][source]["pass_at_k"]["1"].get<double>();
  }
  CHECK(problems == 6);
  CHECK(pass1_sum / 6 == Approx(p1));

  // Every sample, once: pass@k, maj@K and the truncation rate recomputed from them agree with the JSON.
  const auto samples = r1::test::rows(s.dir / "samples.jsonl");
  REQUIRE(samples.size() == 24);
  std::map<int64_t, std::vector<Json>> by_line;
  for (const Json& x : samples) by_line[x["line"].get<int64_t>()].push_back(x);
  REQUIRE(by_line.size() == 6);
  double pass[5] = {0, 0, 0, 0, 0}, voted_right = 0, truncated = 0;
  for (const auto& [line, group] : by_line) {
    REQUIRE(group.size() == 4);
    std::set<int> indices;
    int64_t c = 0, votes = 0;
    for (const Json& x : group) {
      indices.insert(x["sample"].get<int>());
      c += x["correct"].get<bool>() ? 1 : 0;
      truncated += x["truncated"].get<bool>() ? 1 : 0;
      if (x["voted"].get<bool>()) {
        ++votes;
        CHECK(!x["answer"].is_null());  // only a sample stating an answer can win the vote
        voted_right += x["correct"].get<bool>() ? 1 : 0;
      }
    }
    CHECK(indices == std::set<int>{0, 1, 2, 3});
    CHECK(votes <= 1);
    for (int k : {1, 2, 4}) pass[k] += r1::run::pass_at_k(4, c, k);
  }
  CHECK(pass[1] / 6 == Approx(p1));
  CHECK(pass[2] / 6 == Approx(p2));
  CHECK(pass[4] / 6 == Approx(p4));
  CHECK(voted_right / 6 == Approx(maj));
  CHECK(truncated / 24 == Approx(all["truncation_rate"].get<double>()));
  // Per problem: pass@1 in held-out order; its 95% interval, t(0.975, 5) = 2.570582 x sd / sqrt(6).
  REQUIRE(j["per_problem"].size() == 6);
  std::vector<double> per_problem;
  for (const auto& [line, group] : by_line) {
    double c = 0;
    for (const Json& x : group) c += x["correct"].get<bool>() ? 1 : 0;
    per_problem.push_back(c / 4);
    CHECK(j["per_problem"][static_cast<size_t>(line - 1)].get<double>() == Approx(c / 4));
  }
  double mean = 0, squares = 0;
  for (double p : per_problem) mean += p / 6;
  for (double p : per_problem) squares += (p - mean) * (p - mean);
  REQUIRE(all["accuracy_ci95"].is_number());
  CHECK(all["accuracy_ci95"].get<double>() == Approx(2.570581836 * std::sqrt(squares / 5) / std::sqrt(6.0)));
  // Reflection: completions holding "e" or "a" in either case.
  double reflecting = 0;
  for (const Json& x : samples) {
    std::string text = x["completion"].get<std::string>();
    for (char& ch : text) ch = ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
    reflecting += text.find('e') != std::string::npos || text.find('a') != std::string::npos ? 1 : 0;
  }
  CHECK(j["reflection_phrases"] == Json::array({"E", "a"}));
  CHECK(all["reflection_measured"] == true);
  CHECK(all["reflection_rate"].get<double>() == Approx(reflecting / 24));
  // By difficulty: 1 (lines 1, 3), 2 (lines 2, 4), 10 (line 5); line 6 has none.
  const Json& levels = all["by_difficulty"];
  REQUIRE(levels.size() == 3);
  CHECK(levels["1"]["problems"] == 2);
  CHECK(levels["1"]["pass_at_1"].get<double>() == Approx((per_problem[0] + per_problem[2]) / 2));
  CHECK(levels["2"]["pass_at_1"].get<double>() == Approx((per_problem[1] + per_problem[3]) / 2));
  CHECK(levels["10"]["problems"] == 1);
  CHECK(levels["10"]["accuracy_ci95"].is_null());
  // The gold answers as read from each format, handed to the rewards.
  CHECK(by_line[1][0]["gold"] == "12");
  CHECK(by_line[2][0]["gold"] == "1,200");
  CHECK(by_line[3][0]["gold"] == "5");
  CHECK(by_line[4][0]["gold"] == "\\frac{1}{2}");
  CHECK(by_line[5][0]["gold"] == "24");
  CHECK(by_line[6][0]["gold"] == "077");

  // The table on stdout: a header, its rule, all, then one row per source.
  CHECK_THAT(run.out, Contains("pass@1") && Contains("pass@2") && Contains("pass@4") && Contains("maj@4") &&
                          Contains("| all ") && Contains("| gsm8k ") && Contains("| math ") && Contains("| aime "));
  CHECK_THAT(run.out, Contains(" ± ") && Contains("| reflection |") && Contains("| difficulty | problems |"));
  // 2 header lines, 4 rows; a blank line, the difficulty block's 2 header lines and 3 rows; the closing line.
  CHECK(lines(run.out) == 13);

  // The same seed samples the same completions: --json prints the same numbers.
  const Run again = s.eval("--k 4 --temperature 1.0 --top-p 1 --seed 3 --json --rewards " + (s.dir / "rewards.json") +
                           " --reflection-phrase E --reflection-phrase a");
  REQUIRE(again.exit_code == 0);
  const Json printed = Json::parse(again.out);
  CHECK(printed["overall"] == j["overall"]);
  CHECK(printed["by_source"] == j["by_source"]);
}

TEST_CASE("r1 eval: the default math rewards read GSM8K, MATH and AIME gold answers, with --limit", "[eval-cli]") {
  Setup s("math");
  const Run run = s.eval("--k 2 --limit 5 --out " + (s.dir / "eval.json"));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const Json j = Json::parse(r1::test::slurp(s.dir / "eval.json"));
  CHECK(j["overall"]["problems"] == 5);
  CHECK(j["overall"]["samples"] == 10);
  CHECK(j["pass_k"] == Json::array({1, 2}));
  CHECK(j["rewards"][0]["kind"] == "math");
  CHECK(j["by_source"]["aime"]["problems"] == 1);
  const double p1 = j["overall"]["pass_at_k"]["1"], p2 = j["overall"]["pass_at_k"]["2"];
  CHECK(p1 <= p2);
  CHECK(j["overall"]["maj_at_k"].get<double>() <= p2);
  CHECK_THAT(run.out, Contains("maj@2") && Contains("5 problems x 2 samples"));
}

TEST_CASE("r1 eval: bad input stops before any worker starts, with one line naming the flag, file, line or key", "[eval-cli]") {
  Setup s("errors", false);
  auto one_error_line = [](const Run& r, const std::string& what) {
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, StartsWith("r1: error: ") && Contains(what));
  };
  Run help = s.eval("--help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Contains("--k") && Contains("--samples-out") && Contains("--answer-field") && Contains("--workers"));

  Setup gone("gone", false);
  gone.model = "/nonexistent/model";
  one_error_line(gone.eval(""), "--model /nonexistent/model: no such folder");
  Setup empty("empty", false);
  std::filesystem::remove(empty.dir / "model/config.json");
  one_error_line(empty.eval(""), "holds no model (no config.json)");
  one_error_line(s.eval("--k 0"), "--k 0: must be >= 1");
  one_error_line(s.eval("--top-p 0"), "--top-p: must be in (0, 1]");
  r1::test::write(s.dir / "rewards.json", R"([{"kind": "format", "name": "format"}])");
  one_error_line(s.eval("--rewards " + (s.dir / "rewards.json")), "no reward named 'accuracy'");

  r1::test::write(s.data, "{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \"b\", \"answer\": \n");
  one_error_line(s.eval(""), s.data + ":2: malformed JSON");
  r1::test::write(s.data, "{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"question\": \"b\", \"answer\": \"#### 2\"}\n"
                          "{\"question\": \"c\", \"solution\": \"no box here\", \"answer\": null}\n");
  one_error_line(s.eval(""), s.data + ":3: \"solution\" holds no gold answer");
  r1::test::write(s.data, "{\"question\": \"a\"}\n");
  one_error_line(s.eval(""), s.data + ":1: no gold answer: the row has none of \"answer\"");
  Setup no_data("no-data", false);
  no_data.data = "/nonexistent.jsonl";
  one_error_line(no_data.eval(""), "--data /nonexistent.jsonl: no such file");
}

// A PEFT adapter on the tiny model: with B = 0 it is the base exactly (the same greedy completions;
// sampled ones can differ from run to run as workers batch differently); a bad adapter folder is one
// error before anything runs.
TEST_CASE("r1 eval: --adapter merges a PEFT adapter into a copy the workers serve", "[eval-cli]") {
  Setup s("adapter");
  const std::string adapter = s.dir / "adapter";
  std::filesystem::create_directories(adapter);
  r1::checkpoint::LoraOptions lora;
  lora.r = 4;
  lora.lora_alpha = 8;
  lora.target_modules = {"q_proj", "v_proj"};
  r1::test::write(adapter + "/adapter_config.json", r1::checkpoint::peft_config_json(lora));
  const auto targets = r1::checkpoint::lora_targets(r1::checkpoint::read_model_config(s.model + "/config.json"), lora, "test");
  std::vector<std::vector<float>> data;
  std::vector<r1::checkpoint::TensorToWrite> tensors;
  for (const auto& t : targets) {
    data.emplace_back(static_cast<size_t>(lora.r * t.in), 0.01f);   // A
    data.emplace_back(static_cast<size_t>(t.out * lora.r), 0.0f);   // B = 0
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    tensors.push_back({t.a_name, r1::checkpoint::DType::kF32, {lora.r, t.in}, data[2 * i].data(), data[2 * i].size() * 4});
    tensors.push_back({t.b_name, r1::checkpoint::DType::kF32, {t.out, lora.r}, data[2 * i + 1].data(), data[2 * i + 1].size() * 4});
  }
  r1::checkpoint::write_safetensors(adapter + "/adapter_model.safetensors", tensors);

  const Run base = s.eval("--temperature 0 --samples-out " + (s.dir / "base.jsonl"));
  const Run adapted =
      s.eval("--temperature 0 --adapter " + adapter + " --samples-out " + (s.dir / "adapted.jsonl") + " --out " + (s.dir / "a.json"));
  INFO(base.err << adapted.err);
  REQUIRE(base.exit_code == 0);
  REQUIRE(adapted.exit_code == 0);
  auto sorted_lines = [](const std::string& text) {  // samples are written as problems finish
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    std::sort(out.begin(), out.end());
    return out;
  };
  CHECK(sorted_lines(r1::test::slurp(s.dir / "base.jsonl")) == sorted_lines(r1::test::slurp(s.dir / "adapted.jsonl")));
  CHECK(Json::parse(r1::test::slurp(s.dir / "a.json"))["adapter"] == adapter);
  // The merged copy is gone afterwards.
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path())) {
    CHECK(e.path().filename().string().find("r1-eval-merged-") == std::string::npos);
  }
  const Run missing = s.eval("--adapter " + (s.dir / "nowhere"));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Contains("--adapter") && Contains("no such folder"));
}

// The R1 pipeline as users run it: `r1 run recipes/r1-qwen.json` with its example datasets on tiny random
// checkpoints (a teacher and a smaller student), every stage for a step or two, through real rollout
// workers, the sandbox and a remote preference reward served by `r1 reward-server`. Then what bad
// input in the new stage kinds gets.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/run_helpers.h"

namespace fs = std::filesystem;

namespace {

struct Dir : r1::test::Dir {
  explicit Dir(const std::string& name) : r1::test::Dir("r1-pipeline-", name) {}
};
using r1::test::rows;
using r1::test::slurp;

int sh(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A teacher-sized and a student-sized random checkpoint with r1's byte-level tokenizer: the teacher
// has the larger embedding table.
struct Models {
  Dir dir;
  std::string base, student;
  explicit Models(const std::string& name) : dir(name), base(dir / "base"), student(dir / "student") {
    REQUIRE(sh(std::string(R1_BINARY) + " -q model init --preset tiny --seed 1 --dtype fp32 --vocab-size 1024 --out " + base) == 0);
    REQUIRE(sh(std::string(R1_BINARY) + " -q model init --preset tiny --seed 2 --dtype fp32 --out " + student) == 0);
  }
};

// Every stage of r1-qwen.json cut down to a step or two.
std::vector<std::string> small_edits(const Models& m) {
  std::vector<std::string> e = {"inputs.base=" + m.base, "inputs.student=" + m.student};
  for (const char* s : {"cold", "sft", "distill"})
    for (const std::string& kv : {"steps=2", "seq_len=512", "batch_tokens=1024", "micro_batch_tokens=1024", "optim.warmup_steps=0",
                                  "optim.lr=0.001"})
      e.push_back(std::string(s) + "." + kv);
  for (const char* s : {"reason", "all"})
    for (const std::string& kv : {"steps=1", "prompts_per_step=2", "group_size=2", "minibatches=1", "sampling.max_new_tokens=8",
                                  "eval.limit=2", "eval.max_new_tokens=8", "rollout.workers=1", "rollout.kv_cache_mb=4",
                                  "rollout.threads_per_worker=1", "rollout.max_staleness=0", "micro_batch_tokens=256",
                                  "optim.warmup_steps=0", "checkpoint.every=0"})
      e.push_back(std::string(s) + "." + kv);
  for (const std::string& kv : {"samples_per_prompt=2", "sampling.max_new_tokens=8", "rollout.workers=1", "rollout.kv_cache_mb=4",
                                "rollout.threads_per_worker=1"})
    e.push_back("select." + kv);
  for (const std::string& kv : {"limit=2", "max_new_tokens=8", "rollout.workers=1", "rollout.kv_cache_mb=4", "rollout.threads_per_worker=1"})
    e.push_back("table." + kv);
  return e;
}

int run_recipe(const Dir& d, const std::string& name, const std::vector<std::string>& edits, std::string* out = nullptr,
               std::string* err = nullptr, const std::string& extra = "") {
  std::string cmd = "cd " + std::string(R1_SOURCE_DIR) + " && " + std::string(R1_BINARY) + " --threads 1 run recipes/r1-qwen.json --runs-dir " +
                    (d / "runs") + " --name " + name + " " + extra;
  for (const auto& e : edits) cmd += " --set '" + e + "'";
  cmd += " > " + (d / (name + ".out")) + " 2> " + (d / (name + ".err"));
  const int status = sh(cmd);
  if (out) *out = slurp(d / (name + ".out"));
  if (err) *err = slurp(d / (name + ".err"));
  return status;
}

}  // namespace

TEST_CASE("r1 run recipes/r1-qwen.json: every stage of the R1 pipeline runs, and a rerun is all cached", "[pipeline]") {
  Models m("qwen");
  // The preference model of stage 4: a reward server on a free port (it prints the port first).
  const std::string log = m.dir / "reward-server.log";
  {
    std::ofstream cfg(m.dir / "preference.json");
    cfg << R"([{"kind": "format", "mode": "lenient", "partial_credit": true}])";
  }
  REQUIRE(sh(std::string(R1_BINARY) + " reward-server --config " + (m.dir / "preference.json") + " --port 0 > " + log +
             " 2>&1 & echo $! > " + log + ".pid") == 0);
  std::string first;
  for (int i = 0; i < 200 && first.rfind("port ", 0) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(log);
    std::getline(in, first);
  }
  struct Kill {
    std::string pidfile;
    ~Kill() { std::system(("kill $(cat " + pidfile + ") 2>/dev/null").c_str()); }
  } kill{log + ".pid"};
  REQUIRE(first.rfind("port ", 0) == 0);

  std::vector<std::string> edits = small_edits(m);
  edits.push_back("all.preference.address=127.0.0.1:" + first.substr(5));
  std::string out, err;
  const int status = run_recipe(m.dir, "r1", edits, &out, &err);
  INFO(err);
  REQUIRE(status == 0);
  const std::string run = m.dir / "runs/r1";
  for (const char* stage : {"cold", "reason", "select", "sft", "all", "distill", "table"}) {
    INFO(stage);
    const auto state = nlohmann::json::parse(slurp(run + "/" + stage + "/stage.json"));
    CHECK(state["status"] == "done");
  }
  for (const char* stage : {"cold", "reason", "sft", "all", "distill"}) CHECK(fs::exists(run + "/" + stage + "/model/model.safetensors"));

  // Stage 2 scored math and code rows with one accuracy and the language reward.
  auto reason = rows(run + "/reason/metrics.jsonl");
  REQUIRE(reason.size() == 1);
  for (const char* k : {"math", "code", "accuracy", "format", "language"}) CHECK(reason[0]["rewards"].contains(k));
  // Stage 3: every prompt of the example set sampled (math and code rows), the non-reasoning rows passed through.
  const auto summary = nlohmann::json::parse(slurp(run + "/select/summary.json"));
  CHECK(summary["prompts"] == 11);
  CHECK(summary["samples"] == 22);
  CHECK(summary["passthrough"] == 4);
  const auto sft_rows = rows(run + "/select/sft.jsonl");
  CHECK(static_cast<int64_t>(sft_rows.size()) == summary["kept"].get<int64_t>() + 4);
  // Stage 4 added the remote preference score, and the server answered (a real value, not an error).
  auto all = rows(run + "/all/metrics.jsonl");
  REQUIRE(all.size() == 1);
  CHECK(all[0]["rewards"].contains("preference"));
  for (const auto& r : rows(run + "/all/rollouts.jsonl")) {
    REQUIRE(r["components"].contains("preference"));
    CHECK(r.value("reason", "").find("unavailable") == std::string::npos);
  }
  // Distillation: the student learnt from the teacher's samples.
  const auto distill = nlohmann::json::parse(slurp(run + "/distill/distill.json"));
  CHECK(distill["student_parameters"].get<int64_t>() < distill["teacher_parameters"].get<int64_t>());
  CHECK(distill["teacher"].get<std::string>().find("/all/model") != std::string::npos);
  // The table: every model, every measure, printed too.
  const auto table = nlohmann::json::parse(slurp(run + "/table/eval.json"));
  REQUIRE(table["rows"].size() == 6);
  for (const auto& r : table["rows"]) {
    for (const char* k : {"accuracy", "format_rate", "language_consistency", "mean_response_tokens"}) {
      REQUIRE(r.contains(k));
      CHECK(r[k].get<double>() >= 0);
    }
    CHECK(r["samples"] == 2);
  }
  CHECK(table["rows"][0]["name"] == "base");
  CHECK(slurp(run + "/table/table.md").find("| 4. RL for all scenarios (R1) |") != std::string::npos);
  CHECK(out.find("| student distilled from R1 |") != std::string::npos);

  // A rerun finds every stage finished.
  REQUIRE(run_recipe(m.dir, "r1", edits, &out, &err) == 0);
  for (const char* stage : {"cold", "reason", "select", "sft", "all", "distill", "table"}) {
    INFO(stage);
    CHECK(out.find("stage " + std::string(stage)) != std::string::npos);
  }
  size_t cached = 0;
  for (size_t at = out.find("(cached)"); at != std::string::npos; at = out.find("(cached)", at + 1)) ++cached;
  CHECK(cached == 7);
}

TEST_CASE("r1 run: a student no smaller than its teacher, a missing model in a table, unknown inputs", "[pipeline]") {
  Models m("bad");
  std::vector<std::string> edits = small_edits(m);
  std::string err;
  // The student is the teacher's size: refused when the distill stage starts, naming both.
  std::vector<std::string> same = edits;
  same.push_back("inputs.student=" + m.base);
  same.push_back("table.models=[]");
  CHECK(run_recipe(m.dir, "same", same, nullptr, &err) != 0);
  CHECK(err.find("models: required") != std::string::npos);  // the table is checked before any stage runs
  same.pop_back();
  same.push_back(R"(table.models=[{"name": "base", "model": "$base"}])");
  CHECK(run_recipe(m.dir, "same", same, nullptr, &err) != 0);
  CHECK(err.find("is not smaller than the teacher") != std::string::npos);

  // A required table entry that is not there: refused before it evaluates anything; an optional one is left out.
  std::vector<std::string> table = edits;
  table.push_back(R"(table.models=[{"name": "base", "model": "$base"}, {"name": "gone", "model": "/nonexistent/model"}])");
  CHECK(run_recipe(m.dir, "table", table, nullptr, &err, "--from table") != 0);
  CHECK(err.find("model 'gone': /nonexistent/model holds no model") != std::string::npos);
  table.back() = R"(table.models=[{"name": "base", "model": "$base"}, {"name": "gone", "model": "/nonexistent/model", "optional": true}])";
  REQUIRE(run_recipe(m.dir, "table", table, nullptr, &err, "--from table") == 0);
  const auto eval = nlohmann::json::parse(slurp(m.dir / "runs/table/table/eval.json"));
  CHECK(eval["rows"].size() == 1);
  CHECK(err.find("'gone' (/nonexistent/model) is not there; left out of the table") != std::string::npos);

  // Inputs: an unknown name is refused naming the ones there are.
  std::vector<std::string> typo = edits;
  typo.push_back("inputs.bsae=/x");
  CHECK(run_recipe(m.dir, "typo", typo, nullptr, &err, "--dry-run") != 0);
  CHECK(err.find("no input 'bsae' (it has: base,") != std::string::npos);

  // Rewards in the old spelling still plan, one deprecation warning per stage that uses it, naming the
  // stage; the preference reward joins the rewritten list.
  std::vector<std::string> old = edits;
  old.push_back(R"(all.rewards={"rewards": [{"name": "math", "id": "accuracy"}, {"name": "format"}]})");
  old.push_back(R"(table.rewards=[{"name": "math", "id": "accuracy"}, {"kind": "format"}])");
  old.push_back("all.preference.address=127.0.0.1:1");
  REQUIRE(run_recipe(m.dir, "old", old, nullptr, &err, "--dry-run") == 0);
  size_t warnings = 0;
  for (size_t at = err.find("the old reward spelling"); at != std::string::npos; at = err.find("the old reward spelling", at + 1))
    ++warnings;
  CHECK(warnings == 2);
  CHECK(err.find("stages[4] (all).rewards: the old reward spelling") != std::string::npos);
  CHECK(err.find("stages[6] (table).rewards: the old reward spelling") != std::string::npos);
  // Old and new keys in one entry are refused before anything runs.
  old.push_back(R"(table.rewards=[{"kind": "math", "id": "accuracy"}])");
  CHECK(run_recipe(m.dir, "mixed", old, nullptr, &err, "--dry-run") != 0);
  CHECK(err.find("stages[6] (table).rewards: rewards[0].id: ") != std::string::npos);
}

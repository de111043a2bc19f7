// Tool use in GRPO runs, end to end as users run them: `r1 run` with a grpo stage's "tools" object
// (docs/tools.md) on a tiny byte-tokenizer Qwen2 model that has memorised, by an sft stage, answers
// that call the python tool (`<tool_call> {"name": "python", "arguments": {"code": "print(2 + 3)"}}
// </tool_call>`, then the result, then the answer). The rollout workers (and once the colocated
// engine) stop each turn at the call, run it in the sandbox and append ` <tool_response> 5
// </tool_response>`; the model reads the result and answers. What the run logs, a resumed run, the
// bounds on a trajectory, bad configs, a tool that hangs, and the eval stage with tools.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/run_helpers.h"

namespace fs = std::filesystem;
using nlohmann::json;
using r1::test::rows;
using r1::test::slurp;

namespace {

// What the model memorises: two sums, each computed by a python call, and a call that never ends.
struct Problem {
  int a, b;
};
const Problem kProblems[] = {{2, 3}, {6, 2}};
const char* const kLoopPrompt = "Loop forever";
// The system turn of every prompt: r1-zero's preamble would triple each row's tokens.
const char* const kSystem = "Tools: python.";

std::string question(const Problem& p) { return std::to_string(p.a) + " + " + std::to_string(p.b); }

std::string call(const std::string& code) {
  return "<tool_call> {\"name\": \"python\", \"arguments\": {\"code\": \"" + code + "\"}} </tool_call>";
}

// The tool message r1-zero's template renders after a call (what the runtime appends).
std::string response(const std::string& content) { return " <tool_response> " + content + " </tool_response>"; }

// The memorised answer to "Compute a + b" as the assistant's turn: the call, the tool message, the rest.
std::string completion(const Problem& p) {
  const std::string q = question(p), sum = std::to_string(p.a + p.b);
  return "<think> " + call("print(" + q + ")") + response(sum) + " So " + q + " = " + sum + ". </think> <answer> " + sum +
         " </answer>";
}

std::string loop_completion() {
  return "<think> " + call("while True: pass") + response("Error: timed out after 1 s") + " It never ends. </think> <answer> 0 </answer>";
}

json chat(const std::string& user) { return json::array({{{"role", "system"}, {"content", kSystem}}, {{"role", "user"}, {"content", user}}}); }

std::string sft_rows() {
  std::string out;
  auto row = [&](const std::string& user, const std::string& answer) {
    json m = chat(user);
    m.push_back({{"role", "assistant"}, {"content", answer}});
    out += json{{"messages", m}}.dump() + "\n";
  };
  for (const Problem& p : kProblems) row("Compute " + question(p), completion(p));
  row(kLoopPrompt, loop_completion());
  return out;
}

// The sft stage that teaches a fresh tiny model those answers: one step an epoch (every row), 160 of
// them; sampled at temperature 0.7 it then writes them back (about 20 s on 2 busy cores).
std::string sft_recipe(const std::string& model, const std::string& data) {
  const json stage = {{"name", "sft"},
                      {"kind", "sft"},
                      {"model", model},
                      {"train", data},
                      {"template", "r1-zero"},
                      {"seed", 1},
                      {"epochs", 160},
                      {"seq_len", 256},
                      {"batch_tokens", 2048},
                      {"micro_batch_tokens", 2048},
                      {"compute_dtype", "fp32"},
                      {"optim", {{"lr", 0.006}, {"schedule", "cosine"}, {"warmup_steps", 5}, {"weight_decay", 0.0}, {"max_grad_norm", 10.0}}},
                      {"checkpoint", {{"every", 0}, {"keep_last", 1}}}};
  return json{{"name", "tool-sft"}, {"stages", json::array({stage})}}.dump(2);
}

int shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int64_t mtime_ns(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The tool-calling model, made once and shared by the test cases (each its own process under ctest):
// <tmp>/r1-tool-run-model-<key>, the key hashing this build's r1 and LibTorch module and the sft stage,
// made under a lock by whichever test case comes first.
const std::string& tool_model() {
  static const std::string path = [] {
    const fs::path r1 = R1_BINARY, module = r1.parent_path() / "libr1_torch.so";
    const std::string rows_text = sft_rows();
    const std::string key = r1.string() + std::to_string(mtime_ns(r1)) + std::to_string(mtime_ns(module)) + rows_text + sft_recipe("", "");
    const fs::path dir = fs::temp_directory_path() / ("r1-tool-run-model-" + std::to_string(std::hash<std::string>{}(key)));
    fs::create_directories(dir);
    const int lock = ::open((dir / "lock").c_str(), O_CREAT | O_RDWR, 0644);
    REQUIRE(lock >= 0);
    REQUIRE(::flock(lock, LOCK_EX) == 0);
    const fs::path model = dir / "runs/tool-sft/sft/model";
    if (!fs::exists(dir / "done")) {
      fs::remove_all(dir / "runs");
      const std::string base = (dir / "base").string(), data = (dir / "sft.jsonl").string();
      r1::test::write(data, rows_text);
      r1::test::write(dir / "sft.json", sft_recipe(base, data));
      REQUIRE(shell(std::string(R1_BINARY) + " -q model init --arch qwen2 --preset tiny --seed 1 --dtype fp32 --out " + base) == 0);
      const std::string err = (dir / "sft.err").string();
      const int code = shell(std::string(R1_BINARY) + " --threads 1 run " + (dir / "sft.json").string() + " --runs-dir " +
                             (dir / "runs").string() + " --name tool-sft > " + (dir / "sft.out").string() + " 2> " + err);
      INFO(slurp(err));
      REQUIRE(code == 0);
      REQUIRE(fs::exists(model / "config.json"));
      r1::test::write(dir / "done", "");
    }
    ::close(lock);
    return model.string();
  }();
  return path;
}

// A test's scratch folder with the GRPO prompt sets: the two sums, and the looping prompt.
struct Scratch {
  r1::test::Dir dir;
  std::string train, loop;
  explicit Scratch(const std::string& name) : dir("r1-tool-run-", name), train(dir / "train.jsonl"), loop(dir / "loop.jsonl") {
    std::ofstream out(train);
    for (const Problem& p : kProblems)
      out << json{{"messages", chat("Compute " + question(p))}, {"answer", std::to_string(p.a + p.b)}}.dump() << "\n";
    std::ofstream(loop) << json{{"messages", chat(kLoopPrompt)}, {"answer", "0"}}.dump() << "\n";
  }
  std::string stage(const std::string& run) const { return dir / ("runs/" + run + "/zero"); }
};

// The python tool through hermes calls, each turn stopped at its call (r1's tiny tool recipe).
std::string tools_edit(const std::string& more = "", const std::string& python = "") {
  return R"(zero.tools={"format": "hermes", "stop_after_call": true, "max_calls": 3)" + more +
         R"(, "tools": [{"kind": "python", "name": "python", "timeout_s": 5)" + python + "}]}";
}

// `r1 run recipes/r1-zero-qwen.json` on the tool model: fp32 rollouts and products (sampling exactly
// reproducible from the seeds), one worker, strictly on-policy, 2 prompts x 4 samples a step, no
// held-out evaluation unless an edit names one.
int run_tools(const Scratch& s, const std::string& name, const std::vector<std::string>& edits, std::string* err = nullptr,
              const std::string& extra = "") {
  std::vector<std::string> all = {"zero.model=" + tool_model(), "zero.train=" + s.train, "zero.eval.data=",
                                  "zero.eval.max_new_tokens=240", "zero.prompts_per_step=2", "zero.group_size=4",
                                  "zero.sampling.max_new_tokens=240", "zero.sampling.temperature=0.7",
                                  "zero.rollout.kv_cache_mb=8", "zero.rollout.threads_per_worker=1", "zero.rollout.workers=1",
                                  "zero.rollout.precision=fp32", "zero.compute_dtype=fp32", "zero.rollout.max_staleness=0",
                                  "zero.minibatches=1", "zero.micro_batch_tokens=1024", "zero.optim.lr=0.00001",
                                  "zero.optim.warmup_steps=0", "zero.kl.reference_reset_every=0", "zero.steps=2"};
  all.insert(all.end(), edits.begin(), edits.end());
  std::string cmd = std::string(R1_BINARY) + " --threads 1 run " R1_SOURCE_DIR "/recipes/r1-zero-qwen.json --runs-dir " +
                    (s.dir / "runs") + " --name " + name + " " + extra;
  for (const auto& e : all) cmd += " --set '" + e + "'";
  const std::string err_path = s.dir / (name + ".err");
  const int code = shell(cmd + " > " + (s.dir / (name + ".out")) + " 2> " + err_path);
  if (err) *err = slurp(err_path);
  return code;
}

// The well-formed call "print(a + b)" a completion makes, if it makes one.
std::optional<Problem> called_sum(const std::string& text) {
  for (int a = 0; a <= 9; ++a)
    for (int b = 0; b <= 9; ++b)
      if (text.find(call("print(" + question({a, b}) + ")")) != std::string::npos) return Problem{a, b};
  return std::nullopt;
}

}  // namespace

TEST_CASE("r1 run with tools through a rollout worker: the model calls python, reads its output, and the run logs the calls", "[tool-run]") {
  Scratch s("workers");
  std::string err;
  const int code = run_tools(s, "tools", {tools_edit(), "zero.eval.data=" + s.train, "zero.eval.temperature=0"}, &err);
  INFO(err);
  REQUIRE(code == 0);
  const auto r = rows(s.stage("tools") + "/rollouts.jsonl");
  REQUIRE(r.size() == 16);
  // Each trajectory: its calls, their python output appended right after them by the worker (not
  // sampled: the model memorised only 2 + 3 and 6 + 2, so a sum it made up shows the real output).
  int exact = 0, five = 0;
  std::vector<double> calls(2), errors(2), turns(2), tool_tokens(2), tokens(2), calling(2);
  for (const auto& row : r) {
    INFO(row.dump());
    REQUIRE(row.contains("tools"));
    const auto& t = row["tools"];
    const auto step = row["step"].get<size_t>() - 1;
    REQUIRE(step < 2);
    calls[step] += t["calls"].get<double>();
    errors[step] += t["errors"].get<double>();
    turns[step] += t["turns"].get<double>();
    tool_tokens[step] += t["tool_tokens"].get<double>();
    tokens[step] += row["tokens"].get<double>();
    calling[step] += t["calls"].get<int64_t>() > 0 ? 1 : 0;
    CHECK(t["limit"] == false);
    const std::string text = row["completion"];
    const auto sum = called_sum(text);
    if (!sum || t["calls"] != 1) continue;
    ++exact;
    // One well-formed call: no error, a second turn after ` <tool_response> SUM </tool_response>`, and
    // the tokens appended are exactly that text's bytes (r1's byte-level tokenizer).
    const std::string appended = response(std::to_string(sum->a + sum->b));
    CHECK(text.find(call("print(" + question(*sum) + ")") + appended) != std::string::npos);
    CHECK(t["errors"] == 0);
    CHECK(t["turns"] == 2);
    CHECK(t["tool_tokens"].get<size_t>() == appended.size());
    CHECK(t["tool_seconds"].get<double>() > 0);
    if (sum->a == 2 && sum->b == 3) ++five;
  }
  CHECK(exact >= 12);
  CHECK(five >= 1);
  // The step's tools metrics are the trajectories' counts.
  const auto m = rows(s.stage("tools") + "/metrics.jsonl");
  REQUIRE(m.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    INFO(m[i].dump());
    REQUIRE(m[i].contains("tools"));
    const auto& t = m[i]["tools"];
    CHECK(t["calls_per_trajectory"].get<double>() > 0);
    CHECK(t["calls_per_trajectory"].get<double>() == Approx(calls[i] / 8));
    CHECK(t["error_rate"].get<double>() == Approx(errors[i] / calls[i]));
    CHECK(t["turns"].get<double>() == Approx(turns[i] / 8));
    CHECK(t["trajectories_calling"].get<double>() == Approx(calling[i] / 8));
    CHECK(t["tool_token_share"].get<double>() == Approx(tool_tokens[i] / tokens[i]));
    CHECK(t["tool_token_share"].get<double>() > 0);
    CHECK(t["tool_s"].get<double>() > 0);
    CHECK(t["limit_rate"].get<double>() == 0);
  }
  // The held-out evaluation (greedy) used the tools too, before and after training.
  const auto summary = json::parse(slurp(s.stage("tools") + "/summary.json"));
  INFO(summary.dump());
  for (const char* when : {"base", "final"}) {
    CHECK(summary[when]["tool_call_rate"].get<double>() == 1.0);
    CHECK(summary[when]["tool_error_rate"].get<double>() == 0.0);
    CHECK(summary[when]["accuracy"].get<double>() == 1.0);
  }

  // The same run without "tools": the model writes its memorised tool message itself, and nothing is
  // logged about tools.
  REQUIRE(run_tools(s, "plain", {"zero.steps=1", "zero.eval.data=" + s.train, "zero.eval.temperature=0"}, &err) == 0);
  for (const auto& row : rows(s.stage("plain") + "/metrics.jsonl")) CHECK_FALSE(row.contains("tools"));
  const auto plain = rows(s.stage("plain") + "/rollouts.jsonl");
  REQUIRE(plain.size() == 8);
  for (const auto& row : plain) CHECK_FALSE(row.contains("tools"));
  const auto plain_summary = json::parse(slurp(s.stage("plain") + "/summary.json"));
  CHECK(plain_summary["final"]["tool_call_rate"].get<double>() == 0.0);
}

TEST_CASE("r1 run --resume with tools: the steps after the checkpoint give the uninterrupted run's, tool calls included", "[tool-run]") {
  Scratch s("resume");
  const std::vector<std::string> edits = {tools_edit(), "zero.checkpoint.every=2", "zero.checkpoint.keep_last=5",
                                          "zero.sampling.temperature=1.0"};
  auto with = [&](const std::string& steps) {
    std::vector<std::string> e = edits;
    e.push_back(steps);
    return e;
  };
  std::string err;
  REQUIRE(run_tools(s, "straight", with("zero.steps=4"), &err) == 0);
  REQUIRE(run_tools(s, "broken", with("zero.steps=2"), &err) == 0);
  const int code = run_tools(s, "broken", with("zero.steps=4"), &err, "--resume");
  INFO(err);
  REQUIRE(code == 0);
  const auto a = rows(s.stage("straight") + "/metrics.jsonl"), b = rows(s.stage("broken") + "/metrics.jsonl");
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  double calls = 0;
  for (size_t i = 2; i < 4; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["step"] == a[i]["step"]);
    CHECK(b[i]["reward"]["mean"].get<double>() == a[i]["reward"]["mean"].get<double>());
    CHECK(b[i]["reward"]["std"].get<double>() == a[i]["reward"]["std"].get<double>());
    CHECK(b[i]["response_length"]["mean"].get<double>() == a[i]["response_length"]["mean"].get<double>());
    // The update, to rounding: the engine's log-probabilities of the sampled tokens (the importance
    // ratio's denominator) depend in their last bits on which sequences share a batch, and that
    // follows when each tool call returns (two identical runs differ so too). GRPO's loss is float
    // noise around 0 here (ratio 1, advantages summing to 0); the gradient and the KL say more.
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).margin(1e-6));
    CHECK(b[i]["grad_norm"].get<double>() == Approx(a[i]["grad_norm"].get<double>()).epsilon(1e-3));
    CHECK(b[i]["kl"].get<double>() == Approx(a[i]["kl"].get<double>()).epsilon(1e-3));
    for (const char* k : {"calls_per_trajectory", "trajectories_calling", "error_rate", "turns", "tool_token_share", "limit_rate"})
      CHECK(b[i]["tools"][k] == a[i]["tools"][k]);
    calls += a[i]["tools"]["calls_per_trajectory"].get<double>();
  }
  CHECK(calls > 0);
  CHECK(a[3]["kl"].get<double>() > 0);
  CHECK(a[2]["reward"]["std"].get<double>() + a[3]["reward"]["std"].get<double>() > 0);
  // The trajectories themselves: the same samples, the same tool messages, the same counts.
  const auto ra = rows(s.stage("straight") + "/rollouts.jsonl"), rb = rows(s.stage("broken") + "/rollouts.jsonl");
  REQUIRE(ra.size() == 32);
  REQUIRE(rb.size() == 32);
  for (size_t i = 16; i < 32; ++i) {
    INFO(ra[i].dump());
    CHECK(rb[i]["completion"] == ra[i]["completion"]);
    CHECK(rb[i]["reward"] == ra[i]["reward"]);
    for (const char* k : {"turns", "calls", "errors", "tool_tokens", "limit"}) CHECK(rb[i]["tools"][k] == ra[i]["tools"][k]);
  }
}

TEST_CASE("r1 run with tools in the colocated engine: a trajectory ends at max_turns (tool_limit) or at its token budget (length)", "[tool-run]") {
  Scratch s("bounds");
  std::string err;
  // max_turns 1: the first turn's call would leave no turn to read its result, so it is not run and the
  // trajectory ends there, at the call.
  int code = run_tools(s, "turns", {tools_edit(", \"max_turns\": 1"), "zero.rollout.colocate=true", "zero.steps=1"}, &err);
  INFO(err);
  REQUIRE(code == 0);
  int limited = 0;
  for (const auto& row : rows(s.stage("turns") + "/rollouts.jsonl")) {
    INFO(row.dump());
    const auto& t = row["tools"];
    CHECK(t["turns"] == 1);
    CHECK(t["tool_tokens"] == 0);
    CHECK(row["completion"].get<std::string>().find("<tool_response>") == std::string::npos);
    if (!called_sum(row["completion"])) continue;
    ++limited;
    CHECK(t["limit"] == true);
    CHECK(t["calls"] == 1);
    CHECK(t["errors"] == 0);
    CHECK(row["completion"].get<std::string>().ends_with("</tool_call>"));
    CHECK(row["truncated"] == false);
  }
  CHECK(limited >= 6);
  const auto m = rows(s.stage("turns") + "/metrics.jsonl");
  REQUIRE(m.size() == 1);
  CHECK(m[0]["tools"]["limit_rate"].get<double>() == Approx(limited / 8.0));
  CHECK(m[0]["tools"]["turns"].get<double>() == 1.0);

  // 110 new tokens: the call (91 tokens) fits, its tool message (35) does not: the call runs, and the
  // trajectory ends at its budget with nothing appended.
  code = run_tools(s, "budget", {tools_edit(), "zero.rollout.colocate=true", "zero.steps=1", "zero.sampling.max_new_tokens=110"}, &err);
  REQUIRE(code == 0);
  int cut = 0;
  for (const auto& row : rows(s.stage("budget") + "/rollouts.jsonl")) {
    INFO(row.dump());
    const auto& t = row["tools"];
    CHECK(row["tokens"].get<int64_t>() <= 110);
    CHECK(t["limit"] == false);
    CHECK(t["tool_tokens"] == 0);
    if (!called_sum(row["completion"])) continue;
    ++cut;
    CHECK(row["truncated"] == true);
    CHECK(t["calls"] == 1);
    CHECK(t["errors"] == 0);
    CHECK(t["turns"] == 1);
    CHECK(row["completion"].get<std::string>().ends_with("</tool_call>"));
  }
  CHECK(cut >= 6);
}

TEST_CASE("r1 run: a bad tools block is one line naming the key, before the stage starts", "[tool-run]") {
  Scratch s("bad");
  struct Case {
    std::string edit, message;
  };
  const std::vector<Case> cases = {
      {tools_edit(", \"max_call\": 2"), "(zero).tools.max_call: unknown key (did you mean 'max_calls'?)"},
      {R"(zero.tools={"format": "harmony", "tools": [{"kind": "python"}]})", "(zero).tools.format: expected one of auto|hermes|deepseek|llama3, got 'harmony'"},
      {R"(zero.tools={"max_calls": "3", "tools": [{"kind": "python"}]})", "(zero).tools.max_calls: expected integer, got string"},
      {R"(zero.tools={"tools": [{"kind": "pyton"}]})", "(zero).tools.tools[0].kind: unknown tool kind 'pyton' (did you mean 'python'?)"},
      {R"(zero.tools={"tools": [{"kind": "python", "name": ""}]})", "(zero).tools.tools[0].name: '' is not a tool name"},
      {R"(zero.tools={"tools": [{"name": "python"}]})", "(zero).tools.tools[0].kind: required key is missing"},
      {R"(zero.tools={"tools": []})", "(zero).tools.tools: expected a non-empty list of tools"},
      {tools_edit("", ", \"timeout_s\": 0"), "(zero).tools.tools[0].timeout_s: must be in (0, 600]"},
      {R"(zero.tools=[{"kind": "python"}])", "(zero).tools: expected an object (docs/tools.md)"},
  };
  for (const Case& c : cases) {
    INFO(c.edit);
    std::string err;
    CHECK(run_tools(s, "bad", {c.edit, "zero.rollout.colocate=true"}, &err) == 1);
    INFO(err);
    CHECK(err.find("r1: error: ") != std::string::npos);
    CHECK(err.find(c.message) != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') <= 2);
    CHECK(err.find("Traceback") == std::string::npos);
    CHECK_FALSE(fs::exists(s.stage("bad") + "/metrics.jsonl"));
  }
  // A template that renders no tool messages needs the model's tokenizer to be found out: the stage
  // stops on it before its worker starts (not at the worker's refusal of the first request).
  std::string err;
  CHECK(run_tools(s, "template", {tools_edit(", \"template\": \"qwen3\"")}, &err) == 1);
  INFO(err);
  CHECK(err.find("r1: error: tools.template: the chat template 'qwen3' cannot render tool messages") != std::string::npos);
  CHECK(err.find("refused") == std::string::npos);
  CHECK(std::count(err.begin(), err.end(), '\n') <= 2);
  CHECK_FALSE(fs::exists(s.stage("template") + "/metrics.jsonl"));
}

TEST_CASE("r1 run with tools: a call that never ends is a tool error at timeout_s, and the run goes on", "[tool-run]") {
  Scratch s("hang");
  std::string err;
  // The model's memorised call for this prompt is `while True: pass`: each is stopped after 1 s.
  const int code = run_tools(s, "hang", {tools_edit("", ", \"timeout_s\": 1"), "zero.train=" + s.loop, "zero.prompts_per_step=1",
                                         "zero.group_size=2", "zero.steps=2"},
                             &err);
  INFO(err);
  REQUIRE(code == 0);
  const auto r = rows(s.stage("hang") + "/rollouts.jsonl");
  REQUIRE(r.size() == 4);
  int timed_out = 0;
  for (const auto& row : r) {
    INFO(row.dump());
    const std::string text = row["completion"];
    if (text.find(call("while True: pass")) == std::string::npos) continue;
    ++timed_out;
    const auto& t = row["tools"];
    CHECK(text.find(call("while True: pass") + response("Error: timed out after 1 s")) != std::string::npos);
    CHECK(t["calls"] == 1);
    CHECK(t["errors"] == 1);
    CHECK(t["turns"] == 2);
    CHECK(t["tool_seconds"].get<double>() >= 1.0);
    CHECK(t["tool_seconds"].get<double>() < 30.0);
  }
  CHECK(timed_out >= 3);
  const auto m = rows(s.stage("hang") + "/metrics.jsonl");
  REQUIRE(m.size() == 2);
  CHECK(m[1]["tools"]["error_rate"].get<double>() > 0);
}

TEST_CASE("r1 run: an eval stage with tools measures each model's tool calls, off for an entry with tools false", "[tool-run]") {
  Scratch s("eval");
  const json tools = json::parse(tools_edit().substr(std::string("zero.tools=").size()));
  const json rollout = {{"workers", 1}, {"precision", "fp32"}, {"kv_cache_mb", 8}, {"threads_per_worker", 1}};
  const json stage = {{"name", "table"},
                      {"kind", "eval"},
                      {"data", s.train},
                      {"template", "r1-zero"},
                      {"max_new_tokens", 240},
                      {"temperature", 0},
                      {"tools", tools},
                      {"models", json::array({{{"name", "with tools"}, {"model", tool_model()}},
                                              {{"name", "without tools"}, {"model", tool_model()}, {"tools", false}}})},
                      {"rewards", json::parse(R"([{"kind": "math", "name": "accuracy", "extraction": ["answer_tag"]}, {"kind": "format", "mode": "strict"}])")},
                      {"rollout", rollout}};
  r1::test::write(s.dir / "eval.json", json{{"name", "tool-eval"}, {"stages", json::array({stage})}}.dump(2));
  const std::string err_path = s.dir / "eval.err";
  const int code = shell(std::string(R1_BINARY) + " --threads 1 run " + (s.dir / "eval.json") + " --runs-dir " + (s.dir / "runs") +
                         " --name e > " + (s.dir / "eval.out") + " 2> " + err_path);
  INFO(slurp(err_path));
  REQUIRE(code == 0);
  const std::string stage_dir = s.dir / "runs/e/table";
  const auto summary = json::parse(slurp(stage_dir + "/summary.json"));
  INFO(summary.dump());
  // Greedy: every answer calls python once, well-formed; without tools the model writes its memorised
  // tool message itself and nothing is called.
  CHECK(summary["with tools"]["tools"] == true);
  CHECK(summary["with tools"]["tool_call_rate"].get<double>() == 1.0);
  CHECK(summary["with tools"]["tool_error_rate"].get<double>() == 0.0);
  CHECK(summary["with tools"]["accuracy"].get<double>() == 1.0);
  CHECK(summary["without tools"]["tools"] == false);
  CHECK(summary["without tools"]["tool_call_rate"].get<double>() == 0.0);
  CHECK(summary["without tools"]["accuracy"].get<double>() == 1.0);
  const std::string table = slurp(stage_dir + "/table.md");
  INFO(table);
  CHECK(table.find("| tool calls | tool errors |") != std::string::npos);
  // Accuracy with its interval over the two problems; the second entry against the first (the baseline).
  CHECK(table.find("| with tools | 1.000 ± 0.000 | (baseline) | 1.000 |") != std::string::npos);
  CHECK(table.find("| without tools | 1.000 ± 0.000 | +0.000 ± 0.000 (within noise) |") != std::string::npos);
  const auto eval = json::parse(slurp(stage_dir + "/eval.json"));
  CHECK(eval["baseline"] == "with tools");
  CHECK(eval["rows"][0]["vs_baseline"].is_null());
  CHECK(eval["rows"][1]["vs_baseline"]["name"] == "with tools");
  CHECK(eval["rows"][1]["vs_baseline"]["within_noise"] == true);
  CHECK(eval["rows"][1]["per_problem"] == json::array({1.0, 1.0}));
  CHECK(table.find(" 1.00 | 0.000 |\n") != std::string::npos);
  CHECK(table.find(" off | off |\n") != std::string::npos);
}

TEST_CASE("r1 eval --tools: the same problems with the tools and without them, both reported", "[tool-run]") {
  Scratch s("cli-eval");
  const std::string tools_file = s.dir / "tools.json";
  r1::test::write(tools_file, tools_edit().substr(std::string("zero.tools=").size()));
  const std::string out = s.dir / "eval_out.json", err_path = s.dir / "cli.err", stdout_path = s.dir / "cli.out";
  const int code = shell(std::string(R1_BINARY) + " --threads 1 eval --model " + tool_model() + " --data " + s.train +
                         " --template r1-zero --tools " + tools_file +
                         " --temperature 0 --max-new-tokens 240 --workers 1 --precision fp32 --kv-cache-mb 8"
                         " --threads-per-worker 1 --out " + out + " > " + stdout_path + " 2> " + err_path);
  INFO(slurp(err_path));
  REQUIRE(code == 0);
  const json j = json::parse(slurp(out));
  INFO(j.dump());
  CHECK(j["tools"]["tools"][0]["kind"] == "python");
  CHECK(j["tools"]["template"] == "r1-zero");  // the eval's template, filled in
  CHECK(j["overall"]["tool_call_rate"].get<double>() == 1.0);
  CHECK(j["overall"]["tool_error_rate"].get<double>() == 0.0);
  CHECK(j["overall"]["accuracy"].get<double>() == 1.0);
  REQUIRE(j.contains("without_tools"));
  CHECK(j["without_tools"]["tool_call_rate"].get<double>() == 0.0);
  CHECK(j["without_tools"]["problems"] == j["overall"]["problems"]);
  const std::string printed = slurp(stdout_path);
  INFO(printed);
  CHECK(printed.find("with tools: 1.00 calls per trajectory, 0.0% of calls answered with an error") != std::string::npos);
  CHECK(printed.find("without tools: accuracy ") != std::string::npos);
  // A tools file with a mistake is one line naming the key, before any worker starts.
  r1::test::write(tools_file, R"({"format": "hermez", "tools": [{"kind": "python"}]})");
  const int bad = shell(std::string(R1_BINARY) + " eval --model " + tool_model() + " --data " + s.train + " --tools " + tools_file +
                        " > " + stdout_path + " 2> " + err_path);
  CHECK(bad == 1);
  CHECK(slurp(err_path).find("format") != std::string::npos);
  CHECK(slurp(err_path).find("hermez") != std::string::npos);
}

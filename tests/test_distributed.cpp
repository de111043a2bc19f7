// Data-parallel training as users launch it: `r1 run --nproc-per-node N` and torchrun's variables set
// by hand, Gloo over loopback. The same global batch on 1, 2 and 4 ranks gives the same losses and
// weights; a killed rank ends the job naming it and a second run resumes; ranks with different plans,
// an unreachable master and a second writer of one run folder are refused.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <iterator>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "checkpoint/safetensors.h"
#include "core/text.h"
#include "run/local_ranks.h"
#include "tests/run_helpers.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  int code;
  std::string err;
};

// r1 ARGS in `dir`, stderr kept; `env` is prepended ("A=1 B=2").
Result run_r1(const fs::path& dir, const std::string& args, const std::string& env = "") {
  const std::string err = (dir / "stderr.txt").string();
  const std::string cmd = "cd " + dir.string() + " && " + env + " " + R1_BINARY + " " + args + " > /dev/null 2> " + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, r1::read_file(err)};
}

// A tiny fp32 model and 24 chat rows; a recipe of one sft stage of `steps` steps of 4 rows.
fs::path setup(const std::string& name, int steps) {
  const fs::path dir = r1::test::fresh_dir("dist-" + name);
  REQUIRE(run_r1(dir, "-q model init --out model --dtype fp32 --seed 4").code == 0);
  std::string rows;
  for (int i = 0; i < 24; ++i)
    rows += nlohmann::json{{"prompt", "echo " + std::to_string(i % 6)}, {"completion", "said " + std::to_string(i % 6)}}.dump() + "\n";
  r1::test::write(dir / "train.jsonl", rows);
  const nlohmann::json stage = {{"name", "s"}, {"kind", "sft"}, {"model", (dir / "model").string()},
                                {"train", (dir / "train.jsonl").string()}, {"seq_len", 64}, {"batch_tokens", 256},
                                {"micro_batch_tokens", 64}, {"steps", steps}, {"optim", {{"lr", 3e-3}, {"schedule", "constant"}}},
                                {"checkpoint", {{"every", 2}, {"keep_last", 0}}}};
  r1::test::write(dir / "recipe.json", nlohmann::json{{"name", "dp"}, {"stages", {stage}}}.dump(2));
  return dir;
}

std::vector<nlohmann::json> metrics(const fs::path& run) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(run / "dp/s/metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// How far apart two fp32 checkpoints trained from `base` are, per tensor: |a - b| / |a - base| (L2), the
// largest over the tensors. The key projections' biases are left out: their gradient is zero in exact
// arithmetic (adding one vector to every key shifts a query's scores alike, which softmax ignores), so
// what they get is float noise, which AdamW's normalisation turns into lr-sized steps of either sign
// in any two runs that sum in another order, one process with other thread counts included.
double max_weight_difference(const fs::path& a, const fs::path& b, const fs::path& base) {
  r1::checkpoint::Checkpoint ca(a.string()), cb(b.string()), c0(base.string());
  REQUIRE(ca.names() == cb.names());
  double worst = 0;
  for (const std::string& name : ca.names()) {
    if (name.find("k_proj.bias") != std::string::npos) continue;
    auto [fa, ta] = ca.at(name);
    auto [fb, tb] = cb.at(name);
    auto [f0, t0] = c0.at(name);
    REQUIRE(ta->numel() == tb->numel());
    const float* x = reinterpret_cast<const float*>(fa->data(*ta));
    const float* y = reinterpret_cast<const float*>(fb->data(*tb));
    const float* z = reinterpret_cast<const float*>(f0->data(*t0));
    double apart = 0, moved = 0;
    for (uint64_t i = 0; i < ta->numel(); ++i) {
      apart += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
      moved += (static_cast<double>(x[i]) - z[i]) * (static_cast<double>(x[i]) - z[i]);
    }
    worst = std::max(worst, std::sqrt(apart) / std::max(1e-12, std::sqrt(moved)));
  }
  return worst;
}

// The pid of the launcher's child whose environment says RANK=`rank` (a rank of `r1 run --nproc-per-node`).
pid_t child_rank(pid_t launcher, int rank) {
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string nul(1, '\0');
  const std::string want = nul + "RANK=" + std::to_string(rank) + nul;  // not LOCAL_RANK=, not GROUP_RANK=
  for (const auto& e : fs::directory_iterator("/proc")) {
    if (!std::isdigit(static_cast<unsigned char>(e.path().filename().string()[0]))) continue;
    const std::string environ = nul + slurp(e.path() / "environ");
    const std::string stat = slurp(e.path() / "stat");
    if (environ.find(want) == std::string::npos) continue;
    const size_t close = stat.rfind(") ");
    if (close == std::string::npos) continue;
    // stat: pid (comm) state ppid ...
    const int ppid = std::atoi(stat.substr(close + 4).c_str());
    if (ppid == launcher) return std::atoi(e.path().filename().c_str());
  }
  return 0;
}

// `r1 ARGS --nproc-per-node 2` started in the background in `dir` (stderr to stderr.txt); returns once
// rank 0 has logged 3 steps, with the launcher's pid.
pid_t start_two_ranks(const fs::path& dir, const std::string& args) {
  const pid_t launcher = ::fork();
  if (launcher == 0) {
    ::setpgid(0, 0);
    const std::string cmd = "cd " + dir.string() + " && exec " + R1_BINARY + " --threads 1 run recipe.json --runs-dir runs " +
                            "--nproc-per-node 2 " + args + " > /dev/null 2> " + (dir / "stderr.txt").string();
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (metrics(dir / "runs").size() < 3 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(metrics(dir / "runs").size() >= 3);
  return launcher;
}

}  // namespace

TEST_CASE("distributed: sft on 1, 2 and 4 ranks gives the same losses and weights", "[distributed]") {
  const fs::path dir = setup("equal", 6);
  REQUIRE(run_r1(dir, "--threads 1 run recipe.json --runs-dir one").code == 0);
  for (const int n : {2, 4}) {
    const std::string runs = "ranks" + std::to_string(n);
    const Result r = run_r1(dir, "--threads 1 run recipe.json --runs-dir " + runs + " --nproc-per-node " + std::to_string(n));
    INFO(r.err);
    REQUIRE(r.code == 0);
    const auto a = metrics(dir / "one"), b = metrics(dir / runs);
    REQUIRE(a.size() == 6);
    REQUIRE(b.size() == 6);  // rank 0 alone writes: one row per step
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(n << " ranks, step " << i + 1);
      CHECK(b[i]["world_size"] == n);
      CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5));
      CHECK(b[i]["grad_norm"].get<double>() == Approx(a[i]["grad_norm"].get<double>()).epsilon(1e-4));
    }
    // Measured: <= 0.001 of how far training moved each tensor (6 AdamW steps from a random model).
    CHECK(max_weight_difference(dir / "one/dp/s/model", dir / runs / "dp/s/model", dir / "model") < 0.01);
    CHECK(r1::read_file((dir / runs / "dp/s/stage.json").string()).find("\"done\"") != std::string::npos);
  }
}

TEST_CASE("distributed: LoRA sft on 2 ranks sums the adapter's gradients and gives the one-process losses", "[distributed][lora]") {
  const fs::path dir = setup("lora", 4);
  const std::string lora = " --set 's.lora={\"r\": 4, \"lora_alpha\": 8, \"target_modules\": \"all-linear\"}' --set s.optim.lr=1e-2";
  REQUIRE(run_r1(dir, "--threads 1 run recipe.json --runs-dir one" + lora).code == 0);
  const Result r = run_r1(dir, "--threads 1 run recipe.json --runs-dir two --nproc-per-node 2" + lora);
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto a = metrics(dir / "one"), b = metrics(dir / "two");
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["world_size"] == 2);
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5));
    CHECK(b[i]["grad_norm"].get<double>() == Approx(a[i]["grad_norm"].get<double>()).epsilon(1e-4));
    CHECK(b[i]["gradient_mb"][0].get<double>() < 0.1);  // the adapter's gradients alone were summed
  }
  CHECK(fs::exists(dir / "two/dp/s/adapter/adapter_model.safetensors"));
  CHECK(max_weight_difference(dir / "one/dp/s/model", dir / "two/dp/s/model", dir / "model") < 0.01);
}

TEST_CASE("distributed: two nodes on 127.0.0.1 through torchrun's variables give the one-process losses", "[distributed]") {
  const fs::path dir = setup("nodes", 4);
  REQUIRE(run_r1(dir, "--threads 1 run recipe.json --runs-dir one").code == 0);
  // Node 1 in the background, node 0 here: one rank each, as `torchrun --nnodes 2 --nproc-per-node 1` sets them.
  const std::string vars = "WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                           std::to_string(r1::run::free_local_port());
  const std::string node1 = "(cd " + dir.string() + " && RANK=1 GROUP_RANK=1 " + vars + " " + R1_BINARY +
                            " --threads 1 run recipe.json --runs-dir nodes > /dev/null 2> node1.txt; echo $? > " +
                            (dir / "node1.status").string() + ") &";
  REQUIRE(std::system(node1.c_str()) == 0);
  const Result node0 = run_r1(dir, "--threads 1 run recipe.json --runs-dir nodes", "RANK=0 GROUP_RANK=0 " + vars);
  INFO(node0.err);
  REQUIRE(node0.code == 0);
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(dir / "node1.status") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(r1::read_file((dir / "node1.status").string()) == "0\n");
  CHECK(node0.err.find("node 0") != std::string::npos);
  CHECK(r1::read_file((dir / "node1.txt").string()).find("rank 1 of 2 (node 1, local rank 0; torchrun") != std::string::npos);
  const auto a = metrics(dir / "one"), b = metrics(dir / "nodes");
  REQUIRE(b.size() == a.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5));
}

TEST_CASE("distributed: pretrain-synthetic on 2 ranks makes the one-process base model", "[distributed]") {
  const fs::path dir = r1::test::fresh_dir("dist-pretrain");
  const nlohmann::json stage = {
      {"name", "base"}, {"kind", "pretrain-synthetic"}, {"seed", 3}, {"documents", 400}, {"train_problems", 20},
      {"heldout_problems", 10}, {"vocab_size", 300},
      {"model", {{"hidden_size", 32}, {"intermediate_size", 64}, {"layers", 1}, {"heads", 2}, {"kv_heads", 1}, {"context", 64}}},
      {"train", {{"steps", 8}, {"seq_len", 32}, {"batch_rows", 4}, {"compute_dtype", "fp32"}, {"optim", {{"lr", 3e-3}}}}}};
  r1::test::write(dir / "recipe.json", nlohmann::json{{"name", "pre"}, {"stages", {stage}}}.dump(2));
  REQUIRE(run_r1(dir, "--threads 1 run recipe.json --runs-dir one").code == 0);
  const Result two = run_r1(dir, "--threads 1 run recipe.json --runs-dir two --nproc-per-node 2");
  INFO(two.err);
  REQUIRE(two.code == 0);
  auto cached = [&](const std::string& runs) {
    for (const auto& e : fs::directory_iterator(dir / runs / "cache")) return e.path();
    return fs::path();
  };
  const fs::path a = cached("one"), b = cached("two");
  REQUIRE(fs::exists(b / "model/model.safetensors"));
  CHECK(a.filename() == b.filename());  // the same cache identity
  for (const auto& e : fs::directory_iterator(dir / "two/cache")) CHECK(e.path().filename().string().find(".rank-") == std::string::npos);
  const auto sa = nlohmann::json::parse(r1::read_file((a / "stage.json").string()));
  const auto sb = nlohmann::json::parse(r1::read_file((b / "stage.json").string()));
  CHECK(sb["final_loss"].get<double>() == Approx(sa["final_loss"].get<double>()).epsilon(1e-5));
  CHECK(r1::read_file((a / "train.jsonl").string()) == r1::read_file((b / "train.jsonl").string()));
  CHECK(r1::read_file((a / "model/tokenizer.json").string()) == r1::read_file((b / "model/tokenizer.json").string()));
}

TEST_CASE("distributed: a run resumed on another number of ranks continues the uninterrupted run", "[distributed]") {
  const fs::path dir = setup("resize", 6);
  REQUIRE(run_r1(dir, "--threads 1 run recipe.json --runs-dir straight").code == 0);
  // 2 ranks to step 4 (checkpoints every 2), then 1 rank to 6; and 1 rank to 4, then 4 ranks to 6.
  for (const auto& [first, then, runs] : {std::tuple{2, 1, "down"}, std::tuple{1, 4, "up"}}) {
    auto launch = [&](int n, const std::string& more) {
      const std::string ranks = n > 1 ? " --nproc-per-node " + std::to_string(n) : std::string();
      return run_r1(dir, "--threads 1 run recipe.json --runs-dir " + std::string(runs) + ranks + more);
    };
    const Result a = launch(first, " --set s.steps=4");
    INFO(a.err);
    REQUIRE(a.code == 0);
    const Result b = launch(then, " --resume");
    INFO(b.err);
    REQUIRE(b.code == 0);
    const auto want = metrics(dir / "straight"), got = metrics(dir / runs);
    REQUIRE(got.size() == 6);
    for (size_t i = 4; i < 6; ++i) {
      INFO(runs << ", step " << i + 1);
      CHECK(got[i]["world_size"] == then);
      CHECK(got[i]["loss"].get<double>() == Approx(want[i]["loss"].get<double>()).epsilon(1e-5));
    }
  }
}

TEST_CASE("distributed: ZeRO-1 and ZeRO-2 partition AdamW's moments and the gradients, keep the losses, and resume on any number of ranks",
          "[distributed]") {
  const fs::path dir = setup("zero", 6);
  auto launch = [&](const std::string& runs, int n, const std::string& more) {
    const std::string ranks = n > 1 ? " --nproc-per-node " + std::to_string(n) : std::string();
    const Result r = run_r1(dir, "--threads 1 run recipe.json --runs-dir " + runs + ranks + more);
    INFO(r.err);
    REQUIRE(r.code == 0);
  };
  launch("plain", 2, "");
  launch("zero", 2, " --set s.optim.zero_stage=1");
  const auto plain = metrics(dir / "plain"), zero = metrics(dir / "zero");
  REQUIRE(zero.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    INFO("step " << i + 1);
    CHECK(zero[i]["loss"].get<double>() == Approx(plain[i]["loss"].get<double>()).epsilon(1e-5));
    CHECK(zero[i]["grad_norm"].get<double>() == Approx(plain[i]["grad_norm"].get<double>()).epsilon(1e-4));
  }
  // Each rank holds about half of the moments plain data parallelism holds on every rank.
  const auto whole = plain.back()["optimizer_state_mb"], part = zero.back()["optimizer_state_mb"];
  REQUIRE(whole.size() == 2);
  REQUIRE(part.size() == 2);
  CHECK(whole[0].get<double>() == Approx(whole[1].get<double>()));
  CHECK(part[0].get<double>() + part[1].get<double>() == Approx(whole[0].get<double>()).epsilon(1e-6));
  for (const auto& mb : part) CHECK(mb.get<double>() < 0.6 * whole[0].get<double>());
  // ZeRO-2: the gradients partitioned too (each rank keeps the sums of its own parameters), the same
  // losses; plain data parallelism holds every gradient on every rank.
  launch("zero2", 2, " --set s.optim.zero_stage=2");
  const auto zero2 = metrics(dir / "zero2");
  REQUIRE(zero2.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    INFO("zero-2, step " << i + 1);
    CHECK(zero2[i]["loss"].get<double>() == Approx(plain[i]["loss"].get<double>()).epsilon(1e-5));
    CHECK(zero2[i]["grad_norm"].get<double>() == Approx(plain[i]["grad_norm"].get<double>()).epsilon(1e-4));
    const auto grads = zero2[i]["gradient_mb"], full = plain[i]["gradient_mb"];
    REQUIRE(grads.size() == 2);
    REQUIRE(full.size() == 2);
    CHECK(full[0].get<double>() == Approx(full[1].get<double>()));
    CHECK(grads[0].get<double>() + grads[1].get<double>() == Approx(full[0].get<double>()).epsilon(1e-6));
    for (const auto& mb : grads) CHECK(mb.get<double>() < 0.6 * full[0].get<double>());
    CHECK(zero2[i]["optimizer_state_mb"] == zero[i]["optimizer_state_mb"]);
  }
  // A partitioned checkpoint holds the whole state: 2 partitioned ranks to step 4, then 1 rank; and 1
  // rank to step 4, then 4 partitioned ranks; both continue the uninterrupted run.
  launch("down", 2, " --set s.steps=4 --set s.optim.zero_stage=1");
  launch("down", 1, " --resume");
  launch("up", 1, " --set s.steps=4");
  launch("up", 4, " --resume --set s.optim.zero_stage=1");
  launch("down2", 2, " --set s.steps=4 --set s.optim.zero_stage=2");
  launch("down2", 1, " --resume");
  for (const char* runs : {"down", "up", "down2"}) {
    const auto got = metrics(dir / runs);
    REQUIRE(got.size() == 6);
    for (size_t i = 4; i < 6; ++i) {
      INFO(runs << ", step " << i + 1);
      CHECK(got[i]["loss"].get<double>() == Approx(plain[i]["loss"].get<double>()).epsilon(1e-5));
    }
  }
}

TEST_CASE("distributed: a rank killed mid-run ends the job naming it, and the next run resumes", "[distributed]") {
  const fs::path dir = setup("kill", 400);
  const std::string err = (dir / "stderr.txt").string();
  // Once a few steps are logged, SIGKILL rank 1 (the launcher's child whose environment says RANK=1).
  const pid_t launcher = start_two_ranks(dir, "");
  const pid_t victim = child_rank(launcher, 1);
  REQUIRE(victim > 0);
  const auto killed = std::chrono::steady_clock::now();
  ::kill(victim, SIGKILL);
  int status = 0;
  ::waitpid(launcher, &status, 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  INFO(r1::read_file(err));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(secs < 15);
  CHECK(r1::read_file(err).find("rank 1 was killed by signal 9") != std::string::npos);
  // No half checkpoint is the latest; the stage is marked running, so the next run resumes it.
  CHECK(r1::read_file((dir / "runs/dp/s/stage.json").string()).find("\"running\"") != std::string::npos);
  const Result again = run_r1(dir, "--threads 1 run recipe.json --runs-dir runs --set s.steps=400");
  INFO(again.err);
  CHECK(again.code == 0);
  CHECK(again.err.find("resum") != std::string::npos);
  CHECK(metrics(dir / "runs").back()["step"] == 400);
}

TEST_CASE("distributed: Ctrl-C to the launcher stops every rank after the same step, with its checkpoint, and the next run resumes",
          "[distributed]") {
  const fs::path dir = setup("sigint", 400);
  const std::string err = (dir / "stderr.txt").string();
  const pid_t launcher = start_two_ranks(dir, "");
  ::kill(launcher, SIGINT);  // the ranks lead groups of their own: a terminal's Ctrl-C reaches the launcher alone
  int status = 0;
  ::waitpid(launcher, &status, 0);
  const std::string text = r1::read_file(err);
  INFO(text);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  CHECK(text.find("stopped by SIGINT: every rank has stopped") != std::string::npos);
  const auto rows = metrics(dir / "runs");
  REQUIRE(!rows.empty());
  const int done = rows.back()["step"].get<int>();
  CHECK(done < 400);
  CHECK(text.find("stopped by SIGTERM after step " + std::to_string(done) + " of 400") != std::string::npos);
  char step[32];
  std::snprintf(step, sizeof step, "step-%06d", done);
  CHECK(fs::exists(dir / "runs/dp/s/checkpoints" / step / "trainer_state.json"));
  CHECK(r1::read_file((dir / "runs/dp/s/stage.json").string()).find("\"running\"") != std::string::npos);
  const Result again = run_r1(dir, "--threads 1 run recipe.json --runs-dir runs");  // the same command, one rank
  INFO(again.err);
  CHECK(again.code == 0);
  CHECK(again.err.find("resuming from") != std::string::npos);
  CHECK(metrics(dir / "runs").size() == 400);
}

TEST_CASE("distributed: a rank that hangs fails the job after the collective timeout, naming the call", "[distributed]") {
  const fs::path dir = setup("hang", 20000);
  const std::string err = (dir / "stderr.txt").string();
  const pid_t launcher = start_two_ranks(dir, "--collective-timeout 4");
  const pid_t victim = child_rank(launcher, 1);
  REQUIRE(victim > 0);
  const auto stopped = std::chrono::steady_clock::now();
  ::kill(victim, SIGSTOP);  // alive, holding its sockets open, answering nothing
  int status = 0;
  ::waitpid(launcher, &status, 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
  const std::string text = r1::read_file(err);
  INFO(text);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK(secs > 3);
  CHECK(secs < 30);  // 4 s of timeout, then the launcher's grace for the stopped rank
  CHECK(text.find("rank 0 of 2") != std::string::npos);
  CHECK(text.find("the timeout is 4 s") != std::string::npos);
}

TEST_CASE("distributed: ranks with different plans, an unreachable master and a second writer are refused", "[distributed]") {
  const fs::path dir = setup("refuse", 20000);  // long enough to be running while the second writer tries
  // Two ranks started by hand (torchrun's variables) with different --set edits.
  const std::string port = std::to_string(r1::run::free_local_port());
  const std::string vars = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port;
  const std::string cmd0 = "cd " + dir.string() + " && RANK=0 " + vars + " " + R1_BINARY +
                           " --threads 1 run recipe.json --runs-dir mismatch --collective-timeout 30 2> rank0.txt > /dev/null &";
  REQUIRE(std::system(cmd0.c_str()) == 0);
  const Result r1b = run_r1(dir, "--threads 1 run recipe.json --runs-dir mismatch --collective-timeout 30 --set s.steps=7",
                        "RANK=1 " + vars);
  CHECK(r1b.code != 0);
  CHECK(r1b.err.find("planned different runs") != std::string::npos);
  // Rank 0 fails the same check and exits by itself.

  // A rank whose master never comes: one line naming it, after the timeout.
  const auto t0 = std::chrono::steady_clock::now();
  const Result lonely = run_r1(dir, "--threads 1 run recipe.json --runs-dir lonely --collective-timeout 3",
                           "RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(r1::run::free_local_port()));
  CHECK(lonely.code != 0);
  CHECK(lonely.err.find("no rendezvous at 127.0.0.1") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));

  // Rows per step that the ranks cannot share equally.
  const Result uneven = run_r1(dir, "--threads 1 run recipe.json --runs-dir uneven --nproc-per-node 3");
  CHECK(uneven.code != 0);
  CHECK(uneven.err.find("multiple of the 3 ranks") != std::string::npos);

  // A second r1 run on a run folder another one is writing.
  const std::string first = "cd " + dir.string() + " && exec " + R1_BINARY +
                            " --threads 1 run recipe.json --runs-dir busy 2> first.txt > /dev/null & echo $! > " + (dir / "first.pid").string();
  REQUIRE(std::system(first.c_str()) == 0);
  const auto t1 = std::chrono::steady_clock::now();
  while (!fs::exists(dir / "busy/dp/s/metrics.jsonl") && std::chrono::steady_clock::now() - t1 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const Result second = run_r1(dir, "--threads 1 run recipe.json --runs-dir busy");
  CHECK(second.code != 0);
  CHECK(second.err.find("another r1 run (pid") != std::string::npos);
  const pid_t first_pid = std::atoi(r1::read_file((dir / "first.pid").string()).c_str());
  REQUIRE(first_pid > 0);
  CHECK(::kill(first_pid, 0) == 0);  // still running: the refusal was the lock's, not a finished run's
  ::kill(first_pid, SIGKILL);
}

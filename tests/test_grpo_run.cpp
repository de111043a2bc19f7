// The GRPO loop end to end, as users run it: `r1 run recipes/r1-zero-qwen.json` on a tiny random
// Qwen2 checkpoint, with real rollout worker processes over gRPC. What a run leaves behind, that a
// resumed run continues exactly, and what bad input and a dying worker get.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/grpo_run_helpers.h"

namespace fs = std::filesystem;

namespace {

struct Dir : r1::test::Dir {
  explicit Dir(const std::string& name) : r1::test::Dir("r1-grpo-", name) {}
};
using r1::test::recipe_command;
using r1::test::rows;
using r1::test::run_recipe;
using r1::test::Setup;
using r1::test::slurp;

}  // namespace

TEST_CASE("r1 run: a GRPO run leaves metrics, rollouts, checkpoints, TensorBoard, a model, a summary and a plot", "[grpo-run]") {
  Setup s("outputs");
  std::string err;
  REQUIRE(run_recipe(s, "full", {"zero.steps=3", "zero.checkpoint.every=2", "zero.minibatches=2",
                                 "zero.rollout.max_staleness=1"}, &err) == 0);
  const std::string run = s.dir / "runs/full/zero";
  auto metrics = rows(run + "/metrics.jsonl");
  REQUIRE(metrics.size() == 3);
  for (const auto& m : metrics)
    for (const char* key : {"reward", "rewards", "accuracy", "format_rate", "response_length", "kl", "clip_fraction",
                            "entropy", "importance", "grad_norm", "lr", "throughput", "time", "loss"})
      CHECK(m.contains(key));
  CHECK(metrics[2]["step"] == 3);
  CHECK(metrics[0]["time"].contains("weight_sync_s"));
  // The first push goes whole to every worker, the next ones as deltas against it.
  const auto& first = metrics[0]["weight_sync"];
  const int workers = first["workers_full"].get<int>();
  CHECK(workers >= 1);
  CHECK(first["workers_delta"] == 0);
  CHECK(first["bytes_sent"].get<uint64_t>() == workers * first["full_bytes"].get<uint64_t>());
  for (int i : {1, 2}) {
    CHECK(metrics[i]["weight_sync"]["workers_delta"] == workers);
    CHECK(metrics[i]["weight_sync"]["bytes_sent"].get<uint64_t>() <= workers * first["full_bytes"].get<uint64_t>());
  }
  CHECK(metrics[0]["rewards"].contains("accuracy"));
  CHECK(metrics[0]["rewards"].contains("format"));

  // Every sample of every step, once: 3 steps x 2 prompts x 4 samples.
  auto rollouts = rows(run + "/rollouts.jsonl");
  REQUIRE(rollouts.size() == 24);
  std::set<std::string> seen;
  for (const auto& r : rollouts) {
    for (const char* key : {"prompt", "completion", "reward", "components", "advantage", "policy_version", "step"})
      CHECK(r.contains(key));
    CHECK(r["prompt"].get<std::string>().find("A conversation between User and Assistant") == 0);
    seen.insert(std::to_string(r["step"].get<int>()) + ":" + std::to_string(r["row"].get<int>()) + ":" +
                std::to_string(r["sample"].get<int>()));
  }
  CHECK(seen.size() == 24);
  // Advantages of a group sum to zero.
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += rollouts[i]["advantage"].get<double>();
  CHECK(std::abs(sum) < 1e-6);

  // Checkpoints: Hugging Face layout + optimiser + state; step 2 and the last one.
  for (const char* step : {"step-000002", "step-000003"}) {
    const fs::path c = fs::path(run) / "checkpoints" / step;
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "optimizer.pt", "trainer_state.json"})
      CHECK(fs::exists(c / f));
    CHECK(fs::exists(c / "reference" / "model.safetensors"));  // beta > 0
  }
  auto state = nlohmann::json::parse(slurp(run + "/checkpoints/step-000003/trainer_state.json"));
  CHECK(state["step"] == 3);
  CHECK(state["dataset"]["index"].get<int>() >= 6);
  CHECK(fs::exists(run + "/model/model.safetensors"));
  CHECK(fs::exists(run + "/plot.svg"));
  CHECK(slurp(run + "/plot.svg").find("<svg") != std::string::npos);
  bool events = false;
  for (const auto& e : fs::directory_iterator(run + "/tensorboard"))
    events |= e.path().filename().string().rfind("events.out.tfevents.", 0) == 0 && fs::file_size(e.path()) > 100;
  CHECK(events);
  auto summary = nlohmann::json::parse(slurp(run + "/summary.json"));
  CHECK(summary["steps"] == 3);
  for (const char* k : {"base", "final"})
    for (const char* f : {"accuracy", "format_rate", "mean_response_tokens"}) CHECK(summary[k].contains(f));
  CHECK(summary["final"]["samples"] == 4);
  // The final model generates.
  const std::string gen = std::string(R1_BINARY) + " -q generate --model " + run + "/model --prompt 'Compute 1 + 2' --max-new-tokens 4 > /dev/null";
  CHECK(std::system(gen.c_str()) == 0);
}

TEST_CASE("r1 run --resume: the steps after the checkpoint give the uninterrupted run's losses", "[grpo-run]") {
  Setup s("resume");
  // fp32 workers and one of them: sampling is then exactly reproducible from the seeds.
  const std::vector<std::string> common = {"zero.rollout.precision=fp32", "zero.rollout.workers=1",
                                           "zero.checkpoint.every=2", "zero.checkpoint.keep_last=5"};
  auto with = [&](std::vector<std::string> more) {
    more.insert(more.end(), common.begin(), common.end());
    return more;
  };
  REQUIRE(run_recipe(s, "straight", with({"zero.steps=4"})) == 0);
  // The interrupted run: it stops after step 2's checkpoint, then resumes to step 4.
  REQUIRE(run_recipe(s, "broken", with({"zero.steps=2"})) == 0);
  REQUIRE(run_recipe(s, "broken", with({"zero.steps=4"}), nullptr, "--resume") == 0);
  auto a = rows(s.dir / "runs/straight/zero/metrics.jsonl");
  auto b = rows(s.dir / "runs/broken/zero/metrics.jsonl");
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);  // the resumed run replaced nothing before its checkpoint and wrote steps 3, 4
  for (size_t i = 0; i < 4; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["step"] == a[i]["step"]);
    // The same prompts, samples and rewards, exactly; the loss to 1e-5. A worker batches the groups as
    // they arrive, so on a busy machine its float sums (and the log-probs it reports, which the
    // importance weights use) differ in the last bits, and this loss, a near-cancelling sum of ~1e-6,
    // inherits ~1e-6 of that (seen under ctest -j2: 2.8e-6 against 6.0e-7).
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).margin(1e-5));
    CHECK(b[i]["reward"]["mean"].get<double>() == Approx(a[i]["reward"]["mean"].get<double>()).margin(1e-9));
    CHECK(b[i]["response_length"]["mean"].get<double>() == a[i]["response_length"]["mean"].get<double>());
  }
  CHECK(b[3]["loss"].get<double>() != 0.0);
  // rollouts.jsonl ends at the checkpoint too: the interrupted run's rows are not there twice.
  const auto ra = rows(s.dir / "runs/straight/zero/rollouts.jsonl");
  const auto rb = rows(s.dir / "runs/broken/zero/rollouts.jsonl");
  CHECK(rb.size() == ra.size());
  for (size_t i = 0; i < std::min(ra.size(), rb.size()); ++i) CHECK(rb[i]["step"] == ra[i]["step"]);
  // The summary of the resumed run carries the base evaluation it read back, field for field.
  const auto base = nlohmann::json::parse(slurp(s.dir / "runs/broken/zero/base_eval.json"));
  const auto summary = nlohmann::json::parse(slurp(s.dir / "runs/broken/zero/summary.json"));
  CHECK(summary["base"] == base);
  CHECK(summary["base"] == nlohmann::json::parse(slurp(s.dir / "runs/straight/zero/summary.json"))["base"]);
  CHECK(base["samples"] == 4);
}

TEST_CASE("r1 run: a rerun whose new input is broken fails before it moves the stage's results aside", "[grpo-run]") {
  Setup s("badrerun");
  REQUIRE(run_recipe(s, "keep", {"zero.steps=1"}) == 0);
  const fs::path stage = s.dir / "runs/keep/zero";
  // A truncated copy of the model: its safetensors header promises more bytes than the file holds.
  const fs::path broken = std::string(s.dir / "broken-model");
  fs::copy(s.model, broken);
  fs::resize_file(broken / "model.safetensors", fs::file_size(broken / "model.safetensors") / 2);
  std::string err;
  CHECK(run_recipe(s, "keep", {"zero.steps=1", "zero.model=" + broken.string()}, &err) != 0);
  CHECK(err.find("stage 'zero': model: ") != std::string::npos);
  CHECK(err.find("model.safetensors") != std::string::npos);
  CHECK_FALSE(fs::exists(s.dir / "runs/keep/zero.replaced-1"));  // the finished results stay where they were
  CHECK(nlohmann::json::parse(slurp(stage / "stage.json"))["status"] == "done");
  CHECK(fs::exists(stage / "model/model.safetensors"));
  // A missing training file is refused the same way.
  CHECK(run_recipe(s, "keep", {"zero.steps=1", "zero.train=" + (s.dir / "nope.jsonl")}, &err) != 0);
  CHECK(err.find("stage 'zero': train: ") != std::string::npos);
  CHECK_FALSE(fs::exists(s.dir / "runs/keep/zero.replaced-1"));
}

TEST_CASE("r1 run: a disk too full for a checkpoint costs that checkpoint, one line, and the run goes on", "[grpo-run]") {
  Setup s("diskfull");
  // Files may grow to 500 KB: the model (~360 KB) fits, its optimiser state (~730 KB) does not. A
  // write past the limit fails as on a full disk; the signal it would raise is ignored, as ENOSPC
  // raises none.
  std::string err;
  const int status = run_recipe(s, "full", {"zero.steps=2", "zero.checkpoint.every=1"}, &err, "",
                                R1_SOURCE_DIR "/recipes/r1-zero-qwen.json", "trap '' XFSZ; prlimit --fsize=512000");
  INFO(err);
  CHECK(status == 0);  // it aborted with LibTorch's stack trace (134)
  CHECK(err.find("checkpoint of step 1 not written, the previous one stays") != std::string::npos);
  CHECK(err.find("cannot write the optimiser state") != std::string::npos);
  const fs::path stage = s.dir / "runs/full/zero";
  for (const auto& entry : fs::directory_iterator(stage / "checkpoints"))
    CHECK(entry.path().filename().string().find(".partial") == std::string::npos);
  CHECK(fs::exists(stage / "model/model.safetensors"));
  CHECK(rows(stage / "metrics.jsonl").size() == 2);
}

TEST_CASE("r1 run: a rollout worker killed mid-run, its groups are retried and the run goes on", "[grpo-run]") {
  Setup s("fault");
  std::atomic<bool> killed{false};
  std::thread killer([&] {
    // Once the first step is done, kill one worker (a child of the trainer running `rollout serve`).
    const std::string metrics = s.dir / "runs/fault/zero/metrics.jsonl";
    for (int i = 0; i < 600 && !killed; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!fs::exists(metrics) || slurp(metrics).empty()) continue;
      for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string cmdline = slurp((e.path() / "cmdline").string());
        // argv is NUL-separated: "...\0rollout\0serve\0..." is a worker, not the trainer (whose
        // --set arguments also mention "rollout").
        if (cmdline.find(std::string("rollout\0serve", 13)) != std::string::npos &&
            cmdline.find(s.dir.path.string()) != std::string::npos) {
          ::kill(std::stoi(e.path().filename().string()), SIGKILL);
          killed = true;
          break;
        }
      }
    }
  });
  std::string err;
  const int status = run_recipe(s, "fault", {"zero.steps=5", "zero.rollout.workers=2", "zero.sampling.max_new_tokens=24"}, &err);
  killed = true;
  killer.join();
  REQUIRE(status == 0);
  auto metrics = rows(s.dir / "runs/fault/zero/metrics.jsonl");
  CHECK(metrics.size() == 5);
  auto rollouts = rows(s.dir / "runs/fault/zero/rollouts.jsonl");
  std::set<std::string> seen;
  for (const auto& r : rollouts)
    seen.insert(std::to_string(r["step"].get<int>()) + ":" + std::to_string(r["row"].get<int>()) + ":" + std::to_string(r["sample"].get<int>()));
  CHECK(rollouts.size() == 5 * 2 * 4);  // none lost, none twice
  CHECK(seen.size() == rollouts.size());
  CHECK(killed);
}

TEST_CASE("r1 run: recipe typos, bad overrides and malformed datasets get one clear line", "[grpo-run]") {
  Setup s("errors");
  std::string err;
  CHECK(run_recipe(s, "typo", {"zero.stepz=3"}, &err) != 0);
  CHECK(err.find("stepz") != std::string::npos);
  CHECK(err.find("did you mean 'steps'") != std::string::npos);
  CHECK(run_recipe(s, "typo2", {"zero.rollout.precison=fp8"}, &err) != 0);
  CHECK(err.find("precision") != std::string::npos);
  CHECK(run_recipe(s, "nostage", {"zeta.steps=3"}, &err) != 0);
  CHECK(err.find("no stage named 'zeta'") != std::string::npos);
  CHECK(run_recipe(s, "badval", {"zero.clip.low=1.5"}, &err) != 0);
  CHECK(err.find("clip") != std::string::npos);
  // Sampling settings a worker would refuse are refused by the recipe check, before any worker starts.
  CHECK(run_recipe(s, "badtemp", {"zero.sampling.temperature=-1"}, &err) != 0);
  CHECK(err.find("(zero).sampling.temperature: must be a number >= 0") != std::string::npos);
  CHECK(run_recipe(s, "badtopp", {"zero.sampling.top_p=2"}, &err) != 0);
  CHECK(err.find("(zero).sampling.top_p: must be in (0, 1]") != std::string::npos);
  CHECK(run_recipe(s, "badeval", {"zero.eval.temperature=-0.5"}, &err) != 0);
  CHECK(err.find("(zero).eval.temperature: must be a number >= 0") != std::string::npos);

  {
    std::ofstream out(s.data, std::ios::app);
    out << "{\"prompt\": \"Compute 1 + 1\", \"answer\": \n";  // line 13: malformed
  }
  CHECK(run_recipe(s, "badline", {"zero.steps=1"}, &err) != 0);
  CHECK(err.find("train.jsonl:13") != std::string::npos);
  CHECK(run_recipe(s, "skipline", {"zero.steps=1", "zero.on_bad_line=skip"}, &err) == 0);
  CHECK(err.find("train.jsonl:13") != std::string::npos);  // still reported
  CHECK(run_recipe(s, "nomodel", {"zero.model=/nonexistent/model"}, &err) != 0);
  CHECK(err.find("/nonexistent/model") != std::string::npos);
}

TEST_CASE("r1 run: a prompt too long for the model's context is named at load, or left out and counted", "[grpo-run]") {
  Setup s("longprompt");
  {
    std::ofstream out(s.data, std::ios::app);
    out << "{\"prompt\": \"" << std::string(5000, '7') << "\", \"answer\": \"7\"}\n";  // line 13
  }
  std::string err;
  CHECK(run_recipe(s, "stop", {"zero.steps=1"}, &err) != 0);
  CHECK(err.find("train.jsonl:13: its prompt is ") != std::string::npos);
  CHECK(err.find("does not fit the model's context") != std::string::npos);
  CHECK(err.find("leave no room") == std::string::npos);  // not from a worker, mid-run
  // Skipped: every step runs (the long row is never drawn), and the row is counted once.
  CHECK(run_recipe(s, "skip", {"zero.steps=3", "zero.on_bad_line=skip", "zero.eval.data=" + s.data}, &err) == 0);
  CHECK(err.find("train.jsonl:13: its prompt is ") != std::string::npos);
  CHECK(err.find("1 rows left out") != std::string::npos);
  CHECK(rows(s.dir / "runs/skip/zero/metrics.jsonl").size() == 3);
}

TEST_CASE("r1 run: SIGINT stops after the step in progress, with its checkpoint, and the same command resumes",
          "[grpo-run]") {
  Setup s("sigint");
  // Checkpoints only at the end: the one the stop leaves is the stop's own.
  const std::vector<std::string> edits = {"zero.steps=20", "zero.checkpoint.every=0"};
  const std::string cmd = "exec " + recipe_command(s, "stopped", edits) + " > " + (s.dir / "first.out") + " 2> " +
                          (s.dir / "first.err");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const fs::path metrics = s.dir / "runs/stopped/zero/metrics.jsonl";
  for (int i = 0; i < 600 && (!fs::exists(metrics) || rows(metrics).size() < 2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(rows(metrics).size() >= 2);
  REQUIRE(::kill(pid, SIGINT) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  const std::string err = slurp(s.dir / "first.err");
  INFO(err);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);  // 128 + SIGINT, as a shell reports a command Ctrl-C stopped
  const size_t done = rows(metrics).size();
  CHECK(done < 20);
  CHECK(err.find("stopped by SIGINT after step " + std::to_string(done) + " of 20") != std::string::npos);
  CHECK(err.find("run the same command again to resume") != std::string::npos);
  char name[32];
  std::snprintf(name, sizeof name, "step-%06zu", done);
  CHECK(fs::exists(fs::path(s.dir / "runs/stopped/zero/checkpoints") / name / "trainer_state.json"));
  CHECK(nlohmann::json::parse(slurp(s.dir / "runs/stopped/zero/stage.json"))["status"] == "running");
  // The same command again: it resumes after that step and finishes.
  std::string again;
  REQUIRE(run_recipe(s, "stopped", edits, &again) == 0);
  const auto all = rows(metrics);
  REQUIRE(all.size() == 20);
  for (size_t i = 0; i < all.size(); ++i) CHECK(all[i]["step"] == static_cast<int>(i + 1));
  CHECK(nlohmann::json::parse(slurp(s.dir / "runs/stopped/zero/stage.json"))["status"] == "done");
}

TEST_CASE("recipes: rejection sampling through real workers feeds an sft stage", "[grpo_run][rejection]") {
  Setup s("reject");
  {
    std::ofstream out(s.dir / "chat.jsonl");
    out << R"({"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]})" << "\n";
    out << R"({"prompt": "Capital of France?", "completion": "Paris"})" << "\n";
    out << R"({"prompt": "no completion here"})" << "\n";
    out << R"({"prompt": "2 + 2", "completion": "4"})" << "\n";
  }
  const nlohmann::json recipe = {
      {"name", "reject"},
      {"stages",
       {{{"name", "select"}, {"kind", "rejection-sample"}, {"model", s.model}, {"prompts", s.data}, {"template", "chatml"},
         {"samples_per_prompt", 4}, {"keep_per_prompt", 2}, {"on_bad_line", "skip"},
         {"sampling", {{"temperature", 1.0}, {"max_new_tokens", 12}}},
         {"rewards", {{{"kind", "math"}, {"name", "accuracy"}, {"extraction", {"answer_tag"}}}}},
         {"filters", {{"require_correct", false}, {"min_language_fraction", 0}, {"max_repeated_ngrams", 1}}},
         {"passthrough", s.dir / "chat.jsonl"},
         {"rollout", {{"workers", 2}, {"precision", "fp32"}, {"kv_cache_mb", 4}}}},
        {{"name", "tune"}, {"kind", "sft"}, {"model", s.model}, {"train", "@select/sft.jsonl"}, {"seq_len", 64},
         {"batch_tokens", 128}, {"steps", 3}}}}};
  const std::string path = s.dir / "reject.json";
  std::ofstream(path) << recipe.dump(2);
  const std::string cmd = std::string(R1_BINARY) + " --threads 1 run " + path + " --runs-dir " + (s.dir / "runs") + " > " +
                          (s.dir / "out") + " 2> " + (s.dir / "err");
  REQUIRE(std::system(cmd.c_str()) == 0);
  INFO(slurp(s.dir / "err"));
  const auto summary = nlohmann::json::parse(slurp(s.dir / "runs/reject/select/summary.json"));
  CHECK(summary["prompts"] == 12);
  CHECK(summary["samples"] == 48);
  CHECK(summary["kept"] == 24);  // every sample passes these lenient filters; 2 of each prompt's 4 are kept
  CHECK(summary["rejected"]["enough kept for this prompt"] == 24);
  CHECK(summary["passthrough"] == 3);  // the malformed passthrough line is skipped, as asked
  const auto sft = rows(s.dir / "runs/reject/select/sft.jsonl");
  REQUIRE(sft.size() == 27);
  for (size_t i = 0; i < sft.size(); ++i) {
    INFO(sft[i].dump());
    CHECK(sft[i]["source"] == (i < 24 ? "rejection" : "passthrough"));
    if (i < 24) {
      REQUIRE(sft[i]["messages"].size() == 2);
      CHECK(sft[i]["messages"][0]["role"] == "user");
      CHECK(sft[i]["messages"][1]["role"] == "assistant");
      CHECK(sft[i].contains("answer"));  // the prompt row's reference fields travel along
    }
  }
  CHECK(rows(s.dir / "runs/reject/select/samples.jsonl").size() == 48);
  // The sft stage trained on that set.
  const auto tuned = nlohmann::json::parse(slurp(s.dir / "runs/reject/tune/summary.json"));
  CHECK(tuned["examples"] == 27);
  CHECK(tuned["steps"] == 3);
  CHECK(fs::exists(s.dir / "runs/reject/tune/model/model.safetensors"));

  // Asking for correct answers from a random model leaves nothing: a clear error, not an empty SFT set.
  const std::string strict = std::string(R1_BINARY) + " --threads 1 run " + path + " --runs-dir " + (s.dir / "runs") +
                             " --name strict --set select.filters.require_correct=true --set 'select.passthrough=\"\"' > " +
                             (s.dir / "out2") + " 2> " + (s.dir / "err2");
  CHECK(std::system(strict.c_str()) != 0);
  CHECK(slurp(s.dir / "err2").find("no sample passed the filters") != std::string::npos);
}

TEST_CASE("r1 run --nproc-per-node 2: GRPO on two ranks gives the one-process run's losses and rewards", "[grpo-run][distributed]") {
  Setup s("ranks");
  // fp32 workers and one of them: sampling is then exactly reproducible from the seeds, so both runs
  // train on the same groups; rank 0 collects them, each rank backpropagates half of every minibatch.
  // A reward that varies on a random model's text (the share of its words in English), so advantages are
  // not all zero; fp32 products, so the two runs' sums differ only in order; two minibatches (groups are
  // trained in dataset-row order, not the order they finished in, so both runs split them alike) and
  // μ = 2, so π_old comes from a pass of its own.
  const std::vector<std::string> common = {"zero.rollout.precision=fp32", "zero.rollout.workers=1", "zero.steps=4",
                                           "zero.minibatches=2", "zero.iterations=2", "zero.compute_dtype=fp32",
                                           "zero.sampling.max_new_tokens=16",
                                           R"(zero.rewards=[{"kind": "language", "name": "accuracy"}])"};
  REQUIRE(run_recipe(s, "one", common) == 0);
  std::string err;
  const int code = run_recipe(s, "two", common, &err, "--nproc-per-node 2");
  INFO(err);
  REQUIRE(code == 0);
  auto a = rows(s.dir / "runs/one/zero/metrics.jsonl");
  auto b = rows(s.dir / "runs/two/zero/metrics.jsonl");
  REQUIRE(a.size() == 4);
  REQUIRE(b.size() == 4);  // rank 0 alone writes
  for (size_t i = 0; i < 4; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["world_size"] == 2);
    CHECK(b[i]["reward"]["mean"].get<double>() == Approx(a[i]["reward"]["mean"].get<double>()).margin(1e-9));
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5).margin(1e-7));
    CHECK(b[i]["grad_norm"].get<double>() == Approx(a[i]["grad_norm"].get<double>()).epsilon(1e-4));
    CHECK(b[i]["kl"].get<double>() == Approx(a[i]["kl"].get<double>()).epsilon(1e-4).margin(1e-9));
  }
  CHECK(fs::exists(s.dir / "runs/two/zero/model/model.safetensors"));
  CHECK(slurp(s.dir / "runs/two/zero/stage.json").find("\"done\"") != std::string::npos);
  // ZeRO-2: AdamW's moments and the gradients partitioned over the two ranks, the same losses.
  std::vector<std::string> partitioned = common;
  partitioned.push_back("zero.optim.zero_stage=2");
  REQUIRE(run_recipe(s, "two-zero", partitioned, &err, "--nproc-per-node 2") == 0);
  auto z = rows(s.dir / "runs/two-zero/zero/metrics.jsonl");
  REQUIRE(z.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("zero-2, step " << i + 1);
    CHECK(z[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5).margin(1e-7));
    CHECK(z[i]["grad_norm"].get<double>() == Approx(a[i]["grad_norm"].get<double>()).epsilon(1e-4));
    CHECK(z[i]["optimizer_state_mb"].size() == 2);
    REQUIRE(z[i]["gradient_mb"].size() == 2);
    CHECK(z[i]["gradient_mb"][0].get<double>() + z[i]["gradient_mb"][1].get<double>() ==
          Approx(b[i]["gradient_mb"][0].get<double>()).epsilon(1e-6));
  }
}

TEST_CASE("r1 run on two nodes through torchrun's variables: the second node's workers join rank 0's pool",
          "[grpo-run][distributed]") {
  Setup s("nodes");
  // fp32 workers: sampling is reproducible from the seeds whichever worker draws a group, so one
  // process with one worker and two nodes with one worker each train on the same groups.
  const std::vector<std::string> common = {"zero.rollout.precision=fp32", "zero.rollout.workers=1", "zero.steps=3",
                                           "zero.compute_dtype=fp32", "zero.sampling.max_new_tokens=16",
                                           R"(zero.rewards=[{"kind": "language", "name": "accuracy"}])"};
  REQUIRE(run_recipe(s, "one", common) == 0);
  // Node 1 in the background, node 0 here: one rank each, as `torchrun --nnodes 2 --nproc-per-node 1` sets them.
  const std::string vars = "WORLD_SIZE=2 LOCAL_RANK=0 LOCAL_WORLD_SIZE=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                           std::to_string(r1::test::free_port());
  const std::string node1 = "(" + recipe_command(s, "two", common, "", R1_SOURCE_DIR "/recipes/r1-zero-qwen.json",
                                                 "RANK=1 GROUP_RANK=1 " + vars) +
                            " > /dev/null 2> " + (s.dir / "node1.err") + "; echo $? > " + (s.dir / "node1.status") + ") &";
  REQUIRE(std::system(node1.c_str()) == 0);
  std::string err;
  const int code = run_recipe(s, "two", common, &err, "", R1_SOURCE_DIR "/recipes/r1-zero-qwen.json", "RANK=0 GROUP_RANK=0 " + vars);
  INFO(err);
  REQUIRE(code == 0);
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(s.dir / "node1.status") && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string node1_err = slurp(s.dir / "node1.err");
  INFO(node1_err);
  CHECK(slurp(s.dir / "node1.status") == "0\n");
  CHECK(node1_err.find("1 worker on this node for the controller: 127.0.0.1:") != std::string::npos);
  CHECK(err.find("1 local worker and 1 on the other nodes") != std::string::npos);
  auto a = rows(s.dir / "runs/one/zero/metrics.jsonl");
  auto b = rows(s.dir / "runs/two/zero/metrics.jsonl");
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["world_size"] == 2);
    CHECK(b[i]["reward"]["mean"].get<double>() == Approx(a[i]["reward"]["mean"].get<double>()).margin(1e-9));
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5).margin(1e-7));
    // Both nodes' workers took every weight update.
    const auto& sync = b[i]["weight_sync"];
    CHECK(sync["workers_full"].get<int>() + sync["workers_delta"].get<int>() == 2);
  }
  // No worker outlives the job ("[r]" keeps the pattern from matching the shell that runs pgrep).
  CHECK(std::system(("pgrep -f '[r]ollout serve.*" + s.model + "' > /dev/null").c_str()) != 0);
}

TEST_CASE("r1 run: a colocated engine samples what one fp32 worker samples, with no worker process", "[grpo-run][colocate]") {
  Setup s("colocate");
  // fp32 rollouts from one worker: sampling is exactly reproducible from the seeds, so the colocated
  // engine (the same engine in the trainer's process, fed the policy's tensors where they lie) must
  // draw the same completions, and the run the same rewards and losses.
  const std::vector<std::string> common = {"zero.rollout.precision=fp32", "zero.rollout.workers=1", "zero.steps=3",
                                           "zero.compute_dtype=fp32", "zero.sampling.max_new_tokens=16",
                                           R"(zero.rewards=[{"kind": "language", "name": "accuracy"}])"};
  REQUIRE(run_recipe(s, "workers", common) == 0);
  std::vector<std::string> colocated = common;
  colocated.push_back("zero.rollout.colocate=true");
  std::string err;
  const int code = run_recipe(s, "colocated", colocated, &err);
  INFO(err);
  REQUIRE(code == 0);
  CHECK(err.find("colocated engine on cpu") != std::string::npos);
  auto a = rows(s.dir / "runs/workers/zero/metrics.jsonl");
  auto b = rows(s.dir / "runs/colocated/zero/metrics.jsonl");
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    INFO("step " << i + 1);
    CHECK(b[i]["reward"]["mean"].get<double>() == Approx(a[i]["reward"]["mean"].get<double>()).margin(1e-9));
    CHECK(b[i]["response_length"]["mean"].get<double>() == a[i]["response_length"]["mean"].get<double>());
    CHECK(b[i]["loss"].get<double>() == Approx(a[i]["loss"].get<double>()).epsilon(1e-5).margin(1e-7));
  }
  // The same completions, sample for sample.
  auto ra = rows(s.dir / "runs/workers/zero/rollouts.jsonl"), rb = rows(s.dir / "runs/colocated/zero/rollouts.jsonl");
  REQUIRE(ra.size() == rb.size());
  std::multiset<std::string> ta, tb;
  for (size_t i = 0; i < ra.size(); ++i) {
    ta.insert(ra[i]["completion"].dump());
    tb.insert(rb[i]["completion"].dump());
  }
  CHECK(ta == tb);
  // Remote addresses and a colocated engine exclude each other; an eval stage cannot colocate.
  std::vector<std::string> both = colocated;
  both.push_back(R"(zero.rollout.addresses=["127.0.0.1:1"])");
  CHECK(run_recipe(s, "both", both, &err) != 0);
  CHECK(err.find("rollout.colocate: a colocated engine and remote workers (addresses) exclude each other") != std::string::npos);
}

TEST_CASE("r1 run: a stage that runs out of memory is one line naming the stage and the knobs", "[grpo-run][device]") {
  Dir dir("oom");
  // A base model whose MLP alone would need ~10^15 bytes: the allocator refuses it at once.
  const std::string cmd = std::string(R1_BINARY) + " --threads 1 run " R1_SOURCE_DIR "/recipes/r1-zero-tiny.json --runs-dir " +
                          (dir / "runs") + " --set base.documents=50 --set base.train_problems=10 --set base.heldout_problems=5" +
                          " --set base.model.intermediate_size=1000000000000 2> " + (dir / "err");
  const int status = std::system(cmd.c_str());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  const std::string err = slurp(dir / "err");
  INFO(err);
  CHECK(err.find("r1: error: stage 'base' (pretrain-synthetic): out of memory: ") != std::string::npos);
  CHECK(err.find("turn down train.batch_rows or train.seq_len, or set train.activation_checkpointing") != std::string::npos);
  CHECK(err.find("frame #") == std::string::npos);  // no C++ backtrace
}

TEST_CASE("r1 run: at a sampling temperature != 1 the trainer scores the tempered distribution the workers sampled",
          "[grpo-run]") {
  Setup s("temperature");
  // An fp32 worker samples from softmax(logits / 0.7) and reports those log-probs; the trainer's π_old
  // of the same (starting) weights must be the same numbers, so every truncated-importance weight of
  // the first step is 1 (scored at T = 1, their mean was 1.011 and the largest 1.17). The second step's
  // samples come from the first step's policy (the recipe's max_staleness is 1), so its weights may not.
  std::string err;
  const int code = run_recipe(s, "tempered", {"zero.rollout.precision=fp32", "zero.rollout.workers=1", "zero.steps=2",
                                               "zero.compute_dtype=fp32", "zero.sampling.temperature=0.7",
                                               "zero.sampling.max_new_tokens=16",
                                               R"(zero.rewards=[{"kind": "language", "name": "accuracy"}])"}, &err);
  INFO(err);
  REQUIRE(code == 0);
  auto m = rows(s.dir / "runs/tempered/zero/metrics.jsonl");
  REQUIRE(m.size() == 2);
  CHECK(m[0]["importance"]["weight_mean"].get<double>() == Approx(1.0).margin(1e-5));
  CHECK(m[0]["importance"]["weight_max"].get<double>() == Approx(1.0).margin(1e-5));
}

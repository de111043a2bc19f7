// The GRPO runs of the end-to-end tests: a tiny random Qwen2 checkpoint and a small arithmetic
// dataset in a scratch folder, and `r1 run recipes/r1-zero-qwen.json` on them with a test's edits.
#pragma once

#include <sys/wait.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "tests/run_helpers.h"

namespace r1::test {

// A tiny random Qwen2 checkpoint (r1's byte-level tokenizer) and a small arithmetic dataset.
struct Setup {
  Dir dir;
  std::string model, data;
  explicit Setup(const std::string& name, const std::string& prefix = "r1-grpo-")
      : dir(prefix, name), model(dir / "model"), data(dir / "train.jsonl") {
    const std::string cmd = std::string(R1_BINARY) + " -q model init --arch qwen2 --preset tiny --seed 1 --dtype fp32 --out " + model;
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ofstream out(data);
    for (int i = 0; i < 12; ++i)
      out << "{\"prompt\": \"Compute " << i << " + " << 2 * i << "\", \"answer\": \"" << 3 * i << "\"}\n";
  }
};

// The shell command of `r1 run` on `recipe` with the setup's edits and `edits`, under `env` (VAR=value ...).
inline std::string recipe_command(const Setup& s, const std::string& name, const std::vector<std::string>& edits,
                           const std::string& extra = "", const std::string& recipe = R1_SOURCE_DIR "/recipes/r1-zero-qwen.json",
                           const std::string& env = "") {
  std::string cmd = env + " " + std::string(R1_BINARY) + " --threads 1 run " + recipe + " --runs-dir " + (s.dir / "runs") +
                    " --name " + name + " " + extra;
  std::vector<std::string> all = {"zero.model=" + s.model, "zero.train=" + s.data, "zero.eval.data=" + s.data,
                                  "zero.eval.limit=4", "zero.prompts_per_step=2", "zero.group_size=4",
                                  "zero.sampling.max_new_tokens=6", "zero.eval.max_new_tokens=6",
                                  "zero.rollout.kv_cache_mb=4", "zero.rollout.threads_per_worker=1", "zero.minibatches=1",
                                  "zero.micro_batch_tokens=64", "zero.optim.lr=0.001", "zero.optim.warmup_steps=0"};
  all.insert(all.end(), edits.begin(), edits.end());
  for (const auto& e : all) cmd += " --set '" + e + "'";
  return cmd;
}

// Runs `r1 run` on the Qwen recipe with the test's edits; returns the exit status, stderr in *err.
inline int run_recipe(const Setup& s, const std::string& name, const std::vector<std::string>& edits, std::string* err = nullptr,
               const std::string& extra = "", const std::string& recipe = R1_SOURCE_DIR "/recipes/r1-zero-qwen.json",
               const std::string& env = "") {
  std::string cmd = recipe_command(s, name, edits, extra, recipe, env);
  const std::string err_path = s.dir / (name + ".err");
  cmd += " > " + (s.dir / (name + ".out")) + " 2> " + err_path;
  const int status = std::system(cmd.c_str());
  if (err) *err = slurp(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace r1::test

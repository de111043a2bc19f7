// r1 run RECIPE: runs a recipe's stages (trainer/recipe.h), from the LibTorch module; with
// --nproc-per-node N, as N local ranks of one data-parallel job (run/local_ranks.h).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "cli/command.h"
#include "cli/torch_module.h"
#include "core/error.h"
#include "run/launch.h"
#include "run/local_ranks.h"

namespace r1::cli {

namespace {

// This process's own argv, as the kernel has it, minus the launcher's option: what each rank runs.
std::vector<std::string> args_for_ranks() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  for (size_t i = 0; i < all.size();) {
    const size_t end = all.find('\0', i);
    argv.push_back(all.substr(i, end - i));
    if (end == std::string::npos) break;
    i = end + 1;
  }
  std::vector<std::string> args;
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == "--nproc-per-node") {
      ++i;
      continue;
    }
    if (argv[i].rfind("--nproc-per-node=", 0) == 0) continue;
    args.push_back(argv[i]);
  }
  return args;
}

void launch_local_ranks(int nproc) {
  if (run::read_launch().distributed())
    throw ConfigError("--nproc-per-node: this process is already a rank of a job (RANK/WORLD_SIZE or srun are set)");
  run::LocalRanks job;
  job.exe = std::filesystem::read_symlink("/proc/self/exe").string();
  job.args = args_for_ranks();
  job.nproc = nproc;
  // The cores shared out, unless --threads says otherwise (it then applies to each rank).
  if (global_options().threads == 0)
    job.threads_per_rank = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / nproc);
  run::run_local_ranks(job);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunRecipeOptions>();
  auto nproc = std::make_shared<int>(1);
  auto* run = app.add_subcommand(
      "run",
      "Run a recipe (recipes/*.json): its stages in order (pretrain-synthetic, sft, grpo, rejection-sample, distill, eval) with metrics, "
      "rollouts, checkpoints and a summary under the runs folder");
  run->add_option("recipe", o->recipe, "Recipe file (JSON)")->required()->check(CLI::ExistingFile);
  run->add_option("--runs-dir", o->runs_dir, "Where runs and the stage cache live")->capture_default_str();
  run->add_option("--name", o->name, "Run name (default: the recipe's \"name\")");
  run->add_flag("--resume", o->resume, "Also resume stage folders written before stage.json existed (interrupted stages resume by themselves)");
  run->add_option("--from", o->from, "Run this stage and every later one again, even if finished");
  run->add_option("--set", o->overrides, "Edit the recipe before it runs: stage.key=value (JSON value or text), repeatable");
  run->add_flag("--dry-run", o->dry_run, "Print the stages, their folders and what will run, resume or is cached; run nothing");
  run->add_option("--nproc-per-node", *nproc,
                  "Run as N local ranks of one data-parallel job (sft and distill split each batch; other stages run on "
                  "rank 0). Under torchrun or srun, leave it out: their variables are read")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  run->add_option("--collective-timeout", o->collective_timeout_s,
                  "Seconds a rank waits for the others in a collective before the job fails (a rank died or hung)")
      ->check(CLI::Range(1, 7 * 24 * 3600))
      ->capture_default_str();
  run->callback([o, nproc] {
    if (*nproc > 1 && !o->dry_run) return launch_local_ranks(*nproc);
    RunRecipeOptions options = *o;
    options.launch = run::read_launch();
    torch_commands().run_recipe(torch_context(), options);
  });
}

}  // namespace r1::cli

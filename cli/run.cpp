// r1 run RECIPE: runs a recipe's stages (trainer/recipe.h), from the LibTorch module.
#include <CLI/CLI.hpp>

#include "cli/command.h"
#include "cli/torch_module.h"

namespace r1::cli {

void add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunRecipeOptions>();
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
  run->callback([o] { torch_commands().run_recipe(torch_context(), *o); });
}

}  // namespace r1::cli

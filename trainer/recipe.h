// Running a recipe (docs/recipes.md): `r1 run RECIPE`. The plan — every stage read and checked, its
// folder, content hash and whether it runs, resumes or is cached — is run/recipe_plan.h's (recipes,
// "@stage" references, $inputs, --set edits and the cache are described there). This part prints
// the plan and runs it: for each stage that runs, its old folder set aside (<stage>.replaced-N, never
// deleted) unless it resumes, stage.json written "running", the kind's run function (trainer/stages.h),
// stage.json "done". A cached kind (pretrain-synthetic) is made in <folder>.partial and renamed when
// whole, so an interrupted one is redone, never half-used.
#pragma once

#include <string>
#include <vector>

#include "rewards/reward_set.h"
#include "run/launch.h"

namespace r1::trainer {

struct RecipeRun {
  std::string recipe;          // path of the JSON file
  std::string runs_dir = "runs";
  std::string name;            // overrides the recipe's name (its run folder)
  bool resume = false;         // also resume stage folders that predate stage.json (interrupted stages resume anyway)
  std::string from;            // run this stage and every later one again, even if finished
  bool dry_run = false;        // print the stages, their folders and what is cached; run nothing
  int threads = 0;
  std::string r1_binary;       // for the rollout workers
  // "stage.key.sub=value" edits applied to the recipe before it runs (value: JSON, or else a string):
  // `--set zero.model=/models/qwen --set zero.steps=100`.
  std::vector<std::string> overrides;
  // What the stages' rewards use from outside (the sandbox for "code"), made by the caller.
  rewards::RewardServices reward_services;
  // Where this process stands in a multi-process job (torchrun, Slurm, --nproc-per-node), and how long
  // a collective may wait for the other ranks before the job is declared broken.
  run::Launch launch;
  int collective_timeout_s = 1800;
};

// Plans the recipe, prints the plan (one line per stage) and, unless dry_run, runs it.
//
// In a job of N ranks every rank runs this: each plans, the ranks check that their plans agree (the
// same recipe, overrides and folder state; a mismatch is refused before anything runs, naming the
// ranks), rank 0 alone prints, locks the run folder (run/run_lock.h) and writes stage.json files;
// data-parallel kinds (sft, distill) run on every rank, the others on rank 0 while the rest wait.
void run_recipe(const RecipeRun& run);

}  // namespace r1::trainer

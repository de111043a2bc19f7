// Recipes (docs/recipes.md): JSON files users run with `r1 run`. A recipe is a list of named stages,
// each of a kind, run in order; a stage's inputs name earlier stages' outputs as "@stage/path":
//
//   {"name": "r1-zero-tiny",
//    "stages": [{"name": "base", "kind": "pretrain-synthetic", ...},
//               {"name": "zero", "kind": "grpo", "model": "@base/model", "train": "@base/train.jsonl", ...}]}
//
// A recipe may name its user-supplied files once, at the top, and use them as "$name" in stages:
//   {"inputs": {"base": "models/Qwen2.5-1.5B", "prompts": "data/math.jsonl"}, "stages": [... "model": "$base" ...]}
// (`--set inputs.base=/models/x` edits one). Stages see the values: content hashes follow them.
//
// Outputs go under the runs folder: runs/<recipe name>/<stage>/ for training stages; the
// pretrain-synthetic stage's output is cached by the content hash of its configuration in
// runs/cache/, so every recipe and rerun with the same base reuses it.
//
// Every stage has a content hash: its configuration as written and the hashes of the stages it reads
// ("@stage/..."). A training stage's folder holds stage.json {"kind", "hash", "status": "running" |
// "done"}. On a rerun, a finished stage with the same hash is skipped; an interrupted one with the same
// hash resumes from its last checkpoint; one whose hash changed (or that --from names, or that reads a
// stage that runs again) runs again, and its old folder is moved aside to <stage>.replaced-N.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "rewards/reward_set.h"

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
};

// Applies one "stage.key.sub=value" edit to a recipe's JSON ("inputs.name=value" edits an input);
// errors name the edit.
void apply_override(nlohmann::json& recipe, const std::string& edit);
// Replaces every stage string "$name" or "$name/sub/path" with the recipe's "inputs" value (a path
// joined with sub/path): a recipe names its user-supplied models and datasets once, at the top.
void substitute_inputs(nlohmann::json& recipe, const std::string& source);

void run_recipe(const RecipeRun& run);

// A stable 64-bit hash (FNV-1a) of text, as 16 hex digits: content keys for the stage cache.
std::string content_hash(const std::string& text);

}  // namespace r1::trainer

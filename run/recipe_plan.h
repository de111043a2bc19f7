// Planning a recipe (docs/recipes.md): what each stage of `r1 run RECIPE` will do, decided before any
// runs, and without running anything. A recipe is a list of named stages, each of a kind, run in
// order; a stage's inputs name earlier stages' outputs as "@stage/path":
//
//   {"name": "r1-zero-tiny",
//    "stages": [{"name": "base", "kind": "pretrain-synthetic", ...},
//               {"name": "zero", "kind": "grpo", "model": "@base/model", "train": "@base/train.jsonl", ...}]}
//
// A recipe may name its user-supplied files once, at the top, and use them as "$name" in stages:
//   {"inputs": {"base": "models/Qwen2.5-1.5B", "prompts": "data/math.jsonl"}, "stages": [... "model": "$base" ...]}
// (`--set inputs.base=/models/x` edits one). Stages see the values: content hashes follow them.
//
// Outputs go under the runs folder: runs/<recipe name>/<stage>/ for training stages; a kind kept in
// the shared cache (pretrain-synthetic) goes to runs/cache/<prefix><hash>/, its hash that of its
// identity, so every recipe and rerun with the same base reuses it.
//
// Every stage has a content hash: its configuration as written and the hashes of the stages it reads
// ("@stage/..."). A training stage's folder holds stage.json {"kind", "hash", "status": "running" |
// "done"}. The plan says, for each stage:
//   cached  finished with the same hash (a cached kind: its stage.json has the same identity)
//   resume  interrupted (status "running") with the same hash; or a folder without stage.json, with --resume
//   run     the rest: new; another hash ("configuration or inputs changed: runs again"); named by
//           --from or after it ("--from: runs again"); or reading a stage that is not cached ("its input 'x'
//           runs again"). A training stage's unreadable stage.json counts as another configuration's;
//           a cached kind's is refused naming the file.
// Running the plan is trainer/recipe.h's.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "rewards/reward_set.h"
#include "run/stage.h"

namespace r1::run {

// Applies one "stage.key.sub=value" edit to a recipe's JSON ("inputs.name=value" edits an input);
// the value is JSON, or else a string. Errors name the edit.
void apply_override(nlohmann::json& recipe, const std::string& edit);
// Replaces every stage string "$name" or "$name/sub/path" with the recipe's "inputs" value (a path
// joined with sub/path): a recipe names its user-supplied models and datasets once, at the top.
void substitute_inputs(nlohmann::json& recipe, const std::string& source);
// The recipe file as its stages see it: read, edited by `overrides` in order, its $inputs substituted.
nlohmann::json load_recipe(const std::string& path, const std::vector<std::string>& overrides);

// A stable 64-bit hash (FNV-1a) of text, as 16 hex digits: content keys for the stage cache.
std::string content_hash(const std::string& text);

// Replaces "@stage/rest" strings anywhere in `j` with the stage's output folder joined with rest;
// `outputs` maps the earlier stages' names to their folders. Adds each stage named to `used`.
// An unknown stage is refused naming `where` and the key.
void resolve_stage_refs(nlohmann::json& j, const std::map<std::string, std::string>& outputs, const std::string& where,
                        std::set<std::string>* used);

struct PlanOptions {
  std::string source;          // the recipe's path: prefixes errors
  std::string runs_dir = "runs";
  std::string name;            // overrides the recipe's name (its run folder)
  std::string from;            // run this stage and every later one again, even if finished
  bool resume = false;         // also resume stage folders that predate stage.json
  rewards::RewardServices reward_services;  // to build (check) the stages' reward sets
};

enum class StageAction { kRun, kCached, kResume };

struct PlannedStage {
  std::string name, kind;
  std::string dir;                   // its output folder
  std::string hash;                  // its content hash
  StageAction action = StageAction::kRun;
  std::string note;                  // why, for the printed plan ("" when plain)
  bool in_cache = false;             // kept in runs/cache/ (made whole or not at all) rather than the run folder
  StageConfig config;                // as its kind read it, with "@stage/..." resolved
  nlohmann::json resolved;           // the stage's JSON with "@stage/..." replaced by folders
  std::set<std::string> reads;       // the earlier stages it names ("@stage/...")
};

struct Plan {
  std::string name;                  // the run folder's name
  std::string dir;                   // runs_dir/name
  std::vector<PlannedStage> stages;  // in recipe order
};

// Plans `recipe` (as load_recipe returns it): reads and checks every stage with `kinds`' read
// functions and decides each one's action from the stage.json files under options.runs_dir. Runs
// nothing and writes nothing. Errors (a stage without name or kind, a second stage of one name, an
// unknown kind or key, "@x" naming no earlier stage, --from naming no stage) name the recipe and stage.
Plan plan_recipe(const nlohmann::json& recipe, const PlanOptions& options, const std::vector<StageKind>& kinds);

// One line of the printed plan: "stage NAME KIND FOLDER  (cached|resume)  note".
std::string plan_line(const PlannedStage& stage);

}  // namespace r1::run

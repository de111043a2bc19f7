// The one interface every recipe stage has (docs/recipes.md). A kind of stage is one entry of a
// table, StageKind: its name in recipes, how its keys are read and checked, and how it runs. Reading
// is separate from running so that a recipe is planned whole (every stage's keys checked, its reward
// sets built, the pretrain cache looked up: run/recipe_plan.h) before its first stage runs.
//
// This half has no LibTorch: the configurations and the read functions of every kind. The table with
// each kind's run function is trainer/stages.h's (the training loops are LibTorch), and it is handed
// to the planner, which uses only the read side.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

#include "rewards/reward_set.h"
#include "run/collective.h"
#include "run/eval_stage.h"
#include "run/grpo_config.h"
#include "run/pretrain_config.h"
#include "run/rejection_sample.h"
#include "run/sft_config.h"

namespace r1 {
class ConfigReader;
}

namespace r1::run {

// distill is SFT of a smaller student ("model") on a teacher's samples; "teacher" names the teacher's
// model, checked to be larger when the stage runs (its config.json may not exist before then).
struct DistillConfig {
  std::string teacher;
  SftConfig sft;
};

// A stage's configuration, whichever its kind.
using StageConfig =
    std::variant<PretrainConfig, SftConfig, DistillConfig, GrpoConfig, RejectionSampleConfig, EvalStageConfig>;

// What a stage's run function gets: its configuration (the kind's own alternative of StageConfig),
// its output folder and how the recipe runs.
struct StageContext {
  const StageConfig& config;
  std::string name;                         // the stage's name in the recipe
  std::string dir;                          // its output folder (created by the caller)
  bool resume = false;                      // continue from the folder's latest checkpoint
  int threads = 0;                          // LibTorch threads (0: one per core)
  std::string r1_binary;                    // starts the rollout workers
  rewards::RewardServices reward_services;  // what rewards use from outside (the sandbox for "code")
  Collective* group = nullptr;              // the job's ranks, for a data-parallel kind (null: one process)
};

struct StageKind {
  std::string name;  // as recipes write "kind"
  // Reads the stage's keys (all but "name" and "kind", which the planner has read) and refuses
  // unknown ones; reward sets are built with `services` once here, so a bad one is refused before
  // any stage runs. Errors start with the reader's path.
  StageConfig (*read)(ConfigReader& r, const rewards::RewardServices& services);
  // Runs the stage into context.dir (trainer/stages.h; null in a table made only to plan).
  void (*run)(const StageContext& context) = nullptr;
  // A kind kept in the shared cache rather than under the recipe's run folder (pretrain-synthetic):
  // its folder is runs/cache/<cache_prefix><hash>/, the hash that of the JSON cache_identity returns
  // (everything that decides the output), so every recipe with the same one reuses it. Null for the
  // others.
  std::string cache_prefix;
  nlohmann::json (*cache_identity)(const StageConfig& config) = nullptr;
  // Runs on every rank of a multi-process job, splitting each step's batch (sft, distill). The other
  // kinds run on rank 0 while the other ranks wait.
  bool data_parallel = false;
};

// The read side of each kind, for the table in trainer/stages.h (and the planner's tests).
StageConfig read_pretrain_stage(ConfigReader& r, const rewards::RewardServices& services);
StageConfig read_sft_stage(ConfigReader& r, const rewards::RewardServices& services);
StageConfig read_distill_stage(ConfigReader& r, const rewards::RewardServices& services);
StageConfig read_grpo_stage(ConfigReader& r, const rewards::RewardServices& services);
StageConfig read_rejection_sample_stage(ConfigReader& r, const rewards::RewardServices& services);
StageConfig read_eval_stage(ConfigReader& r, const rewards::RewardServices& services);
nlohmann::json pretrain_identity(const StageConfig& config);

}  // namespace r1::run

// Running a recipe's plan: see recipe.h.
#include "trainer/recipe.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "run/recipe_plan.h"
#include "trainer/stages.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {

const run::StageKind& kind_of(const run::PlannedStage& p) {
  for (const run::StageKind& k : stage_kinds())
    if (k.name == p.kind) return k;
  throw Error("recipe: no stage kind '" + p.kind + "'");  // the planner read it from the same table
}

run::StageContext context_for(const run::PlannedStage& p, const std::string& dir, bool resume, const RecipeRun& run) {
  return {p.config, p.name, dir, resume, run.threads, run.r1_binary, run.reward_services};
}

// A cached kind is made whole or not at all: built in a .partial folder, renamed when done.
void run_cached_stage(const run::PlannedStage& p, const RecipeRun& run) {
  fs::remove_all(p.dir);
  const std::string tmp = p.dir + ".partial";
  fs::remove_all(tmp);
  kind_of(p).run(context_for(p, tmp, false, run));
  fs::rename(tmp, p.dir);
}

// Another configuration's results in the stage's folder: kept beside it, never deleted.
void set_aside(const run::PlannedStage& p) {
  std::string aside = p.dir + ".replaced-1";
  for (int k = 2; fs::exists(aside); ++k) aside = p.dir + ".replaced-" + std::to_string(k);
  fs::rename(p.dir, aside);
  log::warn() << p.dir << ": the earlier results of stage '" << p.name << "' moved to " << aside;
}

void write_state(const run::PlannedStage& p, const char* status) {
  write_file_atomic((fs::path(p.dir) / "stage.json").string(),
                    nlohmann::json{{"kind", p.kind}, {"hash", p.hash}, {"status", status}}.dump(2) + "\n");
}

// A training stage: stage.json says "running" while it runs, so an interruption resumes next time.
void run_stage(const run::PlannedStage& p, const RecipeRun& run) {
  const bool resume = p.action == run::StageAction::kResume;
  if (!resume && fs::exists(p.dir)) set_aside(p);
  fs::create_directories(p.dir);
  write_state(p, "running");
  kind_of(p).run(context_for(p, p.dir, resume, run));
  write_state(p, "done");
}

}  // namespace

void run_recipe(const RecipeRun& run) {
  run::PlanOptions options;
  options.source = run.recipe;
  options.runs_dir = run.runs_dir;
  options.name = run.name;
  options.from = run.from;
  options.resume = run.resume;
  options.reward_services = run.reward_services;
  const run::Plan plan = run::plan_recipe(run::load_recipe(run.recipe, run.overrides), options, stage_kinds());
  for (const run::PlannedStage& p : plan.stages) std::printf("%s\n", run::plan_line(p).c_str());
  std::fflush(stdout);
  if (run.dry_run) return;
  for (const run::PlannedStage& p : plan.stages) {
    if (p.action == run::StageAction::kCached) continue;
    if (p.in_cache) run_cached_stage(p, run);
    else run_stage(p, run);
  }
}

}  // namespace r1::trainer

// Running a recipe's plan: see recipe.h.
#include "trainer/recipe.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "run/recipe_plan.h"
#include "run/run_lock.h"
#include "run/stage_inputs.h"
#include "trainer/distributed.h"
#include "trainer/stages.h"

namespace fs = std::filesystem;

namespace r1::trainer {

namespace {

const run::StageKind& kind_of(const run::PlannedStage& p) {
  for (const run::StageKind& k : stage_kinds())
    if (k.name == p.kind) return k;
  throw Error("recipe: no stage kind '" + p.kind + "'");  // the planner read it from the same table
}

run::StageContext context_for(const run::PlannedStage& p, const std::string& dir, bool resume, const RecipeRun& run,
                              run::Collective* group = nullptr) {
  return {p.config, p.name, dir, resume, run.threads, run.r1_binary, run.reward_services, group};
}

// What to turn down when a stage of `kind` runs out of memory.
std::string memory_knobs(const std::string& kind) {
  if (kind == "grpo")
    return "micro_batch_tokens, rollout.kv_cache_mb or prompts_per_step x group_size, or set activation_checkpointing";
  if (kind == "sft" || kind == "distill") return "micro_batch_tokens or seq_len, or set activation_checkpointing";
  if (kind == "pretrain-synthetic") return "train.batch_rows or train.seq_len, or set train.activation_checkpointing";
  return "rollout.kv_cache_mb";
}

bool out_of_memory(const c10::Error& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e)) return true;  // a GPU's allocator
  const std::string what = e.what();
  for (const char* sign : {"not enough memory", "can't allocate memory", "out of memory"})  // the CPU's
    if (what.find(sign) != std::string::npos) return true;
  return false;
}

// Runs the stage's kind. LibTorch's out-of-memory (a screenful of C++ frames) becomes one line naming
// the stage, the device's message and the knobs to turn down; the stage's checkpoints stay, so the same
// command with a smaller setting resumes it.
void run_kind(const run::PlannedStage& p, const run::StageContext& context) {
  try {
    kind_of(p).run(context);
  } catch (const c10::Error& e) {
    if (!out_of_memory(e)) throw;
    throw Error("stage '" + p.name + "' (" + p.kind + "): out of memory: " + e.what_without_backtrace() +
                "; turn down " + memory_knobs(p.kind) + ", then run the same command again to resume");
  }
}

// A cached kind is made whole or not at all: built in a .partial folder, renamed when done.
void run_cached_stage(const run::PlannedStage& p, const RecipeRun& run) {
  run::check_stage_inputs(p.name, p.config);
  fs::remove_all(p.dir);
  const std::string tmp = p.dir + ".partial";
  fs::remove_all(tmp);
  run_kind(p, context_for(p, tmp, false, run));
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
  run::check_stage_inputs(p.name, p.config);  // before the folder is touched: a bad input moves nothing aside
  if (!resume && fs::exists(p.dir)) set_aside(p);
  fs::create_directories(p.dir);
  write_state(p, "running");
  run_kind(p, context_for(p, p.dir, resume, run));
  write_state(p, "done");
}

// A data-parallel stage in a job of several ranks: rank 0 prepares its folder, every rank trains,
// rank 0 marks it done once all have finished. A cached kind is made by rank 0 in <folder>.partial
// (renamed when whole); the other ranks write what they must into scratch folders of their own.
void run_stage_on_all_ranks(const run::PlannedStage& p, const RecipeRun& run, run::Collective& group) {
  const bool resume = p.action == run::StageAction::kResume;
  run::check_stage_inputs(p.name, p.config);  // on every rank (the same inputs): all stop together
  const std::string scratch = p.dir + ".rank-" + std::to_string(group.rank());
  std::string dir = p.dir;
  if (p.in_cache) dir = group.leader() ? p.dir + ".partial" : scratch;
  if (group.leader()) {
    if (p.in_cache) fs::remove_all(p.dir);
    else if (!resume && fs::exists(p.dir)) set_aside(p);
  }
  if (p.in_cache) fs::remove_all(dir);
  fs::create_directories(dir);
  if (group.leader() && !p.in_cache) write_state(p, "running");
  group.barrier("before stage " + p.name);
  run_kind(p, context_for(p, dir, resume, run, &group));
  group.barrier("after stage " + p.name);
  if (!p.in_cache) {
    if (group.leader()) write_state(p, "done");
  } else if (group.leader()) {
    fs::rename(dir, p.dir);
  } else {
    fs::remove_all(scratch);
  }
}

// A stage of a kind that runs on one process; in a job, rank 0 runs it and the others wait for its
// outcome (a failure on rank 0 ends them too, with its message).
void run_stage_on_leader(const run::PlannedStage& p, const RecipeRun& run, run::Collective& group) {
  std::string outcome = "ok";
  if (group.leader()) {
    try {
      if (p.in_cache) run_cached_stage(p, run);
      else run_stage(p, run);
    } catch (const std::exception& e) {
      group.share_from_leader("stage/" + p.name, std::string("failed: ") + e.what());
      throw;
    }
  }
  outcome = group.share_from_leader("stage/" + p.name, outcome);
  if (outcome != "ok") throw Error("stage '" + p.name + "' failed on rank 0: " + outcome.substr(8));
}

// The ranks' plans must agree: the same recipe, overrides and folder state on every rank.
void check_plans_agree(const run::Plan& plan, run::Collective& group) {
  std::string all;
  for (const run::PlannedStage& p : plan.stages) all += run::plan_line(p) + "|" + p.hash + "\n";
  const std::vector<uint64_t> hashes = group.all_gather(std::hash<std::string>{}(all));
  std::string differ;
  for (size_t r = 1; r < hashes.size(); ++r)
    if (hashes[r] != hashes[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw Error("recipe: the ranks planned different runs (ranks " + differ + " differ from rank 0): every rank must "
                "get the same recipe, --set edits and run folder");
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
  const std::shared_ptr<run::Collective> group =
      run.dry_run ? std::make_shared<run::SingleProcess>()
                  : join_process_group(run.launch, std::chrono::seconds(run.collective_timeout_s));
  check_plans_agree(plan, *group);
  if (group->leader()) {
    for (const run::PlannedStage& p : plan.stages) std::printf("%s\n", run::plan_line(p).c_str());
    std::fflush(stdout);
  }
  if (run.dry_run) return;
  std::optional<run::RunLock> lock;
  if (group->leader()) lock.emplace(plan.dir);
  for (const run::PlannedStage& p : plan.stages) {
    if (p.action == run::StageAction::kCached) continue;
    if (group->world_size() > 1 && kind_of(p).data_parallel) run_stage_on_all_ranks(p, run, *group);
    else if (group->world_size() > 1) run_stage_on_leader(p, run, *group);
    else if (p.in_cache) run_cached_stage(p, run);
    else run_stage(p, run);
  }
}

}  // namespace r1::trainer

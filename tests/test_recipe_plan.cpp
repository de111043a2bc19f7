// The recipe planner (run/recipe_plan.h) alone: what each stage will do, from the recipe and the
// stage.json files on disk, with nothing run. Also the recipe edits it starts from (--set, $inputs).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "run/recipe_plan.h"
#include "run/stage.h"
#include "tests/run_helpers.h"

namespace fs = std::filesystem;
using namespace r1::run;
using r1::test::Dir;

namespace {

// The kinds' read side, as trainer/stages.h's table has it; nothing here runs.
const std::vector<r1::run::StageKind>& kinds() {
  static const std::vector<r1::run::StageKind> k = {
      {"pretrain-synthetic", r1::run::read_pretrain_stage, nullptr, "pretrain-", r1::run::pretrain_identity},
      {"sft", r1::run::read_sft_stage, nullptr, "", nullptr},
      {"grpo", r1::run::read_grpo_stage, nullptr, "", nullptr},
      {"rejection-sample", r1::run::read_rejection_sample_stage, nullptr, "", nullptr},
      {"distill", r1::run::read_distill_stage, nullptr, "", nullptr},
      {"eval", r1::run::read_eval_stage, nullptr, "", nullptr},
  };
  return k;
}

nlohmann::json sft(const std::string& name, const std::string& model) {
  return {{"name", name}, {"kind", "sft"}, {"model", model}, {"train", "data/train.jsonl"}, {"steps", 4}};
}

// Three stages: first (from a user's model), second (reads first), third (reads the user's model).
nlohmann::json three() {
  return {{"name", "r"}, {"stages", {sft("first", "models/m"), sft("second", "@first/model"), sft("third", "models/m")}}};
}

struct Planner {
  static inline int made = 0;
  Dir dir{"r1-plan-", std::to_string(++made)};
  r1::run::PlanOptions options;
  Planner() {
    options.source = "r.json";
    options.runs_dir = dir / "runs";
  }
  r1::run::Plan plan(const nlohmann::json& recipe) const { return r1::run::plan_recipe(recipe, options, kinds()); }
  void state(const r1::run::PlannedStage& s, const nlohmann::json& j) const {
    fs::create_directories(s.dir);
    std::ofstream(fs::path(s.dir) / "stage.json") << j.dump();
  }
  void finished(const r1::run::PlannedStage& s, const std::string& status = "done") const {
    state(s, {{"kind", s.kind}, {"hash", s.hash}, {"status", status}});
  }
};

std::vector<r1::run::StageAction> actions(const r1::run::Plan& p) {
  std::vector<r1::run::StageAction> a;
  for (const auto& s : p.stages) a.push_back(s.action);
  return a;
}

constexpr auto kRun = r1::run::StageAction::kRun;
constexpr auto kCached = r1::run::StageAction::kCached;
constexpr auto kResume = r1::run::StageAction::kResume;

}  // namespace

TEST_CASE("recipe plan: a fresh run runs every stage, in folders under runs/<name>/, with @refs resolved", "[recipe]") {
  Planner t;
  const r1::run::Plan p = t.plan(three());
  CHECK(p.name == "r");
  CHECK(p.dir == t.dir / "runs/r");
  REQUIRE(p.stages.size() == 3);
  CHECK(actions(p) == std::vector{kRun, kRun, kRun});
  for (const auto& s : p.stages) {
    CHECK(s.note.empty());
    CHECK(s.dir == t.dir / ("runs/r/" + s.name));
    CHECK(s.hash.size() == 16);
    CHECK(!s.in_cache);
  }
  CHECK(p.stages[1].resolved["model"] == t.dir / "runs/r/first/model");
  CHECK(std::get<r1::run::SftConfig>(p.stages[1].config).model == t.dir / "runs/r/first/model");
  CHECK(p.stages[1].reads == std::set<std::string>{"first"});
  CHECK(p.stages[0].reads.empty());
  // The hash is the stage as written plus its inputs' hashes: third differs from first only by name.
  CHECK(p.stages[0].hash != p.stages[2].hash);

  r1::run::PlanOptions named = t.options;
  named.name = "other";
  CHECK(r1::run::plan_recipe(three(), named, kinds()).stages[0].dir == t.dir / "runs/other/first");
  CHECK(r1::run::plan_line(p.stages[0]) == "stage first        sft                  " + t.dir / "runs/r/first");
  CHECK(!fs::exists(t.dir / "runs"));  // planning writes nothing
}

TEST_CASE("recipe plan: finished stages are cached, interrupted ones resume, changed ones run again", "[recipe]") {
  Planner t;
  const r1::run::Plan fresh = t.plan(three());
  for (const auto& s : fresh.stages) t.finished(s);
  const r1::run::Plan again = t.plan(three());
  CHECK(actions(again) == std::vector{kCached, kCached, kCached});
  CHECK(r1::run::plan_line(again.stages[0]) == "stage first        sft                  " + t.dir / "runs/r/first  (cached)");

  t.finished(fresh.stages[2], "running");
  const r1::run::Plan interrupted = t.plan(three());
  CHECK(actions(interrupted) == std::vector{kCached, kCached, kResume});
  CHECK(interrupted.stages[2].note == "interrupted: resumes from its last checkpoint");
  CHECK(r1::run::plan_line(interrupted.stages[2]) ==
        "stage third        sft                  " + t.dir / "runs/r/third  (resume)  interrupted: resumes from its last checkpoint");

  // A changed key changes the stage's hash and, through it, the hash of every stage reading it.
  nlohmann::json edited = three();
  r1::run::apply_override(edited, "first.steps=5");
  const r1::run::Plan changed = t.plan(edited);
  CHECK(actions(changed) == std::vector{kRun, kRun, kResume});
  CHECK(changed.stages[0].note == "configuration or inputs changed: runs again");
  CHECK(changed.stages[1].note == "configuration or inputs changed: runs again");
  CHECK(changed.stages[1].hash != fresh.stages[1].hash);
}

TEST_CASE("recipe plan: --from reruns that stage and every later one, an unknown one is refused", "[recipe]") {
  Planner t;
  for (const auto& s : t.plan(three()).stages) t.finished(s);
  t.options.from = "second";
  const r1::run::Plan p = t.plan(three());
  CHECK(actions(p) == std::vector{kCached, kRun, kRun});
  CHECK(p.stages[1].note == "--from: runs again");
  CHECK(p.stages[2].note == "--from: runs again");
  t.options.from = "fourth";
  CHECK_THROWS_WITH(t.plan(three()), "--from fourth: the recipe has no stage named 'fourth'");
}

TEST_CASE("recipe plan: a stage reading a stage that runs again runs again", "[recipe]") {
  Planner t;
  const r1::run::Plan fresh = t.plan(three());
  for (const auto& s : fresh.stages) t.finished(s);
  t.finished(fresh.stages[0], "running");  // first resumes: second, reading it, cannot stay cached
  const r1::run::Plan p = t.plan(three());
  CHECK(actions(p) == std::vector{kResume, kRun, kCached});
  CHECK(p.stages[1].note == "its input 'first' runs again");
}

TEST_CASE("recipe plan: folders without stage.json run, or resume with --resume", "[recipe]") {
  Planner t;
  const r1::run::Plan fresh = t.plan(three());
  fs::create_directories(fresh.stages[2].dir);
  CHECK(actions(t.plan(three())) == std::vector{kRun, kRun, kRun});
  t.options.resume = true;
  const r1::run::Plan p = t.plan(three());
  CHECK(actions(p) == std::vector{kRun, kRun, kResume});
  CHECK(p.stages[2].note == "resumes (--resume)");
}

TEST_CASE("recipe plan: an unreadable stage.json counts as another configuration's", "[recipe]") {
  Planner t;
  const r1::run::Plan fresh = t.plan(three());
  fs::create_directories(fresh.stages[0].dir);
  std::ofstream(fs::path(fresh.stages[0].dir) / "stage.json") << "{not json";
  const r1::run::Plan p = t.plan(three());
  CHECK(p.stages[0].action == kRun);
  CHECK(p.stages[0].note == "configuration or inputs changed: runs again");
}

TEST_CASE("recipe plan: pretrain-synthetic is cached in runs/cache/ by its identity, shared across recipes", "[recipe][pretrain]") {
  Planner t;
  const nlohmann::json base = {{"name", "base"}, {"kind", "pretrain-synthetic"}, {"documents", 100}};
  const nlohmann::json recipe = {{"name", "a"}, {"stages", {base, sft("tune", "@base/model")}}};
  const r1::run::Plan p = t.plan(recipe);
  const r1::run::PlannedStage& b = p.stages[0];
  CHECK(b.in_cache);
  const nlohmann::json identity = std::get<r1::run::PretrainConfig>(b.config).identity();
  CHECK(b.hash == r1::run::content_hash(identity.dump()));
  CHECK(b.dir == t.dir / ("runs/cache/pretrain-" + b.hash));
  CHECK(p.stages[1].resolved["model"] == b.dir + "/model");

  // Another recipe, another stage name, a comment key: the same identity, the same folder.
  nlohmann::json other_base = base;
  other_base["name"] = "foundation";
  other_base["_why"] = "shared";
  const nlohmann::json other = {{"name", "b"}, {"stages", {other_base}}};
  CHECK(t.plan(other).stages[0].dir == b.dir);

  t.state(b, {{"kind", "pretrain-synthetic"}, {"identity", identity}});
  CHECK(t.plan(recipe).stages[0].action == kCached);
  CHECK(t.plan(other).stages[0].action == kCached);
  // A stage.json of another identity (written by hand, say) is made again.
  t.state(b, {{"kind", "pretrain-synthetic"}, {"identity", {{"documents", 1}}}});
  CHECK(t.plan(recipe).stages[0].action == kRun);
  CHECK(t.plan(recipe).stages[0].note.empty());

  // Unlike a training stage's, an unreadable one is refused naming it (it is written only when whole).
  std::ofstream(fs::path(b.dir) / "stage.json") << "{not json";
  CHECK_THROWS_WITH(t.plan(recipe), Catch::Contains(b.dir + "/stage.json"));

  nlohmann::json more = recipe;
  r1::run::apply_override(more, "base.documents=200");
  CHECK(t.plan(more).stages[0].dir != b.dir);
}

TEST_CASE("recipe plan: errors name the recipe and the stage", "[recipe]") {
  Planner t;
  nlohmann::json dup = three();
  dup["stages"][2]["name"] = "first";
  CHECK_THROWS_WITH(t.plan(dup), "r.json: stages[2]: a second stage named 'first'");
  nlohmann::json ref = three();
  ref["stages"][1]["model"] = "@frist/model";
  CHECK_THROWS_WITH(t.plan(ref), "r.json: stages[1].model: '@frist/model' names no earlier stage 'frist'");
  nlohmann::json later = three();
  later["stages"][0]["model"] = "@third/model";  // only earlier stages can be read
  CHECK_THROWS_WITH(t.plan(later), Catch::Contains("names no earlier stage 'third'"));
  nlohmann::json nameless = three();
  nameless["stages"][1].erase("kind");
  CHECK_THROWS_WITH(t.plan(nameless), "r.json: stages[1]: needs \"name\" and \"kind\"");
  nlohmann::json kind = three();
  kind["stages"][1]["kind"] = "sfft";
  CHECK_THROWS_WITH(t.plan(kind), Catch::Contains("r.json: stages[1] (second).kind: expected one of "
                                                  "pretrain-synthetic|sft|grpo|rejection-sample|distill|eval") &&
                                      Catch::Contains("did you mean 'sft'"));
  // The last stage's typo is refused before anything is planned to run.
  nlohmann::json typo = three();
  typo["stages"][2]["stepz"] = 3;
  CHECK_THROWS_WITH(t.plan(typo), Catch::Contains("r.json: stages[2] (third).stepz: unknown key (did you mean 'steps'?)"));
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", nlohmann::json::array()}}),
                    Catch::Contains("r.json: \"stages\" must be a non-empty array"));
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", {sft("a", "m")}}, {"stagse", 1}}),
                    Catch::Contains("stagse: unknown key"));
}

TEST_CASE("recipe plan: reward sets are built while planning, distill reads its teacher", "[recipe][distill][eval]") {
  Planner t;
  const nlohmann::json eval = {{"name", "table"}, {"kind", "eval"}, {"data", "h.jsonl"},
                               {"models", {{{"name", "a"}, {"model", "@first/model"}}}},
                               {"rewards", {{"rewards", {{{"name", "math"}, {"id", "accuracy"}}}}}}};
  const nlohmann::json distill = {{"name", "small"}, {"kind", "distill"}, {"teacher", "@first/model"},
                                  {"model", "models/small"}, {"train", "d.jsonl"}};
  nlohmann::json recipe = three();
  recipe["stages"].push_back(eval);
  recipe["stages"].push_back(distill);
  const r1::run::Plan p = t.plan(recipe);
  CHECK(std::get<r1::run::EvalStageConfig>(p.stages[3].config).models[0].model == t.dir / "runs/r/first/model");
  CHECK(std::get<r1::run::DistillConfig>(p.stages[4].config).teacher == t.dir / "runs/r/first/model");
  CHECK(std::get<r1::run::DistillConfig>(p.stages[4].config).sft.model == "models/small");
  CHECK(p.stages[4].reads == std::set<std::string>{"first"});

  r1::run::apply_override(recipe, "table.rewards.rewards=[{\"name\": \"maht\"}]");
  CHECK_THROWS_WITH(t.plan(recipe), Catch::Contains("r.json: stages[3] (table).rewards"));
}

TEST_CASE("recipe plan: an eval stage takes k samples a problem and top_p, and refuses k < 1", "[recipe][eval]") {
  Planner t;
  nlohmann::json eval = {{"name", "table"}, {"kind", "eval"}, {"data", "h.jsonl"}, {"k", 8}, {"top_p", 0.95},
                         {"models", {{{"name", "a"}, {"model", "models/a"}}}},
                         {"rewards", {{{"kind", "math"}, {"name", "accuracy"}}}}};
  const r1::run::Plan p = t.plan(nlohmann::json{{"name", "r"}, {"stages", {eval}}});
  const auto& c = std::get<r1::run::EvalStageConfig>(p.stages[0].config);
  CHECK(c.eval.k == 8);
  CHECK(c.eval.top_p == 0.95);
  eval["k"] = 0;
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", {eval}}}), Catch::Contains("(table).k: must be >= 1"));
}

TEST_CASE("recipe plan: an eval stage's baseline and reflection phrases, and a grpo stage's, with errors naming the key", "[recipe][eval]") {
  Planner t;
  nlohmann::json eval = {{"name", "table"}, {"kind", "eval"}, {"data", "h.jsonl"}, {"baseline", "b"},
                         {"reflection_phrases", {"wait,", "Let me check"}},
                         {"models", {{{"name", "a"}, {"model", "models/a"}}, {{"name", "b"}, {"model", "models/b"}}}},
                         {"rewards", {{{"kind", "math"}, {"name", "accuracy"}}}}};
  const r1::run::Plan p = t.plan(nlohmann::json{{"name", "r"}, {"stages", {eval}}});
  const auto& c = std::get<r1::run::EvalStageConfig>(p.stages[0].config);
  CHECK(c.baseline == "b");
  CHECK(c.eval.reflection_phrases == std::vector<std::string>{"wait,", "Let me check"});
  eval["baseline"] = "c";
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", {eval}}}),
                    Catch::Contains("(table).baseline: 'c' is not one of the models ('a', 'b')"));
  eval["baseline"] = "a";
  eval["reflection_phrases"] = {"wait,", 3};
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", {eval}}}), Catch::Contains("(table).reflection_phrases[1]: expected string"));
  eval["reflection_phrases"] = {""};
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", {eval}}}), Catch::Contains("(table).reflection_phrases[0]: an empty phrase"));

  nlohmann::json grpo = {{"name", "zero"}, {"kind", "grpo"}, {"model", "models/m"}, {"train", "t.jsonl"},
                         {"rewards", {{{"kind", "math"}, {"name", "accuracy"}}}},
                         {"eval", {{"data", "h.jsonl"}, {"reflection_phrases", {"wait,"}}}}};
  const r1::run::Plan g = t.plan(nlohmann::json{{"name", "r"}, {"stages", {grpo}}});
  CHECK(std::get<r1::run::GrpoConfig>(g.stages[0].config).eval.reflection_phrases == std::vector<std::string>{"wait,"});
  grpo["eval"]["reflection_phrases"] = {"wait,", nullptr};
  CHECK_THROWS_WITH(t.plan(nlohmann::json{{"name", "r"}, {"stages", {grpo}}}), Catch::Contains("eval.reflection_phrases[1]: expected string"));
}

TEST_CASE("recipes: inputs name user files once, --set inputs.NAME edits one, unknown names are refused", "[recipe]") {
  nlohmann::json recipe = nlohmann::json::parse(R"({"name": "x", "inputs": {"base": "models/a", "data": "d.jsonl"},
    "stages": [{"name": "s", "kind": "sft", "model": "$base", "train": "$data", "extra": ["$base/tokenizer.json", "$ok"]}]})");
  recipe["inputs"]["ok"] = "kept";
  r1::run::apply_override(recipe, "inputs.base=/m/b");
  r1::run::substitute_inputs(recipe, "r.json");
  const auto& st = recipe["stages"][0];
  CHECK(st["model"] == "/m/b");
  CHECK(st["train"] == "d.jsonl");
  CHECK(st["extra"][0] == "/m/b/tokenizer.json");
  CHECK(st["extra"][1] == "kept");
  CHECK_THROWS_WITH(r1::run::apply_override(recipe, "inputs.bsae=/x"), Catch::Contains("no input 'bsae'") && Catch::Contains("base"));
  nlohmann::json bad = nlohmann::json::parse(R"({"inputs": {"a": "p"}, "stages": [{"name": "s", "model": "$b"}]})");
  CHECK_THROWS_WITH(r1::run::substitute_inputs(bad, "r.json"), Catch::Contains("r.json: stages.0.model") && Catch::Contains("'$b'"));
}

TEST_CASE("recipes: --set edits a stage's key, making the objects on the way", "[recipe]") {
  nlohmann::json recipe = three();
  r1::run::apply_override(recipe, "second.optim.lr=0.002");
  r1::run::apply_override(recipe, "third.template=chatml");
  CHECK(recipe["stages"][1]["optim"]["lr"] == 0.002);
  CHECK(recipe["stages"][2]["template"] == "chatml");  // not JSON: kept as text
  CHECK_THROWS_WITH(r1::run::apply_override(recipe, "fourth.steps=1"), "--set fourth.steps=1: the recipe has no stage named 'fourth'");
  CHECK_THROWS_WITH(r1::run::apply_override(recipe, "steps=1"), Catch::Contains("expected stage.key=value"));
  CHECK_THROWS_WITH(r1::run::apply_override(recipe, "first..lr=1"), Catch::Contains("empty key"));
}

// The values name folders of existing runs and caches: they must never change. (The offset basis is
// FNV-1a's with its last digit dropped, 1469598103934665603; kept, as the folders depend on it.)
TEST_CASE("recipes: content hashes are stable, 16 hex digits", "[recipe]") {
  CHECK(r1::run::content_hash("") == "14650fb0739d0383");
  CHECK(r1::run::content_hash("a") == "44bd8ad473cd9906");
  CHECK(r1::run::content_hash("a") != r1::run::content_hash("b"));
}

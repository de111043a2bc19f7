// Recipes: stages run in order, "@stage" references resolved to earlier outputs. See recipe.h.
#include "trainer/recipe.h"

#include <cstdio>
#include <functional>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "rewards/reward_set.h"
#include "checkpoint/config.h"
#include "run/eval_stage.h"
#include "trainer/grpo_trainer.h"
#include "run/rejection_sample.h"
#include "trainer/sft.h"
#include "trainer/pretrain.h"

namespace fs = std::filesystem;

namespace r1::trainer {

std::string content_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

namespace {

// A distill stage's student must be a smaller model than its teacher: records both in distill.json.
void check_distillation(const std::string& teacher, const std::string& student, const std::string& dir) {
  const auto t = model::read_model_config((fs::path(teacher) / "config.json").string());
  const auto s = model::read_model_config((fs::path(student) / "config.json").string());
  if (s.parameter_count() >= t.parameter_count())
    throw ConfigError("distill: the student " + student + " (" + std::to_string(s.parameter_count()) +
                      " parameters) is not smaller than the teacher " + teacher + " (" +
                      std::to_string(t.parameter_count()) + ")");
  write_file_atomic((fs::path(dir) / "distill.json").string(),
                    nlohmann::json{{"teacher", teacher}, {"student", student}, {"teacher_parameters", t.parameter_count()},
                                   {"student_parameters", s.parameter_count()}}.dump(2) + "\n");
}

const std::vector<std::string> kKinds = {"pretrain-synthetic", "sft", "grpo", "rejection-sample", "distill", "eval"};

// Replaces "@stage/rest" strings (anywhere in the stage's JSON) with the stage's output folder.
void resolve(nlohmann::json& j, const std::map<std::string, std::string>& outputs, const std::string& where,
             std::set<std::string>* used) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s.empty() || s[0] != '@') return;
    const size_t slash = s.find('/');
    const std::string stage = s.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    auto it = outputs.find(stage);
    if (it == outputs.end()) throw ConfigError(where + ": '" + s + "' names no earlier stage '" + stage + "'");
    if (used) used->insert(stage);
    j = slash == std::string::npos ? it->second : (fs::path(it->second) / s.substr(slash + 1)).string();
  } else if (j.is_object() || j.is_array()) {
    for (auto& [key, value] : j.items()) resolve(value, outputs, where + "." + key, used);
  }
}

}  // namespace

void substitute_inputs(nlohmann::json& recipe, const std::string& source) {
  if (!recipe.contains("inputs")) return;
  const nlohmann::json& inputs = recipe["inputs"];
  if (!inputs.is_object()) throw ConfigError(source + ": \"inputs\" must be an object of name: value");
  std::function<void(nlohmann::json&, const std::string&)> walk = [&](nlohmann::json& j, const std::string& where) {
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      if (s.size() < 2 || s[0] != '$') return;
      const size_t slash = s.find('/');
      const std::string name = s.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
      if (!inputs.contains(name)) throw ConfigError(where + ": '" + s + "' names no input '" + name + "' of \"inputs\"");
      const nlohmann::json& v = inputs[name];
      if (slash == std::string::npos) j = v;
      else if (v.is_string()) j = (fs::path(v.get<std::string>()) / s.substr(slash + 1)).string();
      else throw ConfigError(where + ": '" + s + "': input '" + name + "' is not a path");
    } else if (j.is_object() || j.is_array()) {
      for (auto& [key, value] : j.items()) walk(value, where + "." + key);
    }
  };
  if (recipe.contains("stages")) walk(recipe["stages"], source + ": stages");
}

void apply_override(nlohmann::json& recipe, const std::string& edit) {
  const size_t eq = edit.find('=');
  const size_t dot = edit.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    throw ConfigError("--set " + edit + ": expected stage.key=value (e.g. zero.steps=100)");
  const std::string stage = edit.substr(0, dot), path = edit.substr(dot + 1, eq - dot - 1), text = edit.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;
  if (stage == "inputs") {  // the recipe's named inputs ($name), e.g. --set inputs.base=/models/Qwen2.5-7B
    if (!recipe.contains("inputs") || !recipe["inputs"].is_object() || !recipe["inputs"].contains(path)) {
      std::string names;
      if (recipe.contains("inputs") && recipe["inputs"].is_object())
        for (const auto& [k, v] : recipe["inputs"].items()) names += (names.empty() ? "" : ", ") + k;
      throw ConfigError("--set " + edit + ": the recipe has no input '" + path + "'" +
                        (names.empty() ? std::string(" (it declares none)") : " (it has: " + names + ")"));
    }
    recipe["inputs"][path] = value;
    return;
  }
  if (!recipe.contains("stages") || !recipe["stages"].is_array()) throw ConfigError("--set " + edit + ": the recipe has no stages");
  for (auto& s : recipe["stages"]) {
    if (!s.is_object() || s.value("name", "") != stage) continue;
    nlohmann::json* at = &s;
    size_t from = 0;
    while (true) {
      const size_t next = path.find('.', from);
      const std::string key = path.substr(from, next == std::string::npos ? std::string::npos : next - from);
      if (key.empty()) throw ConfigError("--set " + edit + ": empty key");
      if (next == std::string::npos) {
        (*at)[key] = value;
        return;
      }
      if (!at->contains(key) || !(*at)[key].is_object()) (*at)[key] = nlohmann::json::object();
      at = &(*at)[key];
      from = next + 1;
    }
  }
  throw ConfigError("--set " + edit + ": the recipe has no stage named '" + stage + "'");
}

void run_recipe(const RecipeRun& run) {
  nlohmann::json recipe = read_json_file(run.recipe);
  for (const auto& edit : run.overrides) apply_override(recipe, edit);
  substitute_inputs(recipe, run.recipe);
  ConfigReader top(recipe, run.recipe);
  top.raw("inputs");
  const std::string recipe_name = top.require_string("name");
  const std::string name = run.name.empty() ? recipe_name : run.name;
  top.get("description", std::string());
  const nlohmann::json* stages = top.raw("stages");
  top.finish();
  if (!stages || !stages->is_array() || stages->empty())
    throw ConfigError(run.recipe + ": \"stages\" must be a non-empty array of {\"name\", \"kind\", ...}");
  const fs::path run_dir = fs::path(run.runs_dir) / name;

  // First every stage's configuration, so a typo in the last stage is refused before the first runs.
  // Each stage gets a content hash: its own configuration and the hashes of the stages it reads from.
  struct Planned {
    std::string name, kind, dir, hash;
    std::optional<PretrainConfig> pretrain;
    std::optional<GrpoConfig> grpo;
    std::optional<SftConfig> sft;
    std::optional<RejectionSampleConfig> select;
    std::optional<EvalStageConfig> eval;
    std::string teacher;  // distill: the model whose samples the student learns from
    enum class Action { kRun, kCached, kResume } action = Action::kRun;
    std::string note;  // why, for the plan's printout
  };
  std::vector<Planned> plan;
  std::map<std::string, std::string> outputs, hashes;
  bool from_seen = run.from.empty();
  for (size_t i = 0; i < stages->size(); ++i) {
    nlohmann::json stage = (*stages)[i];
    const std::string where = run.recipe + ": stages[" + std::to_string(i) + "]";
    if (!stage.is_object() || !stage.contains("name") || !stage["name"].is_string() || !stage.contains("kind"))
      throw ConfigError(where + ": needs \"name\" and \"kind\"");
    Planned p;
    p.name = stage["name"].get<std::string>();
    if (outputs.count(p.name)) throw ConfigError(where + ": a second stage named '" + p.name + "'");
    const nlohmann::json as_written = stage;
    std::set<std::string> used;
    resolve(stage, outputs, where, &used);
    ConfigReader r(stage, where + " (" + p.name + ")");
    r.require_string("name");
    p.kind = r.get_choice("kind", "", kKinds);
    if (p.kind == "pretrain-synthetic") {
      p.pretrain = PretrainConfig::read(r);
      r.finish();
      p.hash = content_hash(p.pretrain->identity().dump());
      p.dir = (fs::path(run.runs_dir) / "cache" / ("pretrain-" + p.hash)).string();
    } else if (p.kind == "grpo") {
      p.grpo = GrpoConfig::read(r);
      r.finish();
      rewards::RewardSet::from_json(p.grpo->rewards, where + " (" + p.name + ").rewards", run.reward_services);  // checked now
      p.dir = (run_dir / p.name).string();
    } else if (p.kind == "sft" || p.kind == "distill") {
      // distill is SFT of a smaller student ("model") on a teacher's samples; "teacher" names the
      // teacher's model, checked to be larger when the stage runs.
      if (p.kind == "distill") p.teacher = r.require_string("teacher");
      p.sft = SftConfig::read(r);
      r.finish();
      p.dir = (run_dir / p.name).string();
    } else if (p.kind == "rejection-sample") {
      p.select = RejectionSampleConfig::read(r);
      r.finish();
      rewards::RewardSet::from_json(p.select->rewards, where + " (" + p.name + ").rewards", run.reward_services);  // checked now
      p.dir = (run_dir / p.name).string();
    } else if (p.kind == "eval") {
      p.eval = EvalStageConfig::read(r);
      r.finish();
      rewards::RewardSet::from_json(p.eval->rewards, where + " (" + p.name + ").rewards", run.reward_services);  // checked now
      p.dir = (run_dir / p.name).string();
    }
    if (p.hash.empty()) {
      nlohmann::json key = {{"stage", as_written}, {"inputs", nlohmann::json::object()}};
      for (const auto& u : used) key["inputs"][u] = hashes.at(u);
      p.hash = content_hash(key.dump());
    }
    if (!from_seen && p.name == run.from) from_seen = true;
    const bool forced = !run.from.empty() && from_seen;  // --from this stage or an earlier one
    const fs::path state = fs::path(p.dir) / "stage.json";
    if (p.pretrain) {
      if (fs::exists(state)) {
        const nlohmann::json s = read_json_file(state.string());
        if (s.value("identity", nlohmann::json()) == p.pretrain->identity() && !forced) p.action = Planned::Action::kCached;
      }
    } else if (fs::exists(state)) {
      nlohmann::json s;
      try {
        s = read_json_file(state.string());
      } catch (const Error&) {
        s = nlohmann::json::object();  // unreadable: treated as another configuration's
      }
      const bool same = s.value("hash", "") == p.hash;
      if (same && !forced && s.value("status", "") == "done") {
        p.action = Planned::Action::kCached;
      } else if (same && !forced) {
        p.action = Planned::Action::kResume;
        p.note = "interrupted: resumes from its last checkpoint";
      } else {
        p.note = forced ? "--from: runs again" : "configuration or inputs changed: runs again";
      }
    } else if (fs::exists(p.dir) && run.resume && !forced) {
      p.action = Planned::Action::kResume;  // a folder from before stage.json: --resume as asked
      p.note = "resumes (--resume)";
    }
    hashes[p.name] = p.hash;
    outputs[p.name] = p.dir;
    // A stage reading from one that runs again runs again too: its inputs change.
    for (const auto& u : used)
      for (const Planned& q : plan)
        if (q.name == u && q.action != Planned::Action::kCached && p.action != Planned::Action::kRun && !p.pretrain) {
          p.action = Planned::Action::kRun;
          p.note = "its input '" + u + "' runs again";
        }
    plan.push_back(std::move(p));
  }
  if (!from_seen) throw ConfigError("--from " + run.from + ": the recipe has no stage named '" + run.from + "'");

  for (const Planned& p : plan) {
    const char* what = p.action == Planned::Action::kCached ? "  (cached)" : p.action == Planned::Action::kResume ? "  (resume)" : "";
    std::printf("stage %-12s %-20s %s%s%s\n", p.name.c_str(), p.kind.c_str(), p.dir.c_str(), what,
                p.note.empty() ? "" : ("  " + p.note).c_str());
  }
  std::fflush(stdout);
  if (run.dry_run) return;
  for (const Planned& p : plan) {
    if (p.action == Planned::Action::kCached) continue;
    if (p.pretrain) {
      fs::remove_all(p.dir);
      const std::string tmp = p.dir + ".partial";
      fs::remove_all(tmp);
      run_pretrain(*p.pretrain, tmp, run.threads);
      fs::rename(tmp, p.dir);  // whole or absent: an interrupted stage is redone, never half-used
      continue;
    }
    const bool resume = p.action == Planned::Action::kResume;
    if (!resume && fs::exists(p.dir)) {
      // Another configuration's results: kept beside, never deleted.
      std::string aside = p.dir + ".replaced-1";
      for (int k = 2; fs::exists(aside); ++k) aside = p.dir + ".replaced-" + std::to_string(k);
      fs::rename(p.dir, aside);
      log::warn() << p.dir << ": the earlier results of stage '" << p.name << "' moved to " << aside;
    }
    fs::create_directories(p.dir);
    const std::string state = (fs::path(p.dir) / "stage.json").string();
    write_file_atomic(state, nlohmann::json{{"kind", p.kind}, {"hash", p.hash}, {"status", "running"}}.dump(2) + "\n");
    if (p.grpo) {
      GrpoRun gr;
      gr.run_dir = p.dir;
      gr.r1_binary = run.r1_binary;
      gr.resume = resume;
      gr.threads = run.threads;
      gr.reward_services = run.reward_services;
      run_grpo(*p.grpo, gr);
    } else if (p.sft) {
      if (!p.teacher.empty()) check_distillation(p.teacher, p.sft->model, p.dir);
      SftRun sr;
      sr.run_dir = p.dir;
      sr.resume = resume;
      sr.threads = run.threads;
      run_sft(*p.sft, sr);
    } else if (p.select) {
      run_rejection_sample(*p.select, p.dir, run.r1_binary, run.reward_services);  // an interrupted one samples again from the start
    } else if (p.eval) {
      run_eval_stage(*p.eval, p.dir, run.r1_binary, run.reward_services);  // an interrupted one evaluates again from the start
    }
    write_file_atomic(state, nlohmann::json{{"kind", p.kind}, {"hash", p.hash}, {"status", "done"}}.dump(2) + "\n");
  }
}

}  // namespace r1::trainer

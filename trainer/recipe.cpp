// Recipes: stages run in order, "@stage" references resolved to earlier outputs. See recipe.h.
#include "trainer/recipe.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "rewards/reward_set.h"
#include "trainer/grpo_trainer.h"
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

const std::vector<std::string> kKinds = {"pretrain-synthetic", "sft", "grpo"};

// Replaces "@stage/rest" strings (anywhere in the stage's JSON) with the stage's output folder.
void resolve(nlohmann::json& j, const std::map<std::string, std::string>& outputs, const std::string& where) {
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s.empty() || s[0] != '@') return;
    const size_t slash = s.find('/');
    const std::string stage = s.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    auto it = outputs.find(stage);
    if (it == outputs.end()) throw ConfigError(where + ": '" + s + "' names no earlier stage '" + stage + "'");
    j = slash == std::string::npos ? it->second : (fs::path(it->second) / s.substr(slash + 1)).string();
  } else if (j.is_object() || j.is_array()) {
    for (auto& [key, value] : j.items()) resolve(value, outputs, where + "." + key);
  }
}

}  // namespace

void apply_override(nlohmann::json& recipe, const std::string& edit) {
  const size_t eq = edit.find('=');
  const size_t dot = edit.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    throw ConfigError("--set " + edit + ": expected stage.key=value (e.g. zero.steps=100)");
  const std::string stage = edit.substr(0, dot), path = edit.substr(dot + 1, eq - dot - 1), text = edit.substr(eq + 1);
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) value = text;
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
  ConfigReader top(recipe, run.recipe);
  const std::string recipe_name = top.require_string("name");
  const std::string name = run.name.empty() ? recipe_name : run.name;
  top.get("description", std::string());
  const nlohmann::json* stages = top.raw("stages");
  top.finish();
  if (!stages || !stages->is_array() || stages->empty())
    throw ConfigError(run.recipe + ": \"stages\" must be a non-empty array of {\"name\", \"kind\", ...}");
  const fs::path run_dir = fs::path(run.runs_dir) / name;

  // First every stage's configuration, so a typo in the last stage is refused before the first runs.
  struct Planned {
    std::string name, kind, dir;
    std::optional<PretrainConfig> pretrain;
    std::optional<GrpoConfig> grpo;
    std::optional<SftConfig> sft;
    bool cached = false;
  };
  std::vector<Planned> plan;
  std::map<std::string, std::string> outputs;
  for (size_t i = 0; i < stages->size(); ++i) {
    nlohmann::json stage = (*stages)[i];
    const std::string where = run.recipe + ": stages[" + std::to_string(i) + "]";
    if (!stage.is_object() || !stage.contains("name") || !stage["name"].is_string() || !stage.contains("kind"))
      throw ConfigError(where + ": needs \"name\" and \"kind\"");
    Planned p;
    p.name = stage["name"].get<std::string>();
    if (outputs.count(p.name)) throw ConfigError(where + ": a second stage named '" + p.name + "'");
    resolve(stage, outputs, where);
    ConfigReader r(stage, where + " (" + p.name + ")");
    r.require_string("name");
    p.kind = r.get_choice("kind", "", kKinds);
    if (p.kind == "pretrain-synthetic") {
      p.pretrain = PretrainConfig::read(r);
      r.finish();
      p.dir = (fs::path(run.runs_dir) / "cache" / ("pretrain-" + content_hash(p.pretrain->identity().dump()))).string();
      if (fs::exists(fs::path(p.dir) / "stage.json")) {
        const nlohmann::json s = read_json_file((fs::path(p.dir) / "stage.json").string());
        p.cached = s.value("identity", nlohmann::json()) == p.pretrain->identity();
      }
    } else if (p.kind == "grpo") {
      p.grpo = GrpoConfig::read(r);
      r.finish();
      rewards::RewardSet::from_json(p.grpo->rewards, where + " (" + p.name + ").rewards");  // checked now
      p.dir = (run_dir / p.name).string();
    } else if (p.kind == "sft") {
      p.sft = SftConfig::read(r);
      r.finish();
      p.dir = (run_dir / p.name).string();
    }
    outputs[p.name] = p.dir;
    plan.push_back(std::move(p));
  }

  for (const Planned& p : plan) {
    std::printf("stage %-12s %-20s %s%s\n", p.name.c_str(), p.kind.c_str(), p.dir.c_str(), p.cached ? "  (cached)" : "");
    std::fflush(stdout);
    if (run.dry_run || p.cached) continue;
    if (p.pretrain) {
      fs::remove_all(p.dir);
      const std::string tmp = p.dir + ".partial";
      fs::remove_all(tmp);
      run_pretrain(*p.pretrain, tmp, run.threads);
      fs::rename(tmp, p.dir);  // whole or absent: an interrupted stage is redone, never half-used
    } else if (p.grpo) {
      GrpoRun gr;
      gr.run_dir = p.dir;
      gr.r1_binary = run.r1_binary;
      gr.resume = run.resume;
      gr.threads = run.threads;
      run_grpo(*p.grpo, gr);
    } else if (p.sft) {
      SftRun sr;
      sr.run_dir = p.dir;
      sr.resume = run.resume;
      sr.threads = run.threads;
      run_sft(*p.sft, sr);
    }
  }
}

}  // namespace r1::trainer

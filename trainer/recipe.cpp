// Recipes: stages run in order, "@stage" references resolved to earlier outputs. See recipe.h.
#include "trainer/recipe.h"

#include <cstdio>
#include <filesystem>
#include <map>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "trainer/grpo_trainer.h"
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

const std::vector<std::string> kKinds = {"pretrain-synthetic", "grpo"};

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

void run_recipe(const RecipeRun& run) {
  const nlohmann::json recipe = read_json_file(run.recipe);
  ConfigReader top(recipe, run.recipe);
  const std::string name = run.name.empty() ? top.require_string("name") : (top.raw("name"), run.name);
  top.get("description", std::string());
  const nlohmann::json* stages = top.raw("stages");
  top.finish();
  if (!stages || !stages->is_array() || stages->empty())
    throw ConfigError(run.recipe + ": \"stages\" must be a non-empty array of {\"name\", \"kind\", ...}");
  const fs::path run_dir = fs::path(run.runs_dir) / name;

  std::map<std::string, std::string> outputs;
  for (size_t i = 0; i < stages->size(); ++i) {
    nlohmann::json stage = (*stages)[i];
    const std::string where = run.recipe + ": stages[" + std::to_string(i) + "]";
    if (!stage.is_object() || !stage.contains("name") || !stage["name"].is_string() || !stage.contains("kind"))
      throw ConfigError(where + ": needs \"name\" and \"kind\"");
    const std::string sname = stage["name"].get<std::string>();
    if (outputs.count(sname)) throw ConfigError(where + ": a second stage named '" + sname + "'");
    resolve(stage, outputs, where);
    ConfigReader r(stage, where + " (" + sname + ")");
    r.require_string("name");
    const std::string kind = r.get_choice("kind", "", kKinds);

    if (kind == "pretrain-synthetic") {
      PretrainConfig pc = PretrainConfig::read(r);
      r.finish();
      const std::string dir = (fs::path(run.runs_dir) / "cache" / ("pretrain-" + content_hash(pc.identity().dump()))).string();
      outputs[sname] = dir;
      bool cached = false;
      if (fs::exists(fs::path(dir) / "stage.json")) {
        const nlohmann::json s = read_json_file((fs::path(dir) / "stage.json").string());
        cached = s.value("identity", nlohmann::json()) == pc.identity();
      }
      std::printf("stage %-12s %-20s %s%s\n", sname.c_str(), kind.c_str(), dir.c_str(), cached ? "  (cached)" : "");
      std::fflush(stdout);
      if (run.dry_run || cached) continue;
      fs::remove_all(dir);
      const std::string tmp = dir + ".partial";
      fs::remove_all(tmp);
      run_pretrain(pc, tmp, run.threads);
      fs::rename(tmp, dir);  // whole or absent: an interrupted stage is redone, never half-used
    } else if (kind == "grpo") {
      GrpoConfig gc = GrpoConfig::read(r);
      r.finish();
      const std::string dir = (run_dir / sname).string();
      outputs[sname] = dir;
      std::printf("stage %-12s %-20s %s\n", sname.c_str(), kind.c_str(), dir.c_str());
      std::fflush(stdout);
      if (run.dry_run) continue;
      GrpoRun gr;
      gr.run_dir = dir;
      gr.r1_binary = run.r1_binary;
      gr.resume = run.resume;
      gr.threads = run.threads;
      run_grpo(gc, gr);
    }
  }
}

}  // namespace r1::trainer

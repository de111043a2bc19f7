// Planning a recipe: every stage read and checked, its hash, folder and action. See recipe_plan.h.
#include "run/recipe_plan.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "core/config.h"
#include "core/error.h"

namespace fs = std::filesystem;

namespace r1::run {

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

void resolve_stage_refs(nlohmann::json& j, const std::map<std::string, std::string>& outputs, const std::string& where,
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
    for (auto& [key, value] : j.items()) resolve_stage_refs(value, outputs, where + "." + key, used);
  }
}

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

namespace {

// --set inputs.NAME=VALUE: the recipe's named inputs ($name), e.g. --set inputs.base=/models/Qwen2.5-7B.
void override_input(nlohmann::json& recipe, const std::string& edit, const std::string& name, const nlohmann::json& value) {
  if (!recipe.contains("inputs") || !recipe["inputs"].is_object() || !recipe["inputs"].contains(name)) {
    std::string names;
    if (recipe.contains("inputs") && recipe["inputs"].is_object())
      for (const auto& [k, v] : recipe["inputs"].items()) names += (names.empty() ? "" : ", ") + k;
    throw ConfigError("--set " + edit + ": the recipe has no input '" + name + "'" +
                      (names.empty() ? std::string(" (it declares none)") : " (it has: " + names + ")"));
  }
  recipe["inputs"][name] = value;
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
  if (stage == "inputs") return override_input(recipe, edit, path, value);
  if (!recipe.contains("stages") || !recipe["stages"].is_array()) throw ConfigError("--set " + edit + ": the recipe has no stages");
  for (auto& s : recipe["stages"]) {
    if (!s.is_object() || s.value("name", "") != stage) continue;
    // Walks key.sub.sub, making the objects on the way that are missing.
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

nlohmann::json load_recipe(const std::string& path, const std::vector<std::string>& overrides) {
  nlohmann::json recipe = read_json_file(path);
  for (const auto& edit : overrides) apply_override(recipe, edit);
  substitute_inputs(recipe, path);
  return recipe;
}

namespace {

const StageKind& find_kind(const std::vector<StageKind>& kinds, const std::string& name) {
  return *std::find_if(kinds.begin(), kinds.end(), [&](const StageKind& k) { return k.name == name; });
}

// What planning one stage needs from the stages before it.
struct Planning {
  const PlanOptions& options;
  const std::vector<StageKind>& kinds;
  std::vector<std::string> kind_names;
  fs::path run_dir;
  std::map<std::string, std::string> outputs, hashes;  // of the stages planned so far
  bool from_seen = false;                               // --from's stage is this one or an earlier one
};

// The recipe's top-level keys; returns its stages.
const nlohmann::json& read_top(const nlohmann::json& recipe, const PlanOptions& o, Plan* plan) {
  ConfigReader top(recipe, o.source);
  top.raw("inputs");
  const std::string recipe_name = top.require_string("name");
  plan->name = o.name.empty() ? recipe_name : o.name;
  top.get("description", std::string());
  const nlohmann::json* stages = top.raw("stages");
  top.finish();
  if (!stages || !stages->is_array() || stages->empty())
    throw ConfigError(o.source + ": \"stages\" must be a non-empty array of {\"name\", \"kind\", ...}");
  plan->dir = (fs::path(o.runs_dir) / plan->name).string();
  return *stages;
}

// The stage's name, kind, configuration (its "@stage" references resolved), hash and folder.
PlannedStage read_stage(const nlohmann::json& written, const std::string& where, const Planning& at) {
  if (!written.is_object() || !written.contains("name") || !written["name"].is_string() || !written.contains("kind"))
    throw ConfigError(where + ": needs \"name\" and \"kind\"");
  PlannedStage p;
  p.name = written["name"].get<std::string>();
  if (at.outputs.count(p.name)) throw ConfigError(where + ": a second stage named '" + p.name + "'");
  p.resolved = written;
  resolve_stage_refs(p.resolved, at.outputs, where, &p.reads);
  ConfigReader r(p.resolved, where + " (" + p.name + ")");
  r.require_string("name");
  p.kind = r.get_choice("kind", "", at.kind_names);
  const StageKind& kind = find_kind(at.kinds, p.kind);
  p.config = kind.read(r, at.options.reward_services);
  if (kind.cache_identity) {
    // Shared by every recipe with the same identity: keyed by it alone, not by the recipe's text.
    p.in_cache = true;
    p.hash = content_hash(kind.cache_identity(p.config).dump());
    p.dir = (fs::path(at.options.runs_dir) / "cache" / (kind.cache_prefix + p.hash)).string();
    return p;
  }
  nlohmann::json key = {{"stage", written}, {"inputs", nlohmann::json::object()}};
  for (const auto& u : p.reads) key["inputs"][u] = at.hashes.at(u);
  p.hash = content_hash(key.dump());
  p.dir = (at.run_dir / p.name).string();
  return p;
}

// A cached kind's folder is reused when its stage.json records the same identity.
void decide_cached_kind(PlannedStage& p, const nlohmann::json& identity, bool forced) {
  const fs::path state = fs::path(p.dir) / "stage.json";
  if (!fs::exists(state)) return;
  const nlohmann::json s = read_json_file(state.string());
  if (s.value("identity", nlohmann::json()) == identity && !forced) p.action = StageAction::kCached;
}

// A training stage's action from its folder's stage.json (see recipe_plan.h).
void decide_from_state(PlannedStage& p, bool forced, bool resume_option) {
  const fs::path state = fs::path(p.dir) / "stage.json";
  if (!fs::exists(state)) {
    if (fs::exists(p.dir) && resume_option && !forced) {
      p.action = StageAction::kResume;  // a folder from before stage.json: --resume as asked
      p.note = "resumes (--resume)";
    }
    return;
  }
  nlohmann::json s;
  try {
    s = read_json_file(state.string());
  } catch (const Error&) {
    s = nlohmann::json::object();  // unreadable: treated as another configuration's
  }
  const bool same = s.value("hash", "") == p.hash;
  if (same && !forced && s.value("status", "") == "done") {
    p.action = StageAction::kCached;
  } else if (same && !forced) {
    p.action = StageAction::kResume;
    p.note = "interrupted: resumes from its last checkpoint";
  } else {
    p.note = forced ? "--from: runs again" : "configuration or inputs changed: runs again";
  }
}

// A stage reading from one that runs again runs again too: its inputs change.
void follow_inputs(PlannedStage& p, const std::vector<PlannedStage>& earlier) {
  if (p.in_cache) return;
  for (const auto& u : p.reads)
    for (const PlannedStage& q : earlier)
      if (q.name == u && q.action != StageAction::kCached && p.action != StageAction::kRun) {
        p.action = StageAction::kRun;
        p.note = "its input '" + u + "' runs again";
      }
}

}  // namespace

Plan plan_recipe(const nlohmann::json& recipe, const PlanOptions& options, const std::vector<StageKind>& kinds) {
  Plan plan;
  const nlohmann::json& stages = read_top(recipe, options, &plan);
  Planning at{options, kinds, {}, plan.dir, {}, {}, options.from.empty()};
  for (const StageKind& k : kinds) at.kind_names.push_back(k.name);
  // Every stage's configuration first, so a typo in the last stage is refused before the first runs.
  for (size_t i = 0; i < stages.size(); ++i) {
    PlannedStage p = read_stage(stages[i], options.source + ": stages[" + std::to_string(i) + "]", at);
    if (!at.from_seen && p.name == options.from) at.from_seen = true;
    const bool forced = !options.from.empty() && at.from_seen;  // --from this stage or an earlier one
    if (p.in_cache) {
      decide_cached_kind(p, find_kind(kinds, p.kind).cache_identity(p.config), forced);
    } else {
      decide_from_state(p, forced, options.resume);
    }
    at.hashes[p.name] = p.hash;
    at.outputs[p.name] = p.dir;
    follow_inputs(p, plan.stages);
    plan.stages.push_back(std::move(p));
  }
  if (!at.from_seen) throw ConfigError("--from " + options.from + ": the recipe has no stage named '" + options.from + "'");
  return plan;
}

std::string plan_line(const PlannedStage& p) {
  const char* what = p.action == StageAction::kCached ? "  (cached)" : p.action == StageAction::kResume ? "  (resume)" : "";
  const std::string note = p.note.empty() ? "" : "  " + p.note;
  const int n = std::snprintf(nullptr, 0, "stage %-12s %-20s %s%s%s", p.name.c_str(), p.kind.c_str(), p.dir.c_str(), what, note.c_str());
  std::string line(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(line.data(), line.size(), "stage %-12s %-20s %s%s%s", p.name.c_str(), p.kind.c_str(), p.dir.c_str(), what, note.c_str());
  line.resize(static_cast<size_t>(n));
  return line;
}

}  // namespace r1::run

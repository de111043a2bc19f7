#include "rewards/reward_set.h"

#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "rewards/code.h"
#include "rewards/format.h"
#include "rewards/language.h"
#include "rewards/math.h"
#include "rewards/plugin.h"
#include "rewards/remote.h"
#include "rewards/shaping.h"

namespace r1::rewards {
namespace {

// Builds a reward of a kind from its config entry (options read through `r`; the caller rejects unread keys).
using Factory = std::function<std::unique_ptr<Reward>(const std::string& id, ConfigReader& r, const RewardServices& services)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> table = [] {
    std::map<std::string, Factory> t;
    t["format"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      FormatOptions o;
      o.think_tag = r.get("think_tag", o.think_tag);
      o.answer_tag = r.get("answer_tag", o.answer_tag);
      o.strict = r.get_choice("mode", "strict", {"strict", "lenient"}) == "strict";
      o.partial_credit = r.get("partial_credit", o.partial_credit);
      return std::make_unique<FormatReward>(id, o);
    };
    t["language"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      LanguageOptions o;
      o.think_tag = r.get("think_tag", o.think_tag);
      o.default_language = r.get("default_language", o.default_language);
      o.scripts = r.get("scripts", o.scripts);
      return std::make_unique<LanguageConsistencyReward>(id, o);
    };
    t["overlong"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      OverlongOptions o;
      o.max_length = r.get("max_length", o.max_length);
      o.buffer = r.get("buffer", o.buffer);
      return std::make_unique<OverlongReward>(id, o);
    };
    t["cosine"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      CosineOptions o;
      o.max_length = r.get("max_length", o.max_length);
      o.min_value_correct = r.get("min_value_correct", o.min_value_correct);
      o.max_value_correct = r.get("max_value_correct", o.max_value_correct);
      o.min_value_wrong = r.get("min_value_wrong", o.min_value_wrong);
      o.max_value_wrong = r.get("max_value_wrong", o.max_value_wrong);
      o.correct_from = r.get("correct_from", o.correct_from);
      o.correct_threshold = r.get("correct_threshold", o.correct_threshold);
      return std::make_unique<CosineLengthReward>(id, o);
    };
    t["math"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      MathOptions o;
      o.answer_field = r.get("answer_field", o.answer_field);
      o.answer_tag = r.get("answer_tag", o.answer_tag);
      std::vector<std::string> order = r.get("extraction", std::vector<std::string>{"answer_tag", "boxed", "answer_is", "last_number"});
      o.extraction.clear();
      for (const auto& name : order) {
        if (name == "answer_tag") o.extraction.push_back(Extraction::kAnswerTag);
        else if (name == "boxed") o.extraction.push_back(Extraction::kBoxed);
        else if (name == "answer_is") o.extraction.push_back(Extraction::kAnswerIs);
        else if (name == "last_number") o.extraction.push_back(Extraction::kLastNumber);
        else throw ConfigError(r.key_path("extraction") + ": unknown rule '" + name + "' (answer_tag, boxed, answer_is, last_number)");
      }
      return std::make_unique<MathReward>(id, o);
    };
    t["plugin"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      std::string path = r.require_string("path");
      const nlohmann::json* config = r.raw("config");
      return load_plugin_reward(id, path, config ? *config : nlohmann::json::object());
    };
    t["external"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      ExternalOptions o;
      o.command = r.get("command", std::vector<std::string>{});
      if (o.command.empty()) throw ConfigError(r.key_path("command") + ": expected [program, arguments...]");
      return make_external_reward(id, o);
    };
    t["remote"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      std::string address = r.require_string("address");
      return make_remote_reward(id, address, r.get("token", ""));
    };
    t["code"] = [](const std::string& id, ConfigReader& r, const RewardServices& services) {
      CodeOptions o;
      o.fraction = r.get_choice("mode", "fraction", {"fraction", "pass_fail"}) == "fraction";
      o.language = r.get("language", o.language);
      o.tests_field = r.get("tests_field", o.tests_field);
      const std::string needs = r.key_path("name") + ": the code reward needs the sandbox";
      if (!services.code_runner) throw ConfigError(needs + ", and none was given to this command");
      std::shared_ptr<sandbox::Runner> runner;
      try {
        runner = services.code_runner();
      } catch (const Error& e) {
        throw ConfigError(needs + ", which could not start here: " + e.what() + " (see `r1 sandbox info`)");
      }
      if (!runner) throw ConfigError(needs + ", which could not start here (see `r1 sandbox info`)");
      return std::make_unique<CodeReward>(id, o, runner);
    };
    t["max"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      return std::make_unique<MaxOfReward>(id, r.get("of", std::vector<std::string>{}));
    };
    t["repetition"] = [](const std::string& id, ConfigReader& r, const RewardServices&) {
      RepetitionOptions o;
      o.ngram_size = r.get("ngram_size", o.ngram_size);
      o.max_penalty = r.get("max_penalty", o.max_penalty);
      return std::make_unique<RepetitionPenalty>(id, o);
    };
    return t;
  }();
  return table;
}
}  // namespace

std::vector<std::string> RewardSet::kinds() {
  std::vector<std::string> out;
  for (const auto& [k, f] : factories()) out.push_back(k);
  return out;
}

RewardSet RewardSet::from_json(const nlohmann::json& config, const std::string& source, const RewardServices& services) {
  RewardSet set;
  try {
    ConfigReader top(config, "");
    const nlohmann::json* list = top.raw("rewards");
    top.finish();
    if (!list || !list->is_array() || list->empty()) throw ConfigError("rewards: expected a non-empty array");
    std::set<std::string> ids;
    for (size_t i = 0; i < list->size(); ++i) {
      ConfigReader r((*list)[i], "rewards[" + std::to_string(i) + "]");
      std::string kind = r.require_string("name");
      auto found = factories().find(kind);
      if (found == factories().end()) {
        std::string message = r.key_path("name") + ": unknown reward '" + kind + "'";
        if (auto near = closest_match(kind, kinds()); !near.empty()) message += " (did you mean '" + near + "'?)";
        throw ConfigError(message);
      }
      std::string id = r.get("id", kind);
      if (!ids.insert(id).second) throw ConfigError(r.key_path("id") + ": component '" + id + "' appears twice");
      double weight = r.get("weight", 1.0);
      // Running code (compiling, then every test) takes longer than checking text.
      int64_t budget_ms = r.get("time_budget_ms", int64_t{kind == "code" ? 60000 : 1000});
      if (budget_ms <= 0) throw ConfigError(r.key_path("time_budget_ms") + ": must be positive");
      auto reward = found->second(id, r, services);
      r.finish();
      set.add(std::move(reward), weight, std::chrono::milliseconds(budget_ms));
    }
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
  return set;
}

void RewardSet::add(std::shared_ptr<const Reward> reward, double weight, std::chrono::milliseconds budget) {
  entries_.push_back({std::move(reward), weight, budget});
}

std::chrono::milliseconds RewardSet::total_budget() const {
  std::chrono::milliseconds total{0};
  for (const auto& e : entries_) total += e.budget;
  return total;
}

Score RewardSet::score(const Sample& sample, const Observer& observer) const {
  Score total;
  std::string reasons;
  for (const auto& entry : entries_) {
    const std::string& id = entry.reward->name();
    auto start = Deadline::Clock::now();
    Deadline deadline(start + entry.budget);
    Score part;
    bool failed = true;
    try {
      part = entry.reward->score(sample, total.components, deadline);
      failed = false;
      if (Deadline::Clock::now() > deadline.at()) part = Score{0.0, {}, "timeout", {}}, failed = true;
    } catch (const DeadlineExceeded&) {
      part = Score{0.0, {}, "timeout", {}};
    } catch (const std::exception& e) {
      part = Score{0.0, {}, e.what(), {}};
    } catch (...) {
      part = Score{0.0, {}, "unknown exception", {}};
    }
    if (failed) total.failed.push_back(id);
    total.components[id] = part.value;
    total.value += entry.weight * part.value;
    if (!part.reason.empty()) reasons += (reasons.empty() ? "" : "; ") + id + ": " + part.reason;
    if (observer) observer(id, part.value);
  }
  total.reason = std::move(reasons);
  return total;
}

Sample sample_from_json(const nlohmann::json& row) {
  if (!row.is_object()) throw ConfigError("expected a JSON object");
  Sample s;
  ConfigReader r(row, "");
  s.prompt = r.get("prompt", "");
  s.completion = r.get("completion", "");
  s.target_language = r.get("target_language", "");
  s.completion_tokens = r.get("completion_tokens", int64_t{-1});
  s.truncated = r.get("truncated", false);
  if (const auto* ref = r.raw("reference")) {
    s.reference = *ref;
  } else {
    s.reference = nlohmann::json::object();
    for (const auto& [key, value] : row.items()) {
      if (key != "prompt" && key != "completion" && key != "target_language" && key != "completion_tokens" &&
          key != "truncated") {
        s.reference[key] = value;
      }
    }
  }
  return s;
}

nlohmann::json score_to_json(const Score& score) {
  nlohmann::json out = {{"reward", score.value}, {"components", score.components}};
  if (!score.reason.empty()) out["reason"] = score.reason;
  return out;
}

}  // namespace r1::rewards

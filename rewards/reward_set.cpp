#include "rewards/reward_set.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
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
using Factory = std::function<std::unique_ptr<Reward>(const std::string& name, ConfigReader& r, const RewardServices& services)>;
using FactoryTable = std::map<std::string, Factory>;

// Rules on the completion's text: its think/answer layout and the language of its reasoning.
void add_text_rules(FactoryTable& t) {
  t["format"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    FormatOptions o;
    o.think_tag = r.get("think_tag", o.think_tag);
    o.answer_tag = r.get("answer_tag", o.answer_tag);
    o.strict = r.get_choice("mode", "strict", {"strict", "lenient"}) == "strict";
    o.partial_credit = r.get("partial_credit", o.partial_credit);
    return std::make_unique<FormatReward>(name, o);
  };
  t["language"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    LanguageOptions o;
    o.think_tag = r.get("think_tag", o.think_tag);
    o.default_language = r.get("default_language", o.default_language);
    o.scripts = r.get("scripts", o.scripts);
    return std::make_unique<LanguageConsistencyReward>(name, o);
  };
}

// Shaping by length and repetition.
void add_shaping(FactoryTable& t) {
  t["overlong"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    OverlongOptions o;
    o.max_length = r.get("max_length", o.max_length);
    o.buffer = r.get("buffer", o.buffer);
    return std::make_unique<OverlongReward>(name, o);
  };
  t["cosine"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    CosineOptions o;
    o.max_length = r.get("max_length", o.max_length);
    o.min_value_correct = r.get("min_value_correct", o.min_value_correct);
    o.max_value_correct = r.get("max_value_correct", o.max_value_correct);
    o.min_value_wrong = r.get("min_value_wrong", o.min_value_wrong);
    o.max_value_wrong = r.get("max_value_wrong", o.max_value_wrong);
    o.correct_from = r.get("correct_from", o.correct_from);
    o.correct_threshold = r.get("correct_threshold", o.correct_threshold);
    return std::make_unique<CosineLengthReward>(name, o);
  };
  t["repetition"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    RepetitionOptions o;
    o.ngram_size = r.get("ngram_size", o.ngram_size);
    o.max_penalty = r.get("max_penalty", o.max_penalty);
    return std::make_unique<RepetitionPenalty>(name, o);
  };
}

std::vector<Extraction> read_extraction(ConfigReader& r) {
  std::vector<std::string> order = r.get("extraction", std::vector<std::string>{"answer_tag", "boxed", "answer_is", "last_number"});
  std::vector<Extraction> out;
  for (const auto& rule : order) {
    if (rule == "answer_tag") out.push_back(Extraction::kAnswerTag);
    else if (rule == "boxed") out.push_back(Extraction::kBoxed);
    else if (rule == "answer_is") out.push_back(Extraction::kAnswerIs);
    else if (rule == "last_number") out.push_back(Extraction::kLastNumber);
    else throw ConfigError(r.key_path("extraction") + ": unknown rule '" + rule + "' (answer_tag, boxed, answer_is, last_number)");
  }
  return out;
}

// Correctness against the sample's reference: math answers, code run on tests, and the best of several.
void add_judges(FactoryTable& t) {
  t["math"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    MathOptions o;
    o.answer_field = r.get("answer_field", o.answer_field);
    o.answer_tag = r.get("answer_tag", o.answer_tag);
    o.extraction = read_extraction(r);
    o.numeric_tolerance = r.get("numeric_tolerance", o.numeric_tolerance);
    if (!(o.numeric_tolerance >= 0 && o.numeric_tolerance < 1)) {
      throw ConfigError(r.key_path("numeric_tolerance") + ": must be in [0, 1) (a relative tolerance; 0 compares exactly)");
    }
    return std::make_unique<MathReward>(name, o);
  };
  t["code"] = [](const std::string& name, ConfigReader& r, const RewardServices& services) {
    CodeOptions o;
    o.fraction = r.get_choice("mode", "fraction", {"fraction", "pass_fail"}) == "fraction";
    o.language = r.get("language", o.language);
    o.tests_field = r.get("tests_field", o.tests_field);
    const std::string needs = r.key_path("kind") + ": the code reward needs the sandbox";
    if (!services.code_runner) throw ConfigError(needs + ", and none was given to this command");
    std::shared_ptr<sandbox::Runner> runner;
    try {
      runner = services.code_runner();
    } catch (const Error& e) {
      throw ConfigError(needs + ", which could not start here: " + e.what() + " (see `r1 sandbox info`)");
    }
    if (!runner) throw ConfigError(needs + ", which could not start here (see `r1 sandbox info`)");
    return std::make_unique<CodeReward>(name, o, runner);
  };
  t["max"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    return std::make_unique<MaxOfReward>(name, r.get("of", std::vector<std::string>{}));
  };
}

// A reward users bring, held to the range its entry declares ("range": [low, high], default
// [-100, 100]): a value outside it (a bug, 1e308, a stray line read as a score) is a zero with a
// reason, counted as the reward's failure, never a score that swamps every other sample's.
class InRange : public Reward {
 public:
  InRange(std::unique_ptr<Reward> inner, double low, double high) : inner_(std::move(inner)), low_(low), high_(high) {}
  const std::string& name() const override { return inner_->name(); }
  Score score(const Sample& sample, const Components& earlier, const Deadline& deadline) const override {
    Score s = inner_->score(sample, earlier, deadline);
    if (std::isfinite(s.value) && (s.value < low_ || s.value > high_)) {
      char text[160];
      std::snprintf(text, sizeof text, "value %g outside the declared range [%g, %g]", s.value, low_, high_);
      throw Error(text);
    }
    return s;
  }

 private:
  std::unique_ptr<Reward> inner_;
  double low_, high_;
};

std::unique_ptr<Reward> in_declared_range(std::unique_ptr<Reward> reward, ConfigReader& r) {
  double low = -100, high = 100;
  if (const nlohmann::json* range = r.raw("range")) {
    const bool pair = range->is_array() && range->size() == 2 && (*range)[0].is_number() && (*range)[1].is_number();
    if (pair) low = (*range)[0].get<double>(), high = (*range)[1].get<double>();
    if (!pair || !std::isfinite(low) || !std::isfinite(high) || low > high)
      throw ConfigError(r.key_path("range") + ": expected [low, high] with low <= high");
  }
  return std::make_unique<InRange>(std::move(reward), low, high);
}

// Rewards users bring: a C++ plugin, an external program, a remote service.
void add_user_rewards(FactoryTable& t) {
  t["plugin"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    std::string path = r.require_string("path");
    const nlohmann::json* config = r.raw("config");
    const nlohmann::json c = config ? *config : nlohmann::json::object();
    // A plugin runs in a host process of its own unless trusted: a crash then costs a sample, not the run.
    if (r.get("in_process", false)) return in_declared_range(load_plugin_reward(name, path, c), r);
    return in_declared_range(make_hosted_plugin_reward(name, path, c), r);
  };
  t["external"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    ExternalOptions o;
    o.command = r.get("command", std::vector<std::string>{});
    if (o.command.empty()) throw ConfigError(r.key_path("command") + ": expected [program, arguments...]");
    return in_declared_range(make_external_reward(name, o), r);
  };
  t["remote"] = [](const std::string& name, ConfigReader& r, const RewardServices&) {
    std::string address = r.require_string("address");
    return in_declared_range(make_remote_reward(name, address, r.get("token", "")), r);
  };
}

const FactoryTable& factories() {
  static const FactoryTable table = [] {
    FactoryTable t;
    add_text_rules(t);
    add_shaping(t);
    add_judges(t);
    add_user_rewards(t);
    return t;
  }();
  return table;
}

// One entry in the current spelling, or the entry rewritten from the old one ("name" the kind, "id" the
// component name); *old says which.
nlohmann::json entry_in_current_spelling(const nlohmann::json& entry, const std::string& path, bool* old) {
  *old = false;
  if (!entry.is_object()) return entry;  // from_json's reader says what is wrong with it
  if (entry.contains("kind")) {
    if (entry.contains("id"))
      throw ConfigError(path + ".id: the old spelling's component name beside \"kind\"; write it as \"name\"");
    return entry;
  }
  if (!entry.contains("name")) return entry;  // from_json says "kind" is missing
  *old = true;
  nlohmann::json out = entry;
  out.erase("id");
  out["kind"] = entry["name"];
  if (entry.contains("id")) out["name"] = entry["id"];
  else out.erase("name");
  return out;
}

}  // namespace

std::vector<std::string> RewardSet::kinds() {
  std::vector<std::string> out;
  for (const auto& [k, f] : factories()) out.push_back(k);
  return out;
}

nlohmann::json RewardSet::current_spelling(const nlohmann::json& config, const std::string& source) {
  try {
    const nlohmann::json* list = &config;
    const bool wrapped = config.is_object();
    if (wrapped) {
      ConfigReader top(config, "");
      list = top.raw("rewards");
      top.finish();
    }
    if (!list || !list->is_array() || list->empty()) throw ConfigError("rewards: expected a non-empty array");
    nlohmann::json out = nlohmann::json::array();
    bool old_entries = false;
    for (size_t i = 0; i < list->size(); ++i) {
      bool old = false;
      out.push_back(entry_in_current_spelling((*list)[i], "rewards[" + std::to_string(i) + "]", &old));
      old_entries = old_entries || old;
    }
    if (wrapped || old_entries) {
      std::string what = wrapped ? "{\"rewards\": [...]} around the list" : "";
      if (old_entries) what += std::string(wrapped ? ", " : "") + "\"name\" as the kind and \"id\" as the component name";
      log::warn() << source << ": the old reward spelling (" << what
                  << ") is deprecated and will be removed in the next release; write"
                  << " \"rewards\": [{\"kind\": \"math\", \"name\": \"accuracy\"}, {\"kind\": \"format\"}]";
    }
    return out;
  } catch (const ConfigError& e) {
    throw ConfigError(source + ": " + e.what());
  }
}

RewardSet RewardSet::from_json(const nlohmann::json& config, const std::string& source, const RewardServices& services) {
  const nlohmann::json list = current_spelling(config, source);
  RewardSet set;
  try {
    std::set<std::string> names;
    for (size_t i = 0; i < list.size(); ++i) {
      ConfigReader r(list[i], "rewards[" + std::to_string(i) + "]");
      std::string kind = r.require_string("kind");
      auto found = factories().find(kind);
      if (found == factories().end()) {
        std::string message = r.key_path("kind") + ": unknown reward '" + kind + "'";
        if (auto near = closest_match(kind, kinds()); !near.empty()) message += " (did you mean '" + near + "'?)";
        throw ConfigError(message);
      }
      std::string name = r.get("name", kind);
      if (!names.insert(name).second) throw ConfigError(r.key_path("name") + ": component '" + name + "' appears twice");
      double weight = r.get("weight", 1.0);
      // Running code (compiling, then every test) takes longer than checking text.
      int64_t budget_ms = r.get("time_budget_ms", int64_t{kind == "code" ? 60000 : 1000});
      if (budget_ms <= 0) throw ConfigError(r.key_path("time_budget_ms") + ": must be positive");
      auto reward = found->second(name, r, services);
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
    } catch (const RewardFatal&) {
      throw;  // not this sample's zero: the run's end
    } catch (const std::exception& e) {
      part = Score{0.0, {}, e.what(), {}};
    } catch (...) {
      part = Score{0.0, {}, "unknown exception", {}};
    }
    if (!std::isfinite(part.value)) {
      // NaN or infinity would poison the group's advantages and skip every update: a zero with a
      // reason naming the value, counted as the reward's failure.
      part = Score{0.0, {}, std::string("non-finite value (") + (std::isnan(part.value) ? "nan" : "inf") + ")", {}};
      failed = true;
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

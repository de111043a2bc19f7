// A weighted set of rewards from JSON config, the array of its entries:
//
//   [{"kind": "math", "name": "accuracy"},
//    {"kind": "format", "weight": 0.25, "mode": "strict"},
//    {"kind": "overlong", "weight": 1.0, "max_length": 4096, "buffer": 512, "time_budget_ms": 50}]
//
// Each entry: "kind" (required), "name" (the component name in scores and metrics; default the kind),
// "weight" (default 1), "time_budget_ms" (default 1000), and the kind's own options; unknown keys are
// errors naming the closest valid one. Rewards run in order, so a later one can read an earlier
// component (the cosine length reward reads "math"). The old spelling is still read for one release
// (see current_spelling).
//
// score(): value = sum of weight * component; every component is kept (unweighted) for logging. A
// reward that throws scores 0 with its message as reason; one that runs past its budget scores 0
// with reason "timeout" (see scorer.h for the batch scorer that also stops waiting for it).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "rewards/reward.h"

namespace r1 {
class ConfigReader;
}
namespace r1::sandbox {
class Runner;
}

namespace r1::rewards {

// What rewards need from outside their config, built by the caller and handed to from_json: no reward
// reaches for a global, and nothing searches a config's text to guess what to start.
struct RewardServices {
  // The runner the "code" kind judges code with. Called only while building a set that names "code"
  // (a sandbox costs helper processes), possibly more than once; it throws r1::Error saying why none can
  // be had (sandbox::shared_sandbox gives one). Empty: the kind is refused.
  std::function<std::shared_ptr<sandbox::Runner>()> code_runner;
};

struct RewardEntry {
  std::shared_ptr<const Reward> reward;
  double weight = 1.0;
  std::chrono::milliseconds budget{1000};
};

class RewardSet {
 public:
  // The kinds a config entry's "kind" may give (docs/rewards.md): format, language, overlong, cosine,
  // repetition, math, code, max, plugin, external, remote. The table is fixed; users add their own
  // rewards as plugins, external programs or remote services, not by registering kinds.
  static std::vector<std::string> kinds();

  // A config in the current spelling: the array of entries with "kind" and "name". The old spelling,
  // {"rewards": [...]} around the array and, in an entry without "kind", "name" as the kind and "id" as
  // the component name, is rewritten, with one deprecation warning per set prefixed by `source`. An
  // entry with both "kind" and "id" is refused (ConfigError naming the key), as is anything but a
  // non-empty array. Stages call this as they read their config, so the set is warned about once.
  static nlohmann::json current_spelling(const nlohmann::json& config, const std::string& source);

  // `source` prefixes errors and the deprecation warning (a file name, or a key path); `services` gives
  // what kinds need from outside. Reads either spelling (current_spelling).
  static RewardSet from_json(const nlohmann::json& config, const std::string& source, const RewardServices& services = {});
  void add(std::shared_ptr<const Reward> reward, double weight, std::chrono::milliseconds budget);

  // `observer` (optional) hears each component as it is computed (the batch scorer keeps them when
  // it gives up on a sample).
  using Observer = std::function<void(const std::string& component, double value)>;
  Score score(const Sample& sample, const Observer& observer = nullptr) const;

  const std::vector<RewardEntry>& entries() const { return entries_; }
  std::chrono::milliseconds total_budget() const;

 private:
  std::vector<RewardEntry> entries_;
};

// Reads a sample from a JSON-lines row: {"prompt", "completion", "target_language", "completion_tokens",
// "truncated", and reference fields, either under "reference" or as the other keys of the row}.
Sample sample_from_json(const nlohmann::json& row);
nlohmann::json score_to_json(const Score& score);

}  // namespace r1::rewards

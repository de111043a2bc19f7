// The reward interface. A reward reads one sample (prompt, completion, target language, the dataset
// row's reference fields) and returns a score with named components and a short reason.
//
// Rewards never throw across this boundary: RewardSet and the batch scorer turn an exception into a
// zero with the exception's message as the reason, and a reward that runs past its time budget into
// a zero with reason "timeout". Long-running checks should poll the Deadline they are given.
//
// No LibTorch here: rewards build in seconds and can be used on their own.
#pragma once

#include "core/error.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace r1::rewards {

struct Sample {
  std::string prompt;
  std::string completion;
  std::string target_language;  // e.g. "en", "zh" (language-consistency reward)
  nlohmann::json reference;     // the dataset row's reference fields: answer, tests, ...
  int64_t completion_tokens = -1;  // length in tokens when known (length-shaping rewards)
  bool truncated = false;          // the completion hit the length limit
};

struct Score {
  double value = 0.0;
  std::map<std::string, double> components;  // per reward, unweighted, for logging
  std::string reason;                        // empty when there is nothing to say
  std::vector<std::string> failed;           // components that threw or ran out of time (metrics)
};

// A point in time after which a reward should give up (cooperative; the scorer enforces it anyway).
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  Deadline() : at_(Clock::time_point::max()) {}
  explicit Deadline(Clock::time_point at) : at_(at) {}
  static Deadline in(std::chrono::milliseconds ms) { return Deadline(Clock::now() + ms); }
  bool expired() const { return Clock::now() >= at_; }
  Clock::time_point at() const { return at_; }

 private:
  Clock::time_point at_;
};

// Thrown by a reward that noticed its deadline passed (the scorer reports it as "timeout").
struct DeadlineExceeded {};

// Components already computed for this sample by earlier rewards of the same set (e.g. a length
// reward that scales by correctness reads the "math" component).
using Components = std::map<std::string, double>;

// A reward that cannot go on (its plugin keeps crashing): not one sample's zero but the end of the
// run, with this line. RewardSet::score and BatchScorer::score let it through.
class RewardFatal : public Error {
 public:
  using Error::Error;
};

class Reward {
 public:
  virtual ~Reward() = default;
  // The component name (as in the config, or the "name" given there).
  virtual const std::string& name() const = 0;
  // Value and optional reason. May throw; may poll `deadline`.
  virtual Score score(const Sample& sample, const Components& earlier, const Deadline& deadline) const = 0;
};

}  // namespace r1::rewards

// The code reward: runs the completion's code against the sample's tests through a sandbox Runner
// (sandbox/runner.h) and scores the fraction of tests passed, or 1/0 for all-pass, by config.
//
// Code: the last fenced block (```python ... ```) in the <answer> block or, failing that, in the
// whole completion. Language: the fence's, else the sample's "language" field, else the config's
// default. Tests: the sample's "tests" field (as the runner's harness expects it).
//
// Config: {"name": "code", "mode": "fraction"|"pass_fail", "language": "python", "tests_field": "tests",
//          "time_budget_ms": 10000}. The kind judges code with the Runner its caller injects
// (RewardServices::code_runner, rewards/reward_set.h); without one, a config naming "code" is refused
// saying so.
#pragma once

#include <memory>

#include "rewards/reward.h"
#include "sandbox/runner.h"

namespace r1::rewards {

struct CodeOptions {
  bool fraction = true;  // false: 1 only when every test passes
  std::string language = "python";
  std::string tests_field = "tests";
};

class CodeReward : public Reward {
 public:
  CodeReward(std::string name, CodeOptions options, std::shared_ptr<sandbox::Runner> runner);
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components&, const Deadline& deadline) const override;

 private:
  std::string name_;
  CodeOptions options_;
  std::shared_ptr<sandbox::Runner> runner_;
};

struct CodeBlock {
  std::string language;  // "" when the fence names none
  std::string code;
};
// The last fenced code block of the text, or nullopt.
std::optional<CodeBlock> last_code_block(std::string_view text);

}  // namespace r1::rewards

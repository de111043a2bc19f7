// Format reward (DeepSeek-R1-Zero): the completion must be "<think> reasoning </think> <answer> answer
// </answer>", each tag exactly once, in that order, not nested, with non-empty contents.
//
//   strict   only whitespace before <think>, between </think> and <answer>, and after </answer>
//   lenient  any text outside the two blocks
// With partial_credit, a completion that fails still earns 0.25 for each of the four tags that
// appears exactly once (open-r1's tag-count reward); a valid one earns 1.
// Tags are configurable ("think_tag", "answer_tag").
#pragma once

#include <optional>
#include <string_view>

#include "rewards/reward.h"

namespace r1::rewards {

struct FormatOptions {
  std::string think_tag = "think";
  std::string answer_tag = "answer";
  bool strict = true;
  bool partial_credit = false;
};

class FormatReward : public Reward {
 public:
  FormatReward(std::string name, FormatOptions options) : name_(std::move(name)), options_(std::move(options)) {}
  const std::string& name() const override { return name_; }
  Score score(const Sample& sample, const Components&, const Deadline&) const override;

 private:
  std::string name_;
  FormatOptions options_;
};

// The text inside the first <tag>...</tag> (no nesting), or nullopt. Shared with other rewards that
// read the chain of thought or the answer.
std::optional<std::string_view> tag_content(std::string_view text, const std::string& tag);

}  // namespace r1::rewards

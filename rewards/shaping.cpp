#include "rewards/shaping.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/text.h"

namespace r1::rewards {
namespace {

int64_t length_of(const Sample& sample, const std::string& reward) {
  if (sample.completion_tokens < 0) {
    throw Error(reward + ": the sample has no completion_tokens (length in tokens)");
  }
  return sample.completion_tokens;
}

}  // namespace

OverlongReward::OverlongReward(std::string name, OverlongOptions options)
    : name_(std::move(name)), options_(options) {
  if (options_.max_length <= 0) throw ConfigError(name_ + ".max_length: must be positive");
  if (options_.buffer <= 0 || options_.buffer > options_.max_length) {
    throw ConfigError(name_ + ".buffer: must be in (0, max_length]");
  }
}

Score OverlongReward::score(const Sample& sample, const Components&, const Deadline&) const {
  int64_t length = length_of(sample, name_);
  int64_t safe = options_.max_length - options_.buffer;
  Score s;
  if (length <= safe) return s;
  if (length > options_.max_length) {
    s.value = -1.0;
    s.reason = "longer than max_length";
    return s;
  }
  s.value = static_cast<double>(safe - length) / static_cast<double>(options_.buffer);
  return s;
}

CosineLengthReward::CosineLengthReward(std::string name, CosineOptions options)
    : name_(std::move(name)), options_(std::move(options)) {
  if (options_.max_length <= 0) throw ConfigError(name_ + ".max_length: must be positive");
}

Score CosineLengthReward::score(const Sample& sample, const Components& earlier, const Deadline&) const {
  auto it = earlier.find(options_.correct_from);
  if (it == earlier.end()) {
    throw Error(name_ + ": needs the '" + options_.correct_from + "' reward listed before it in the same set");
  }
  bool correct = it->second >= options_.correct_threshold;
  double progress = std::min(1.0, static_cast<double>(length_of(sample, name_)) / static_cast<double>(options_.max_length));
  double c = std::cos(progress * M_PI);
  double lo = correct ? options_.min_value_correct : options_.max_value_wrong;
  double hi = correct ? options_.max_value_correct : options_.min_value_wrong;
  Score s;
  s.value = lo + (hi - lo) * (1.0 + c) / 2.0;
  return s;
}

MaxOfReward::MaxOfReward(std::string name, std::vector<std::string> of) : name_(std::move(name)), of_(std::move(of)) {
  if (of_.empty()) throw ConfigError(name_ + ".of: names no component (expected e.g. [\"math\", \"code\"])");
}

Score MaxOfReward::score(const Sample&, const Components& earlier, const Deadline&) const {
  Score s;
  bool any = false;
  for (const auto& c : of_) {
    auto it = earlier.find(c);
    if (it == earlier.end()) throw Error(name_ + ": needs the '" + c + "' reward listed before it in the same set");
    s.value = any ? std::max(s.value, it->second) : it->second;
    any = true;
  }
  return s;
}

RepetitionPenalty::RepetitionPenalty(std::string name, RepetitionOptions options)
    : name_(std::move(name)), options_(options) {
  if (options_.ngram_size < 1) throw ConfigError(name_ + ".ngram_size: must be at least 1");
  if (options_.max_penalty > 0) throw ConfigError(name_ + ".max_penalty: must be <= 0");
}

Score RepetitionPenalty::score(const Sample& sample, const Components&, const Deadline&) const {
  Score s;
  s.value = options_.max_penalty * repeated_ngram_fraction(sample.completion, options_.ngram_size) + 0.0;  // no -0
  return s;
}

}  // namespace r1::rewards

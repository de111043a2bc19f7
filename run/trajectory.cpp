// A trajectory's segments: see trajectory.h.
#include "run/trajectory.h"

#include <algorithm>

#include "core/error.h"

namespace r1::run {

std::vector<TrajectorySegment> trajectory_segments(const Tokenizer& tokenizer, const std::vector<int64_t>& ids,
                                                   const std::vector<uint8_t>& sampled) {
  if (!sampled.empty() && sampled.size() != ids.size())
    throw Error("trajectory: " + std::to_string(sampled.size()) + " sampled flags for " + std::to_string(ids.size()) +
                " tokens");
  std::vector<TrajectorySegment> out;
  std::vector<int32_t> run;
  for (size_t i = 0; i < ids.size();) {
    const bool train = sampled.empty() || sampled[i] != 0;
    run.clear();
    for (; i < ids.size() && (sampled.empty() || (sampled[i] != 0) == train); ++i) run.push_back(static_cast<int32_t>(ids[i]));
    out.push_back({tokenizer.decode(run, /*skip_special_tokens=*/false, /*clean_up_spaces=*/false), train});
  }
  return out;
}

bool has_appended(const std::vector<uint8_t>& sampled) {
  return std::any_of(sampled.begin(), sampled.end(), [](uint8_t s) { return s == 0; });
}

nlohmann::json segments_to_json(const std::vector<TrajectorySegment>& segments) {
  nlohmann::json out = nlohmann::json::array();
  for (const TrajectorySegment& s : segments) out.push_back({{"text", s.text}, {"train", s.train}});
  return out;
}

std::vector<TrajectorySegment> segments_from_json(const nlohmann::json& segments, const std::string& where) {
  if (!segments.is_array() || segments.empty())
    throw ConfigError(where + ": expected a non-empty array of {\"text\": string, \"train\": bool}");
  std::vector<TrajectorySegment> out;
  for (size_t i = 0; i < segments.size(); ++i) {
    const nlohmann::json& s = segments[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!s.is_object()) throw ConfigError(at + ": expected an object {\"text\": string, \"train\": bool}");
    if (!s.contains("text") || !s["text"].is_string() || s["text"].get_ref<const std::string&>().empty())
      throw ConfigError(at + ".text: expected a non-empty string");
    if (!s.contains("train") || !s["train"].is_boolean()) throw ConfigError(at + ".train: expected true or false");
    out.push_back({s["text"].get<std::string>(), s["train"].get<bool>()});
  }
  if (std::none_of(out.begin(), out.end(), [](const TrajectorySegment& s) { return s.train; }))
    throw ConfigError(where + ": no segment has \"train\": true (nothing to train on)");
  return out;
}

}  // namespace r1::run

// A multi-turn trajectory (tool use: rollout/tools.h) as text segments, the form rejection sampling
// writes and SFT reads (no LibTorch). A trajectory's ids alternate between runs the model sampled (its
// turns: trained on) and runs the rollout engine appended (tool messages and the template text around
// them: context only). Each run is decoded on its own with special tokens kept ("<|im_end|>" stays
// text), so encoding a segment's text on its own gives back the ids the engine appended and, for
// tokenizers whose decoding round-trips (byte-level BPE: Qwen, Llama 3, r1's byte tokenizer), the ids
// the model sampled.
//
// JSON: [{"text": "...", "train": true}, {"text": "...", "train": false}, ...].
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace r1::run {

struct TrajectorySegment {
  std::string text;
  bool train = true;  // the model sampled it
  bool operator==(const TrajectorySegment&) const = default;
};

// Splits `ids` into maximal runs of equal `sampled` flags (1: sampled, 0: appended; empty: every token
// sampled, one segment), each decoded without skipping special tokens or cleaning up spaces. No ids:
// no segments. A `sampled` of another length than `ids` is an r1::Error.
std::vector<TrajectorySegment> trajectory_segments(const Tokenizer& tokenizer, const std::vector<int64_t>& ids,
                                                   const std::vector<uint8_t>& sampled);

// True when some token was appended rather than sampled.
bool has_appended(const std::vector<uint8_t>& sampled);

nlohmann::json segments_to_json(const std::vector<TrajectorySegment>& segments);
// Reads a "segments" value. `where` names it ("data.jsonl:3: segments"); a value that is not a
// non-empty array, a segment that is not an object, has no non-empty string "text" or a "train" that
// is not a bool, or no segment trained at all is an r1::ConfigError naming the key
// ("data.jsonl:3: segments[1].train: expected true or false").
std::vector<TrajectorySegment> segments_from_json(const nlohmann::json& segments, const std::string& where);

}  // namespace r1::run

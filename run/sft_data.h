// Supervised fine-tuning data (no LibTorch): conversations → token ids with a loss mask on the
// assistant's tokens only → packed rows of a fixed length.
//
// A dataset line is {"messages": [{"role", "content"}, ...]} (at least one assistant turn), or
// {"prompt": "...", "completion": "..."} (one user turn, one assistant turn), or a multi-turn
// trajectory with tool use (what the rejection-sample stage keeps from a stage with tools):
//   {"prompt": "..." | "messages": [...], "segments": [{"text": "...", "train": true|false}, ...]}
// Lines may carry other fields; they are ignored.
//
// Each turn is tokenised on its own: the template renders the conversation up to each turn, and the
// text a turn adds (its header, content and end marker) is encoded separately. The template must be
// prefix-stable (the rendering of turns 0..i is a prefix of the rendering of turns 0..i+1); every
// template r1 ships is. An assistant turn's tokens — its content and the end-of-turn marker, so the
// model learns to stop — are trained on; the generation prompt before them ("<|im_start|>assistant\n",
// "Assistant:") and every system and user token are not. When the template ends an assistant turn
// with no special token (r1-zero), the tokenizer's end-of-text token is appended to it.
//
// A trajectory row (run/trajectory.h) is tokenised as the rollout engine produced it: the prompt
// rendered through the template with the generation prompt ("prompt" as the one user turn, or the
// "messages"), context; then each segment's text encoded on its own and appended, trained where
// "train" is true (the model's turns) and context where it is false (tool messages and the template
// text around them). When the last segment is trained, the end-of-turn rule above applies to it:
// trained up to its last special token, or, with none (r1-zero's turns), the end-of-text token
// appended and trained. The template must be the one the trajectory was sampled with.
//
// Packing: examples are laid end to end in rows of seq_len tokens; position ids restart at 0 for
// each example, so attention stays within it (Transformer::forward(packed)). An example longer than
// a row is cut to seq_len (counted). The rest of a row is end-of-text padding, never trained on.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "run/trajectory.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::run {

struct SftExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> train;  // train[i]: ids[i] is a target the loss counts
  int64_t trained() const;
};

// Tokenises one conversation; `where` prefixes errors ("data.jsonl:3").
SftExample tokenize_conversation(const std::vector<ChatMessage>& messages, const ChatTemplate& chat,
                                 const Tokenizer& tokenizer, const std::string& where);

// Tokenises one trajectory row: `prompt` rendered with the generation prompt, then `segments`.
SftExample tokenize_trajectory(const std::vector<ChatMessage>& prompt, const std::vector<TrajectorySegment>& segments,
                               const ChatTemplate& chat, const Tokenizer& tokenizer, const std::string& where);

// One dataset line (schema above) tokenised; `where` ("data.jsonl:3") prefixes its ConfigErrors,
// which name the key at fault.
SftExample tokenize_row(const nlohmann::json& row, const ChatTemplate& chat, const Tokenizer& tokenizer,
                        const std::string& where);

struct SftDataset {
  std::vector<SftExample> examples;
  size_t skipped = 0;  // malformed lines left out (skip_bad_lines)
  // Reads JSON lines (schema above). A malformed line is an r1::ConfigError naming file:line, or with
  // skip_bad_lines a warning and the line left out. No usable example at all is an error.
  static SftDataset load(const std::string& path, const ChatTemplate& chat, const Tokenizer& tokenizer,
                         bool skip_bad_lines);
};

struct PackedRow {
  std::vector<int32_t> ids;        // seq_len + 1: inputs are ids[0..seq_len), targets ids[1..seq_len]
  std::vector<int32_t> positions;  // seq_len, restarting at 0 at each example (and the padding)
  std::vector<uint8_t> train;      // seq_len: target t (= ids[t + 1]) counts in the loss
  int64_t trained() const;
};

struct PackStats {
  int64_t rows = 0, examples = 0, cut = 0, trained_tokens = 0, padding = 0;
};

// Packs examples[order[0]], examples[order[1]], ... into rows (greedy, in order; an example that does
// not fit in what is left of a row starts the next one).
std::vector<PackedRow> pack_examples(const std::vector<SftExample>& examples, const std::vector<size_t>& order,
                                     int64_t seq_len, int32_t pad_id, PackStats* stats = nullptr);

}  // namespace r1::run

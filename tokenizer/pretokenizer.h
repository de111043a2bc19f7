// Normalizers and pre-tokenizers of Hugging Face tokenizer.json, the steps before BPE:
//
//   text section --normalizer--> normalized text --pre-tokenizers--> words --BPE--> ids
//
// Supported normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence.
// Supported pre-tokenizers: Split (regex or string, all five delimiter behaviours, invert),
// ByteLevel (with or without the GPT-2 regex, add_prefix_space), Digits, Whitespace,
// WhitespaceSplit, Punctuation, Sequence. Any other type is refused by name when loading.
//
// Words are string_views into the normalized section; a pre-tokenizer that has to change text
// (ByteLevel's add_prefix_space) stores the changed word in an arena owned by the caller.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string normalize(std::string text) const = 0;
};

struct WordArena {
  std::deque<std::string> strings;  // deque: growing it never moves earlier strings
  std::string_view keep(std::string s) { return strings.emplace_back(std::move(s)); }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` with their further split.
  virtual void split(std::vector<std::string_view>& words, WordArena& arena) const = 0;
};

// Each throws r1::Error naming the unsupported type (json may be null: returns nullptr).
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config);
// `byte_level` is set when the pipeline contains a ByteLevel pre-tokenizer (BPE then starts from bytes).
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, bool& byte_level);

}  // namespace r1

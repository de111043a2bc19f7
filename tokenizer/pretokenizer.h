// Normalizers and pre-tokenizers of Hugging Face tokenizer.json, the steps before BPE:
//
//   text section --normalizer--> normalized text --pre-tokenizers--> words --BPE--> ids
//
// Supported normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence.
// Supported pre-tokenizers: Split (regex or string, all five delimiter behaviours, invert),
// ByteLevel (with or without the GPT-2 regex, add_prefix_space), Metaspace (SentencePiece's
// spaces as "▁": replacement, prepend_scheme always/first/never or the legacy add_prefix_space,
// split), Digits, Whitespace, WhitespaceSplit, Punctuation, Sequence. Any other type is refused by
// name when loading.
//
// Words are string_views into the normalized section; a pre-tokenizer that has to change text
// (ByteLevel's add_prefix_space, Metaspace) stores the changed word in an arena owned by the caller.
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
  // Where the input text's first byte lies in the section being split (nullptr when the section
  // starts later): Metaspace's prepend_scheme "first" prepends only to the word starting there,
  // as tokenizers prepends only to the split whose original offset is 0.
  const char* text_start = nullptr;
  std::string_view keep(std::string s) { return strings.emplace_back(std::move(s)); }
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `words` with their further split.
  virtual void split(std::vector<std::string_view>& words, WordArena& arena) const = 0;
};

// Metaspace's prepend_scheme (pre-tokenizer and decoder): "always" by default; the legacy
// add_prefix_space: false means "never" (and contradicts any other declared scheme, as tokenizers
// says). `where` names the part for the error message.
enum class PrependScheme { kAlways, kFirst, kNever };
PrependScheme metaspace_prepend_scheme(const nlohmann::json& config, const char* where);

// Each throws r1::Error naming the unsupported type (json may be null: returns nullptr).
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config);
// `byte_level` is set when the pipeline contains a ByteLevel pre-tokenizer (BPE then starts from bytes).
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config, bool& byte_level);

}  // namespace r1

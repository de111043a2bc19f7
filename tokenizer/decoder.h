// Decoders of Hugging Face tokenizer.json: token strings back to text, step by step as
// `tokenizers` runs them (each step maps the list of token strings to a new list; the final list is
// concatenated).
//
// Supported steps: ByteLevel, Replace (String or Regex pattern), ByteFallback, Fuse,
// Strip (content/start/stop), Metaspace (replacement, prepend_scheme or the legacy
// add_prefix_space), and Sequence of these. Any other type is refused by name when loading.
//
// SentencePiece-lineage files (Llama 2, Gemma, Mistral's older ones) decode with
// Replace("▁" -> " "), ByteFallback, Fuse and Strip(" ", 1, 0), or with Metaspace.
//
// Streaming (DecoderStream) is exact: the concatenation of every push() and finish() equals
// decode() of the same tokens. What a token's text depends on decides what is held back:
//   * ByteFallback: a run of <0xNN> tokens is held until a non-byte token ends it, because one
//     invalid byte anywhere in the run turns the whole run into one U+FFFD per byte;
//   * ByteLevel: bytes of a character split across tokens are held until it is complete;
//   * after Fuse, Strip acts on the start and end of the whole text: the first `start` chars are
//     stripped as they come, a trailing run of up to `stop` content chars is held until more text
//     follows; Replace with a String pattern holds a tail that may start a match.
// A chain whose fused text would need more than that (a Regex Replace, ByteFallback or ByteLevel
// after Fuse: no known file) is streamed by holding every token until finish().
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class Regex;

class DecoderChain {
 public:
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
  struct Step {
    Kind kind;
    std::string pattern;                  // Replace: the String pattern (empty when `regex` is set)
    std::shared_ptr<const Regex> regex;   // Replace: the Regex pattern
    std::string content;                  // Replace: replacement text
    char32_t strip_char = U' ';           // Strip: content; Metaspace: replacement
    size_t start = 0, stop = 0;           // Strip
    bool strip_first = true;              // Metaspace: prepend_scheme is not "never"
  };

  // `config` may be null (no decoder: tokens are joined with single spaces). Throws r1::Error
  // naming an unsupported decoder type.
  static DecoderChain from_json(const nlohmann::json& config);

  // No decoder at all (an empty Sequence is a decoder: it joins tokens without spaces).
  bool empty() const { return !present_; }
  // True when the chain is exactly one ByteLevel step (byte-level BPE: the tokenizer decodes those
  // through a faster path of its own).
  bool byte_level_only() const { return steps_.size() == 1 && steps_[0].kind == Kind::kByteLevel; }
  const std::vector<Step>& steps() const { return steps_; }

  // Decodes token strings as tokenizers' Decoder::decode does (without a decoder: joined by " ").
  std::string decode(std::vector<std::string> tokens) const;

 private:
  std::vector<Step> steps_;
  bool present_ = false;
};

// Incremental decoding through a DecoderChain (see the header comment for what it holds back).
class DecoderStream {
 public:
  explicit DecoderStream(const DecoderChain& chain);
  // Feeds one token's string; returns the text that became final.
  std::string push(std::string_view token);
  std::string finish();

 private:
  void feed(size_t step, std::string element, std::string& out);
  void flush(size_t from_step, std::string& out);
  void fused(std::string_view text, std::string& out);
  void post(size_t step, std::string text, std::string& out, bool last);

  const DecoderChain& chain_;
  size_t fuse_at_;           // index of the first Fuse/ByteLevel step (steps().size() when none)
  bool hold_all_ = false;    // the chain is not streamable: every token waits for finish()
  std::vector<std::string> held_tokens_;
  std::vector<size_t> seen_;           // per step: elements it has processed (Metaspace's first one)
  std::vector<std::string> byte_runs_; // per ByteFallback step: the <0xNN> bytes of the open run
  std::vector<std::string> tails_;     // per step after fusion: text held back
  std::vector<size_t> stripped_;       // per Strip step after fusion: leading chars looked at
  std::string pending_bytes_;          // ByteLevel fusion: bytes of an incomplete character
};

// ByteLevel for one token: its characters back to bytes, appended to `bytes` (a token with a
// character outside the byte alphabet, such as "<｜User｜>", contributes its own UTF-8, as in
// `tokenizers`); the caller reads the bytes as UTF-8 once all are in.
void append_byte_level(std::string_view token, std::string& bytes);

}  // namespace r1

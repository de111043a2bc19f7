// r1's tokenizer: loads a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) and gives the same
// ids as Hugging Face: byte-level BPE models (Qwen2/2.5/3, DeepSeek-V3/R1, Llama-3, GPT-2) and
// SentencePiece-lineage character BPE models (Gemma, Llama 2, Mistral's older files).
//
// encode(text):
//   1. added tokens (special tokens like <|im_end|>, and others like <think>) are split out first,
//      leftmost-longest, honouring lstrip / rstrip / single_word / normalized;
//   2. each remaining section is normalized (e.g. NFC, or " " -> "▁") and pre-tokenized into words
//      (regex Split, ByteLevel, Metaspace, Digits, ...; see pretokenizer.h);
//   3. each word is BPE-encoded (bpe.h; <0xNN> byte fallback), with a per-thread word cache;
//   4. with add_special_tokens, the post-processor adds BOS/EOS as Hugging Face does.
// decode(ids) runs the file's decoder chain (decoder.h): ByteLevel maps tokens back to bytes and
// replaces invalid UTF-8 by U+FFFD; SentencePiece chains turn "▁" into spaces, join <0xNN> runs and
// strip the space the encoder prepended. DecodeStream decodes token by token, holding back only what a
// later token could still change.
//
// Input text must be valid UTF-8: anything else is an r1::Error naming the byte offset.
// Unsupported files (Unigram, WordPiece, unknown normalizers/pre-tokenizers/decoders) are refused
// by name when loading, never tokenized wrongly.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class ThreadPool;
class DecoderStream;
struct BpeSpec;

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

class Tokenizer {
 public:
  // `path`: a tokenizer.json file, or a model folder holding tokenizer.json (and optionally
  // tokenizer_config.json, read from the same folder when present).
  static Tokenizer load(const std::string& path);
  // From parsed files; `config` may be null.
  static Tokenizer from_json(const nlohmann::json& tokenizer, const nlohmann::json* config);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;
  // Encodes many texts on a thread pool (nullptr: on the calling thread).
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts, bool add_special_tokens,
                                                 ThreadPool* pool) const;
  // Throws r1::Error for an id outside the vocabulary. `clean_up_spaces`: transformers'
  // clean_up_tokenization_spaces (" 's" -> "'s", " ." -> "."); by default as tokenizer_config.json says.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false,
                     std::optional<bool> clean_up_spaces = std::nullopt) const;

  size_t vocab_size() const;  // largest id + 1, added tokens included
  std::optional<int32_t> token_to_id(std::string_view token) const;
  std::string id_to_token(int32_t id) const;  // "" for an unused id
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

  // From tokenizer_config.json (or the post-processor): nullopt when the model has none.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  std::optional<int32_t> pad_id() const;
  std::string bos_token() const;
  std::string eos_token() const;
  // The text of a special token of tokenizer_config.json by its key there ("bos_token", "eos_token",
  // "unk_token", "pad_token"); "" when it has none.
  std::string special_token_text(std::string_view key) const;
  // The Jinja chat templates, as transformers finds them: chat_template.jinja beside the tokenizer,
  // else tokenizer_config.json's chat_template (a string is "default"; a list of {"name",
  // "template"} gives each its name), plus additional_chat_templates/NAME.jinja. Empty if none.
  const std::vector<std::pair<std::string, std::string>>& chat_templates() const;
  // The "default" one ("" if none); the tokenizer_class of tokenizer_config.json.
  const std::string& chat_template() const;
  const std::string& tokenizer_class() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  // `tokenizer` is tokenizer.json (its model's vocab and merges may be absent: they come in `spec`).
  static Tokenizer build(const nlohmann::json& tokenizer, const BpeSpec& spec, const nlohmann::json* config);
  friend class DecodeStream;
  std::unique_ptr<Impl> impl_;
};

// Incremental decoding for streaming output: step(id) returns the text that became final.
// Concatenating every step() and finish() equals decode(ids, skip, /*clean_up_spaces=*/false): like
// Hugging Face's DecodeStream, streaming never applies the clean-up, whose rules span tokens.
class DecodeStream {
 public:
  explicit DecodeStream(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  ~DecodeStream();
  std::string step(int32_t id);
  std::string finish();  // flushes what was held back (a dangling partial character as U+FFFD)

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;  // ByteLevel: bytes of a character not yet complete
  bool started_ = false;  // tokenizers without a decoder join tokens with spaces
  std::unique_ptr<DecoderStream> chain_;  // any other decoder chain (decoder.h says what it holds back)
};

}  // namespace r1

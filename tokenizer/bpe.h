// Byte-pair encoding (the `BPE` model of Hugging Face tokenizer.json).
//
// A word (one pre-token) starts as one symbol per byte (byte-level vocabularies: GPT-2, Llama-3,
// Qwen, DeepSeek) or per character (character vocabularies, with unk / byte_fallback). Then, over
// and over, the adjacent pair whose merge has the lowest rank is merged, leftmost first on ties,
// until no adjacent pair has a merge. That is the rule of `tokenizers` (word.rs) and of every port.
// Merges are looked up by the pair of symbol ids; a word of n symbols costs O(n log n) with a heap.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace r1 {

// GPT-2's reversible map between bytes and printable code points ("Ġ" is the space byte 0x20).
struct ByteLevelAlphabet {
  ByteLevelAlphabet();
  char32_t byte_to_char[256];
  // code point -> byte, -1 when the code point is not in the alphabet (index < 512 covers it all)
  int16_t char_to_byte[512];
  int byte_of(char32_t cp) const { return cp < 512 ? char_to_byte[cp] : -1; }
};
const ByteLevelAlphabet& byte_level_alphabet();

// The parts of tokenizer.json's "model" object BPE needs. The big tables are views into the parsed
// file (so loading a 150k-token vocabulary copies each string once, into the model).
struct BpeSpec {
  const nlohmann::json* options = nullptr;  // the model object without vocab/merges (dropout, unk_token, ...)
  std::vector<std::pair<std::string_view, int64_t>> vocab;
  std::vector<std::pair<std::string_view, std::string_view>> merges;
  // Fills vocab and merges from a parsed model object (views into `model`).
  static BpeSpec from_json(const nlohmann::json& model);
};

class Bpe {
 public:
  // `byte_level`: words arrive as raw bytes and each byte starts as the symbol of its ByteLevel
  // character.
  Bpe(const BpeSpec& spec, bool byte_level);
  ~Bpe();

  // Appends the ids of one word. `word` is raw UTF-8 (byte-level) or text (character vocabularies).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

  const std::vector<std::string>& id_to_token() const { return id_to_token_; }
  // -1 when the token is not in the vocabulary.
  int32_t lookup(std::string_view token) const;
  bool byte_level() const { return byte_level_; }

 private:
  struct MergeValue {
    int32_t rank;
    int32_t new_id;
  };
  class MergeTable;

  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;
  void merge(std::vector<int32_t>& ids) const;
  // encode_word for one piece, through the per-thread word cache.
  void encode_piece(std::string_view word, std::vector<int32_t>& out) const;
  // Where a SentencePiece word may be cut before a "▁" (see split_at_space_).
  bool can_split_before(std::string_view word, size_t pos) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  bool byte_level_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> token_to_id_;
  std::unique_ptr<MergeTable> merges_;
  int32_t byte_ids_[256];  // byte-level: the symbol id of each byte (-1 if missing)
  int32_t unk_id_ = -1;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  // SentencePiece vocabularies come without a pre-tokenizer, so a whole text section is one word
  // and BPE on it is slow and uncached. A merge never crosses a boundary x|"▁" unless some merge
  // joins a symbol ending in x to one starting with "▁": with x not "▁" and not one of those
  // (`glue_before_space_`, e.g. ">" for Gemma's ">▁</"), the word is cut there and the pieces are
  // encoded (and cached) on their own, with the same result.
  bool split_at_space_ = false;
  std::vector<char32_t> glue_before_space_;
  bool split_after_ascii_[128] = {};  // can_split_before's answer for an ASCII character, precomputed
  int32_t ascii_ids_[128];            // character vocabularies: the token of each ASCII character (-1: none)
  uint64_t cache_tag_;  // identifies this model's entries in the per-thread word cache
};

}  // namespace r1

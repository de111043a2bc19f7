// Internal to the tokenizer (tokenizer.h): what a loaded tokenizer holds. tokenizer_load.cpp
// builds it from tokenizer.json; tokenizer.cpp encodes and decodes with it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Bpe> bpe;
  bool byte_level = false;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> added_by_content;
  size_t vocab_size = 0;               // largest id + 1 over model and added tokens
  std::vector<int32_t> added_index;    // id -> index into `added`, or -1 for a model token
  std::vector<int8_t> special;         // id -> 1 when an added special token

  // The text of a token ("" for an id no token uses).
  const std::string& token_text(int32_t id) const {
    static const std::string kNone;
    if (int32_t a = added_index[id]; a >= 0) return added[a].content;
    const auto& model = bpe->id_to_token();
    return static_cast<size_t>(id) < model.size() ? model[id] : kNone;
  }
  AddedTokenMatcher raw_matcher;        // tokens matched before normalization
  AddedTokenMatcher normalized_matcher; // tokens matched in normalized text
  std::vector<int32_t> prefix_ids, suffix_ids;  // added by add_special_tokens
  DecoderChain decoder;
  bool byte_level_decoder = false;     // the decoder is exactly ByteLevel: decoded through bytes directly
  bool clean_up_spaces = false;
  std::optional<int32_t> bos, eos, pad;
  std::string bos_text, eos_text, unk_text, pad_text;
  std::vector<std::pair<std::string, std::string>> chat_templates;  // name -> Jinja source; "default" first
  std::string tokenizer_class;

  // Encodes one section of text between added tokens: normalize, match the normalized added tokens,
  // pre-tokenize, BPE (tokenizer.cpp). `at_start`: the section begins the input text.
  void encode_section(std::string_view text, bool at_start, std::vector<int32_t>& ids) const;
  // The text of a token for decoding; throws r1::Error for an id outside the vocabulary.
  const std::string& checked_token(int32_t id) const;
  // Appends the bytes of one token through the ByteLevel alphabet (byte_level_decoder).
  void append_token_bytes(int32_t id, std::string& out) const;
};

}  // namespace r1

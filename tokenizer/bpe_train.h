// Byte-level BPE training: learns merges on a corpus and writes a Hugging Face tokenizer.json that
// r1's own loader (tokenizer.h) and Hugging Face load, so r1 can make a compact tokenizer for its
// small synthetic models (a ~400-byte prompt template becomes a few dozen tokens instead of 400).
//
// The tokenizer has Qwen2's pipeline without its NFC normalizer (so decode(encode(x)) == x for any
// UTF-8 text): special tokens split out first, then Qwen2's split regex (one pre-token per digit, so
// numbers are always single-digit tokens), then ByteLevel without a prefix space, then BPE.
// Ids: 0-255 the bytes (GPT-2's byte alphabet, as write_byte_tokenizer), then one id per learnt token
// in merge order, then the special tokens. tokenizer_config.json mirrors write_byte_tokenizer's:
// <|endoftext|> is eos and pad, no bos, a ChatML chat template when <|im_start|>/<|im_end|> exist.
//
// Training is standard BPE: pre-token frequencies are counted (on a thread pool), then the most
// frequent adjacent pair is merged, over and over, with pair counts updated incrementally. Ties go to
// the pair whose token bytes are lexicographically smallest (first token, then second), so the same
// input always gives a byte-identical tokenizer.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace r1 {

struct BpeTrainOptions {
  // Total size: 256 bytes + learnt tokens + special tokens. Training stops earlier when no adjacent
  // pair occurs at least min_frequency times.
  int64_t vocab_size = 1024;
  int64_t min_frequency = 2;
  // Never split or merged; text equal to one encodes as its single id (special: true).
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  size_t threads = 0;  // for counting pre-tokens; 0: one per core
};

// Trains on `texts` (valid UTF-8) and writes tokenizer.json and tokenizer_config.json into `dir`
// (created when missing). Throws r1::Error for a vocab_size below 256 + the special tokens, an empty,
// repeated or non-UTF-8 special token, a text that is not UTF-8 (naming it) and a folder or file that
// cannot be written (naming the path). An empty corpus gives a valid byte-only tokenizer.
void train_byte_tokenizer(const std::vector<std::string>& texts, const BpeTrainOptions& options,
                          const std::string& dir);

}  // namespace r1

// r1's built-in tokenizer: byte-level BPE with no merges — one token per byte (ids 0-255, GPT-2's
// byte-to-character alphabet) and three special tokens (<|endoftext|> 256, <|im_start|> 257,
// <|im_end|> 258) with a ChatML chat template. It needs no file from anywhere, so `r1 model init` can
// make a complete model folder on a machine with nothing downloaded; any Hugging Face tokenizer loads it.
#pragma once

#include <string>

namespace r1 {

inline constexpr int kByteTokenizerVocab = 259;

// Writes tokenizer.json and tokenizer_config.json into `dir` (which must exist).
void write_byte_tokenizer(const std::string& dir);

}  // namespace r1

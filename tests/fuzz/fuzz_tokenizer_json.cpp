// libFuzzer target: arbitrary bytes as a tokenizer.json file. Loading must either succeed or fail
// with r1::Error (one message naming the file); whatever loads must encode and decode text.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/r1_fuzz_tokenizer_" + std::to_string(getpid()) + ".json";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    r1::Tokenizer tok = r1::Tokenizer::load(path);
    auto ids = tok.encode("Hello world <|end|> 123 日本");
    tok.decode(ids);
  } catch (const r1::Error&) {
  }
  return 0;
}

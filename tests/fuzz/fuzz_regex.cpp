// libFuzzer target: any byte string as a tokenizer regex. It must either compile or be refused with
// r1::Error; a compiled pattern must run on text (including itself) without crashing or looping.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string pattern(reinterpret_cast<const char*>(data), size);
  try {
    r1::Regex re(pattern);
    std::vector<char32_t> cps;
    std::vector<uint32_t> offsets;
    std::vector<std::pair<uint32_t, uint32_t>> matches;
    for (const std::string& text : {std::string("Hello world  123 's\n\t日本語 👍🏽"), pattern}) {
      if (r1::unicode::decode(text, cps, offsets)) continue;
      re.find_all(cps.data(), cps.size(), matches);
      uint32_t last = 0;
      for (auto [b, e] : matches) {
        if (b < last || e <= b || e > cps.size()) __builtin_trap();  // ordered, non-empty, in range
        last = e;
      }
    }
  } catch (const r1::Error&) {
  }
  return 0;
}

// libFuzzer target: the safetensors header parser on arbitrary bytes (the whole input is the file).
// Any input must either parse into ranges that lie inside the file and tile its data, or throw r1::Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include "checkpoint/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto h = r1::checkpoint::parse_safetensors_header("fuzz.safetensors", data, size, size);
    uint64_t at = 0;
    for (const auto& t : h.tensors) {
      if (t.begin != at || t.end < t.begin || h.data_start + t.end > size) std::abort();
      if (t.numel() * r1::checkpoint::dtype_size(t.dtype) != t.bytes()) std::abort();
      at = t.end;
    }
    if (h.data_start + at != size) std::abort();
  } catch (const r1::Error&) {
  }
  return 0;
}

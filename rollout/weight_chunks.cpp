#include "rollout/weight_chunks.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace r1::rollout {

static_assert(std::endian::native == std::endian::little, "tensor bytes travel little-endian");

namespace {

// Inlined into the loop below (an exported function is not, in position-independent code).
inline uint16_t to_bf16(uint32_t bits) {
  const uint32_t nan = (bits >> 16) | 0x0040u, rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>((bits & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

}  // namespace

uint16_t bf16_from_f32(uint32_t bits) { return to_bf16(bits); }

void bf16_from_f32(const void* f32, void* bf16, size_t n) {
  // Branch-free, element by element: the compiler turns it into vector instructions (~8x the
  // scalar rate; the conversion was a tenth of a weight push).
  const auto* src = static_cast<const unsigned char*>(f32);
  auto* dst = static_cast<unsigned char*>(bf16);
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, src + i * 4, 4);
    const uint16_t half = to_bf16(bits);
    std::memcpy(dst + i * 2, &half, 2);
  }
}

void for_each_chunk(const WeightTensor& t, size_t chunk_bytes, bool as_f32, v1::TensorChunk& chunk, const SendChunk& send) {
  v1::TensorChunk unused;
  for_each_chunk_and_delta(t, chunk_bytes, as_f32, nullptr, chunk, send, unused, {});
}

namespace {

// The bitmap and values of the elements of `now` that differ from `before` (n elements of type E);
// returns how many. Groups of 8 elements (one bitmap byte) are compared as whole 64-bit words first.
template <typename E>
size_t mark_changed(const uint8_t* now, const uint8_t* before, size_t n, uint8_t* map, uint8_t* values) {
  constexpr size_t kGroup = 8 * sizeof(E), kWords = kGroup / 8;
  size_t changed = 0;
  for (size_t g = 0; g < n; g += 8) {
    const size_t count = std::min<size_t>(8, n - g);
    const uint8_t* a = now + g * sizeof(E);
    const uint8_t* b = before + g * sizeof(E);
    if (count == 8) {
      uint64_t diff = 0;
      for (size_t w = 0; w < kWords; ++w) {
        uint64_t x, y;
        std::memcpy(&x, a + w * 8, 8);
        std::memcpy(&y, b + w * 8, 8);
        diff |= x ^ y;
      }
      if (diff == 0) {
        map[g / 8] = 0;
        continue;
      }
    }
    // Branch-free: every value is written at the next free place, which moves on only for a change
    // (the buffer has room for all n).
    unsigned bits = 0;
    for (size_t k = 0; k < count; ++k) {
      E x, y;
      std::memcpy(&x, a + k * sizeof(E), sizeof(E));
      std::memcpy(&y, b + k * sizeof(E), sizeof(E));
      const unsigned differs = x != y;
      bits |= differs << k;
      std::memcpy(values + changed * sizeof(E), &x, sizeof(E));
      changed += differs;
    }
    map[g / 8] = static_cast<uint8_t>(bits);
  }
  return changed;
}

}  // namespace

bool encode_delta(const uint8_t* now, const uint8_t* before, size_t bytes, size_t element_bytes, v1::TensorChunk& chunk) {
  const size_t elements = bytes / element_bytes, map_bytes = (elements + 7) / 8;
  std::string* data = chunk.mutable_data();
  data->resize(map_bytes + bytes);  // the largest it can be; cut to size below
  auto* map = reinterpret_cast<uint8_t*>(data->data());
  const size_t changed = element_bytes == 2 ? mark_changed<uint16_t>(now, before, elements, map, map + map_bytes)
                                            : mark_changed<uint32_t>(now, before, elements, map, map + map_bytes);
  if (changed == 0) return false;
  const size_t sparse = map_bytes + changed * element_bytes;
  if (sparse < bytes) {
    data->resize(sparse);
    chunk.set_encoding(v1::CHUNK_ENCODING_CHANGED);
    chunk.set_span(bytes);
  } else {
    data->assign(reinterpret_cast<const char*>(now), bytes);
    chunk.set_encoding(v1::CHUNK_ENCODING_DENSE);
    chunk.set_span(0);
  }
  return true;
}

WireDtype wire_dtype(const WeightTensor& t, bool as_f32) {
  return t.dtype == WireDtype::kF32 && !as_f32 ? WireDtype::kBf16 : t.dtype;
}

size_t wire_bytes(const WeightTensor& t, bool as_f32) {
  return wire_dtype(t, as_f32) == t.dtype ? t.bytes : t.bytes / 2;
}

void describe_tensor(const WeightTensor& t, bool as_f32, v1::TensorChunk& chunk) {
  chunk.set_name(t.name);
  chunk.set_dtype(wire_name(wire_dtype(t, as_f32)));
  chunk.clear_shape();
  for (int64_t d : t.shape) chunk.add_shape(d);
}

void for_each_chunk_and_delta(const WeightTensor& t, size_t chunk_bytes, bool as_f32, std::vector<uint8_t>* previous,
                              v1::TensorChunk& full_chunk, const SendChunk& full, v1::TensorChunk& delta_chunk,
                              const SendChunk& delta) {
  const WireDtype wire = wire_dtype(t, as_f32);
  const bool convert = wire != t.dtype;
  const size_t total = wire_bytes(t, as_f32), element = element_bytes(wire);
  const size_t step = std::max<size_t>(chunk_bytes / 4 * 4, 4);  // whole elements in every chunk
  describe_tensor(t, as_f32, full_chunk);
  describe_tensor(t, as_f32, delta_chunk);
  const bool had_previous = previous && previous->size() == total;
  if (previous && !had_previous) previous->assign(total, 0);
  std::string converted;
  const auto* src = static_cast<const char*>(t.data);
  size_t offset = 0;
  do {
    const size_t len = std::min(step, total - offset);
    // This region's wire bytes: converted (into the full chunk when it is wanted, which then holds
    // them without a second copy) or the caller's own.
    const uint8_t* now = reinterpret_cast<const uint8_t*>(src + offset);
    if (convert) {
      std::string* into = full ? full_chunk.mutable_data() : &converted;
      into->resize(len);
      bf16_from_f32(src + offset * 2, into->data(), len / 2);
      now = reinterpret_cast<const uint8_t*>(into->data());
    } else if (full) {
      full_chunk.set_data(src + offset, len);
    }
    if (delta) {
      delta_chunk.set_offset(offset);
      bool changed = true;
      if (had_previous) {
        changed = encode_delta(now, previous->data() + offset, len, element, delta_chunk);
      } else {
        delta_chunk.set_data(now, len);
        delta_chunk.set_encoding(v1::CHUNK_ENCODING_DENSE);
        delta_chunk.set_span(0);
      }
      if (changed) delta(delta_chunk);
    }
    if (previous && len) std::memcpy(previous->data() + offset, now, len);
    if (full) {
      full_chunk.set_offset(offset);
      full(full_chunk);
    }
    offset += len;
  } while (offset < total);
}

}  // namespace r1::rollout

// A weight update's tensors on the wire (proto/rollout.proto's TensorChunk): each tensor cut into
// chunks of whole elements, F32 rounded to bf16 unless asked to stay F32. The client
// (rollout/client_weights.cpp) builds each chunk once and writes it to every worker; the worker
// (inference/server.cpp) reassembles them by name and offset. No LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "proto/rollout.pb.h"
#include "rollout/client.h"

namespace r1::rollout {

// F32 bits to bf16 bits: round to nearest, ties to even; a NaN stays a NaN (quiet, sign kept).
uint16_t bf16_from_f32(uint32_t bits);
// The same over n elements (unaligned pointers are fine).
void bf16_from_f32(const void* f32, void* bf16, size_t n);

// Calls `send` with each chunk of `t` in order: name, dtype (BF16 where an F32 tensor is converted),
// shape, `offset` counting bytes on the wire, and at most chunk_bytes / 4 * 4 data bytes, so every
// chunk holds whole elements. A tensor of no bytes is one empty chunk. `chunk` is the caller's,
// reused for every chunk: what the caller set in it (version, abort_in_flight) travels in each.
void for_each_chunk(const WeightTensor& t, size_t chunk_bytes, bool as_f32, v1::TensorChunk& chunk,
                    const std::function<void(const v1::TensorChunk&)>& send);

}  // namespace r1::rollout

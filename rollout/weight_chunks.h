// A weight update's tensors on the wire (proto/rollout.proto's TensorChunk): each tensor cut into
// chunks of whole elements, F32 rounded to bf16 unless asked to stay F32; and the delta of an update
// against the previous one (only the elements whose bytes changed). The client
// (rollout/client_weights.cpp) builds each chunk once and writes it to every worker that takes it; the
// worker (inference/weight_image.h) writes them into its copy of the weights by name and offset. No
// LibTorch.
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
// The dtype `t` travels in (F32 as bf16 unless as_f32), and its bytes on the wire.
WireDtype wire_dtype(const WeightTensor& t, bool as_f32);
size_t wire_bytes(const WeightTensor& t, bool as_f32);

// A chunk's name, dtype on the wire (F32 as bf16 unless as_f32) and shape, for tensor `t`.
void describe_tensor(const WeightTensor& t, bool as_f32, v1::TensorChunk& chunk);

using SendChunk = std::function<void(const v1::TensorChunk&)>;
void for_each_chunk(const WeightTensor& t, size_t chunk_bytes, bool as_f32, v1::TensorChunk& chunk, const SendChunk& send);

// for_each_chunk for the workers that take the update whole (`full`, with `full_chunk`), and at once
// the delta for those that hold the previous update (`delta`, with `delta_chunk`): for each region
// of chunk_bytes, nothing when no element changed against `previous` (the tensor's wire bytes in
// the previous update), else a CHANGED chunk (bitmap and values) or, where that is no smaller, the
// region DENSE. `previous` then holds this update's wire bytes; when it held none of the right size,
// the delta is the whole tensor, DENSE. Either callback may be empty; `previous` may be null (no
// delta then).
void for_each_chunk_and_delta(const WeightTensor& t, size_t chunk_bytes, bool as_f32, std::vector<uint8_t>* previous,
                              v1::TensorChunk& full_chunk, const SendChunk& full, v1::TensorChunk& delta_chunk,
                              const SendChunk& delta);

// One region's delta: `now` against `before` (bytes of whole elements of element_bytes each) into
// `chunk`'s encoding, span and data: CHANGED when the bitmap and the changed values are smaller than
// the region, DENSE otherwise. Returns false, leaving `chunk` as it was, when nothing changed.
bool encode_delta(const uint8_t* now, const uint8_t* before, size_t bytes, size_t element_bytes, v1::TensorChunk& chunk);

}  // namespace r1::rollout

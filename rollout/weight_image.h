// A rollout worker's copy of its weights as they travel (proto/rollout.proto's TensorChunk): every
// tensor's bytes in the dtype they were sent in, by name. Every UpdateWeights stream is written into it
// and the new model is built from it (inference/server.cpp), so
//   - a delta update (only the changed elements, against the version the image holds) can be applied:
//     the model itself cannot take one, an FP8 model least of all (its codes depend on each row's
//     largest value);
//   - the bytes of an update land in memory that was touched before: a fresh gigabyte costs seconds of
//     page faults on some machines, more than the transfer itself.
// The image holds a version only after a whole update was written; a stream that fails half-way leaves
// it holding none, and the next update must be a full one. read_update() reads a whole stream into
// it, as the worker (inference/server.cpp) and the tests' fake worker do. No LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/rollout.pb.h"

namespace r1::rollout {

// One chunk as the server read it.
struct ChunkView {
  std::string_view name, dtype;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  bool changed = false;  // CHUNK_ENCODING_CHANGED: a bitmap of `span` bytes' elements, then their values
  uint64_t span = 0;
  std::string_view data;
};

// Anonymous memory mapped with its pages populated in one call: a fault per page cost 3.8 s per GiB on
// a virtual machine where populating took 0.25 s.
struct Unmap {
  size_t size = 0;
  void operator()(uint8_t* p) const;
};
using MappedBytes = std::unique_ptr<uint8_t, Unmap>;
MappedBytes map_bytes(size_t size);

class WeightImage {
 public:

  struct Tensor {
    std::string dtype;                  // as sent: "BF16", "F16", "F32"
    size_t element = 0;                 // bytes per element
    std::vector<int64_t> shape;
    MappedBytes bytes;                  // kept from update to update
    size_t size = 0;                    // bytes
    size_t filled = 0;                  // of a full update, so far
    uint64_t written = 0;               // the generation that last wrote it
  };
  using Shapes = std::map<std::string, std::vector<int64_t>>;

  // `shapes`: every tensor of the model; `architecture` names the model in errors.
  WeightImage(Shapes shapes, std::string architecture);

  // The version whose bytes the image holds whole, if any.
  std::optional<uint64_t> version() const { return version_; }
  // Starts writing an update: a full one (base 0) or a delta against version `base`, which the caller
  // checked the image holds. The image holds no version until finish().
  void begin(uint64_t base);
  // Writes one chunk; returns its fault, naming the tensor, or "". Checks: the tensor is the model's,
  // in its shape; a dtype of BF16, F16 or F32 (a delta's: the one its tensor was sent in); offsets of
  // whole elements that continue the tensor (a full update) or lie inside it (a delta); CHANGED
  // chunks only in a delta, their bitmap and values consistent; every value written finite.
  std::string write(const ChunkView& chunk);
  // Ends the update: a full one must have brought every tensor whole. Returns the fault or "", and on
  // success holds `version`.
  std::string finish(uint64_t version);

  // Counts begin()s: a tensor whose `written` is above the generation a model was built at differs
  // from that model.
  uint64_t generation() const { return generation_; }
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  // Bytes held.
  size_t bytes() const;

 private:
  std::string write_dense(const ChunkView& chunk, Tensor& t);
  std::string write_changed(const ChunkView& chunk, Tensor& t);

  std::map<std::string, Tensor> tensors_;
  std::string architecture_;
  std::optional<uint64_t> version_;
  uint64_t generation_ = 0;
  bool delta_ = false;
};

// What one UpdateWeights stream asked for, from its first chunk, and how reading it went.
struct UpdateStream {
  std::optional<uint64_t> version;
  uint64_t base = 0;  // a delta's base version; 0: a full update
  bool abort_in_flight = false;
  std::string error;  // the stream's fault: INVALID_ARGUMENT
  std::string stale;  // a delta against weights the image does not hold: FAILED_PRECONDITION
};

// Reads a whole stream (`next` fills the next chunk, false at the end) into `image`; after the first
// fault the rest is drained unread, so the client gets one answer. The first chunk's version must be
// above `in_service`, a delta's base the version the image holds; every later chunk repeats both.
UpdateStream read_update(const std::function<bool(v1::TensorChunk&)>& next, WeightImage& image, uint64_t in_service);

// Whether every element of `bytes` (whole elements of dtype "BF16", "F16" or "F32") is finite: no
// exponent of all ones.
bool all_finite(std::string_view dtype, const uint8_t* bytes, size_t size);

}  // namespace r1::rollout

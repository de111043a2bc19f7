// safetensors checkpoints (Hugging Face's format), read memory-mapped and written atomically, single
// file or sharded (`model.safetensors.index.json`). No LibTorch: tensors are typed byte ranges; the
// model code wraps them (torch::from_blob) without copying.
//
// The format: an 8-byte little-endian header length N, N bytes of JSON
//   {"NAME": {"dtype": "BF16", "shape": [..], "data_offsets": [BEGIN, END]}, ..., "__metadata__": {..}}
// then the data; offsets count from the end of the header. Every file is validated before a byte of it
// is used: header size, JSON shape, known dtypes, non-negative shapes whose byte size equals the range,
// ranges inside the file that neither overlap nor leave holes. A bad file is one r1::Error naming the
// file and, where one is at fault, the tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace r1::checkpoint {

enum class DType { kBool, kU8, kI8, kI16, kU16, kF16, kBF16, kI32, kU32, kF32, kF64, kI64, kU64, kF8E4M3, kF8E5M2 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // as safetensors spells it: "BF16", "F32", "F8_E4M3", ...
std::optional<DType> parse_dtype(const std::string& name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  uint64_t numel() const;
  uint64_t bytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // in the order of their data
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // 8 + header length
};

// The largest header accepted (Hugging Face's reader has the same bound).
constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

// Parses and validates a header. `bytes` holds the file's first `size` bytes (at least the header);
// `file_size` is the whole file's. `path` names the file in errors.
SafetensorsHeader parse_safetensors_header(const std::string& path, const uint8_t* bytes, size_t size,
                                           uint64_t file_size);

// One safetensors file, memory-mapped read-only.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const TensorInfo* find(const std::string& name) const;  // nullptr when absent
  const TensorInfo& at(const std::string& name) const;    // throws naming the file and tensor
  const uint8_t* data(const TensorInfo& tensor) const;   // the tensor's bytes (aligned as written)

 private:
  std::string path_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
};

// A tensor to write: its bytes must be shape's element count times the dtype's size.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// Writes one file (tensors sorted by name, each aligned to 8 bytes within the file); written to a
// temporary name and renamed, so a crash never leaves a half-written checkpoint under `path`.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A checkpoint folder: `model.safetensors`, or shards listed by `model.safetensors.index.json`.
class Checkpoint {
 public:
  explicit Checkpoint(const std::string& dir);
  std::vector<std::string> names() const;  // every tensor, sorted
  bool contains(const std::string& name) const;
  // The tensor and its file; throws naming the folder and tensor when absent.
  std::pair<const SafetensorsFile*, const TensorInfo*> at(const std::string& name) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>> tensors_;
};

// Writes tensors into `dir` as one file, or as shards of at most `max_shard_bytes` each (name order)
// with the index Hugging Face writes ("model-00001-of-00003.safetensors", weight_map, total_size).
void write_checkpoint(const std::string& dir, const std::vector<TensorToWrite>& tensors, uint64_t max_shard_bytes = 0,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace r1::checkpoint

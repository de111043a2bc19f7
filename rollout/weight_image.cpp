#include "rollout/weight_image.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <new>
#include <cstring>

namespace r1::rollout {
namespace {

size_t element_size(std::string_view dtype) {
  if (dtype == "BF16" || dtype == "F16") return 2;
  if (dtype == "F32") return 4;
  return 0;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string o = "[";
  for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
  return o + "]";
}

// A branch-free pass the compiler vectorises: any element whose exponent bits are all ones.
template <typename Bits>
bool finite_bits(const uint8_t* bytes, size_t n, Bits exponent) {
  Bits bad = 0;
  for (size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, bytes + i * sizeof(Bits), sizeof(Bits));
    bad |= static_cast<Bits>((b & exponent) == exponent);
  }
  return bad == 0;
}

ChunkView view(const v1::TensorChunk& c) {
  ChunkView v;
  v.name = c.name();
  v.dtype = c.dtype();
  v.shape.assign(c.shape().begin(), c.shape().end());
  v.offset = c.offset();
  v.changed = c.encoding() == v1::CHUNK_ENCODING_CHANGED;
  v.span = c.span();
  v.data = c.data();
  return v;
}

}  // namespace

UpdateStream read_update(const std::function<bool(v1::TensorChunk&)>& next, WeightImage& image, uint64_t in_service) {
  UpdateStream s;
  v1::TensorChunk chunk;
  int64_t chunks = 0;
  while (next(chunk)) {
    ++chunks;
    if (!s.error.empty() || !s.stale.empty()) continue;
    if (!s.version) {
      s.version = chunk.version();
      s.base = chunk.base_version();
      s.abort_in_flight = chunk.abort_in_flight();
      if (*s.version <= in_service) {
        s.error = "version " + std::to_string(*s.version) + " is not newer than the version in service (" +
                  std::to_string(in_service) + ")";
        continue;
      }
      if (s.base && image.version() != s.base) {
        s.stale = "a delta against weights version " + std::to_string(s.base) + ", but this worker holds " +
                  (image.version() ? "version " + std::to_string(*image.version()) : std::string("no whole update"));
        continue;
      }
      image.begin(s.base);
    } else if (chunk.version() != *s.version || chunk.base_version() != s.base) {
      s.error = "chunk " + std::to_string(chunks) + " (" + chunk.name() + "): version " + std::to_string(chunk.version()) +
                " (base " + std::to_string(chunk.base_version()) + ") differs from the stream's " +
                std::to_string(*s.version) + " (base " + std::to_string(s.base) + ")";
      continue;
    }
    s.error = image.write(view(chunk));
  }
  if (!s.version) s.error = "an empty update";
  if (s.error.empty() && s.stale.empty()) s.error = image.finish(*s.version);
  return s;
}


bool all_finite(std::string_view dtype, const uint8_t* bytes, size_t size) {
  if (dtype == "F32") return finite_bits<uint32_t>(bytes, size / 4, 0x7F800000u);
  if (dtype == "BF16") return finite_bits<uint16_t>(bytes, size / 2, 0x7F80u);
  if (dtype == "F16") return finite_bits<uint16_t>(bytes, size / 2, 0x7C00u);
  return false;
}

void Unmap::operator()(uint8_t* p) const {
  if (p) ::munmap(p, size);
}

MappedBytes map_bytes(size_t size) {
  const size_t n = std::max<size_t>(size, 1);
  void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return MappedBytes(static_cast<uint8_t*>(p), Unmap{n});
}

WeightImage::WeightImage(Shapes shapes, std::string architecture) : architecture_(std::move(architecture)) {
  for (auto& [name, shape] : shapes) tensors_[name].shape = std::move(shape);
}

void WeightImage::begin(uint64_t base) {
  version_.reset();
  delta_ = base != 0;
  ++generation_;
  if (!delta_)
    for (auto& [name, t] : tensors_) t.filled = 0;
}

std::string WeightImage::write(const ChunkView& c) {
  auto it = tensors_.find(std::string(c.name));
  const std::string tensor = "tensor '" + std::string(c.name) + "'";
  if (it == tensors_.end()) return tensor + " is not part of this " + architecture_;
  Tensor& t = it->second;
  const size_t element = element_size(c.dtype);
  if (element == 0) return tensor + ": dtype '" + std::string(c.dtype) + "' is not BF16, F32 or F16";
  if (c.shape != t.shape) return tensor + ": shape " + shape_text(c.shape) + ", the model's is " + shape_text(t.shape);
  if (c.changed && !delta_) return tensor + ": a CHANGED chunk in a full update (base_version 0)";
  if (delta_ && (t.written == 0 || c.dtype != t.dtype))
    return tensor + ": a delta in " + std::string(c.dtype) + " against weights sent in " + (t.dtype.empty() ? "no dtype" : t.dtype);
  if (!delta_ && t.written == generation_ && c.dtype != t.dtype) return tensor + ": chunks of different dtypes";
  if (!delta_ && (t.dtype != c.dtype || !t.bytes)) {
    // The first chunk of this tensor in this dtype: its buffer, kept for every later update.
    size_t numel = 1;
    for (int64_t d : t.shape) numel *= static_cast<size_t>(d);
    t.dtype = std::string(c.dtype);
    t.element = element;
    t.size = numel * element;
    t.bytes = map_bytes(t.size);
  }
  return c.changed ? write_changed(c, t) : write_dense(c, t);
}

std::string WeightImage::write_dense(const ChunkView& c, Tensor& t) {
  const std::string tensor = "tensor '" + std::string(c.name) + "'";
  const size_t len = c.data.size();
  if (!delta_ && (c.offset != t.filled || t.filled + len > t.size))
    return tensor + ": chunk at offset " + std::to_string(c.offset) + " of " + std::to_string(len) +
           " bytes does not continue the " + std::to_string(t.filled) + " received (of " + std::to_string(t.size) + ")";
  if (delta_ && (c.offset % t.element || len % t.element || c.offset > t.size || len > t.size - c.offset))
    return tensor + ": delta chunk at offset " + std::to_string(c.offset) + " of " + std::to_string(len) +
           " bytes is not whole elements inside its " + std::to_string(t.size) + " bytes";
  const auto* src = reinterpret_cast<const uint8_t*>(c.data.data());
  if (!all_finite(t.dtype, src, len)) return tensor + " holds NaN or infinite values";
  if (len) std::memcpy(t.bytes.get() + c.offset, src, len);
  if (!delta_) t.filled += len;
  t.written = generation_;
  return "";
}

std::string WeightImage::write_changed(const ChunkView& c, Tensor& t) {
  const std::string tensor = "tensor '" + std::string(c.name) + "'";
  const size_t es = t.element;
  if (c.offset % es || c.span % es || c.offset > t.size || c.span > t.size - c.offset)
    return tensor + ": CHANGED chunk at offset " + std::to_string(c.offset) + " spanning " + std::to_string(c.span) +
           " bytes is not whole elements inside its " + std::to_string(t.size) + " bytes";
  const size_t elements = c.span / es, map_bytes = (elements + 7) / 8;
  const auto* map = reinterpret_cast<const uint8_t*>(c.data.data());
  if (c.data.size() < map_bytes)
    return tensor + ": CHANGED chunk of " + std::to_string(c.data.size()) + " bytes is shorter than its bitmap";
  size_t marked = 0;
  for (size_t i = 0; i < map_bytes; ++i) marked += static_cast<size_t>(std::popcount(map[i]));
  if (elements % 8 && (map[map_bytes - 1] >> (elements % 8)))
    return tensor + ": CHANGED chunk marks elements past its span";
  if (c.data.size() != map_bytes + marked * es)
    return tensor + ": CHANGED chunk marks " + std::to_string(marked) + " elements but carries " +
           std::to_string((c.data.size() - map_bytes) / es) + " values";
  const uint8_t* values = map + map_bytes;
  if (!all_finite(t.dtype, values, marked * es)) return tensor + " holds NaN or infinite values";
  uint8_t* dst = t.bytes.get() + c.offset;
  for (size_t byte = 0; byte < map_bytes; ++byte) {
    for (unsigned bits = map[byte]; bits; bits &= bits - 1) {
      const size_t i = byte * 8 + static_cast<size_t>(std::countr_zero(bits));
      std::memcpy(dst + i * es, values, es);
      values += es;
    }
  }
  t.written = generation_;
  return "";
}

std::string WeightImage::finish(uint64_t version) {
  if (!delta_)
    for (const auto& [name, t] : tensors_) {
      if (t.written != generation_) return "tensor '" + name + "' is missing from the update";
      if (t.filled != t.size)
        return "tensor '" + name + "': " + std::to_string(t.filled) + " of " + std::to_string(t.size) + " bytes arrived";
    }
  version_ = version;
  return "";
}

size_t WeightImage::bytes() const {
  size_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.bytes ? t.size : 0;
  return n;
}

}  // namespace r1::rollout

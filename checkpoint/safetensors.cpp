#include "checkpoint/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/text.h"

namespace r1::checkpoint {
namespace {

using nlohmann::json;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
const DTypeEntry kDTypes[] = {
    {DType::kBool, "BOOL", 1}, {DType::kU8, "U8", 1},     {DType::kI8, "I8", 1},
    {DType::kI16, "I16", 2},   {DType::kU16, "U16", 2},   {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI32, "I32", 4},   {DType::kU32, "U32", 4},
    {DType::kF32, "F32", 4},   {DType::kF64, "F64", 8},   {DType::kI64, "I64", 8},
    {DType::kU64, "U64", 8},   {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
};

std::string known_dtypes() {
  std::string out;
  for (const auto& d : kDTypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) { throw Error(path + ": " + what); }

[[noreturn]] void bad_tensor(const std::string& path, const std::string& name, const std::string& what) {
  throw Error(path + ": tensor '" + name + "': " + what);
}

uint64_t checked_u64(const std::string& path, const std::string& name, const json& v, const char* what) {
  if (!v.is_number_unsigned()) bad_tensor(path, name, std::string(what) + " must be non-negative integers");
  return v.get<uint64_t>();
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

size_t dtype_size(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.size;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  return "?";
}

std::optional<DType> parse_dtype(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return d.dtype;
  return std::nullopt;
}

uint64_t TensorInfo::numel() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

SafetensorsHeader parse_safetensors_header(const std::string& path, const uint8_t* bytes, size_t size,
                                           uint64_t file_size) {
  if (file_size < 8 || size < 8) bad(path, "not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  if (n > kMaxSafetensorsHeader)
    bad(path, "the header claims " + std::to_string(n) + " bytes (more than the " +
                  std::to_string(kMaxSafetensorsHeader >> 20) + " MiB a header may have)");
  if (n < 2) bad(path, "the header is empty");
  if (8 + n > file_size)
    bad(path, "truncated: the header claims " + std::to_string(n) + " bytes but the file has " +
                  std::to_string(file_size - 8) + " after the length");
  if (8 + n > size) bad(path, "the header was not read whole");
  const char* text = reinterpret_cast<const char*>(bytes + 8);
  if (text[0] != '{') bad(path, "the header is not a JSON object");
  json h = json::parse(text, text + n, nullptr, false);
  if (h.is_discarded() || !h.is_object()) bad(path, "the header is not valid JSON");

  SafetensorsHeader out;
  out.data_start = 8 + n;
  const uint64_t data_size = file_size - out.data_start;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) bad(path, "__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) bad(path, "__metadata__['" + m.key() + "'] must be a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) bad_tensor(path, name, "its entry must be an object");
    TensorInfo t;
    t.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) bad_tensor(path, name, "no \"dtype\" string");
    auto parsed = parse_dtype(dt->get<std::string>());
    if (!parsed) bad_tensor(path, name, "unknown dtype '" + dt->get<std::string>() + "' (known: " + known_dtypes() + ")");
    t.dtype = *parsed;
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) bad_tensor(path, name, "no \"shape\" array");
    if (sh->size() > 16) bad_tensor(path, name, "more than 16 dimensions");
    uint64_t numel = 1;
    for (const json& d : *sh) {
      uint64_t dim = checked_u64(path, name, d, "shape entries");
      if (dim > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, dim, &numel))
        bad_tensor(path, name, "its shape's element count overflows");
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2) bad_tensor(path, name, "no \"data_offsets\" [begin, end]");
    t.begin = checked_u64(path, name, (*off)[0], "data_offsets");
    t.end = checked_u64(path, name, (*off)[1], "data_offsets");
    if (t.end < t.begin) bad_tensor(path, name, "data_offsets end before they begin");
    if (t.end > data_size)
      bad_tensor(path, name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                 "] go beyond the file's " + std::to_string(data_size) + " data bytes (truncated?)");
    uint64_t want = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(t.dtype)), &want) || want != t.end - t.begin)
      bad_tensor(path, name, "shape and dtype make " + std::to_string(want) + " bytes but data_offsets hold " +
                                 std::to_string(t.end - t.begin));
    out.tensors.push_back(std::move(t));
  }
  // The ranges tile the data section: sorted, each starts where the previous ended, none overlap.
  std::sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const TensorInfo& t : out.tensors) {
    if (t.begin < at) bad_tensor(path, t.name, "its data overlaps another tensor's");
    if (t.begin > at) bad_tensor(path, t.name, "a gap of " + std::to_string(t.begin - at) + " bytes before its data");
    at = t.end;
  }
  if (at != data_size)
    bad(path, std::to_string(data_size - at) + " bytes after the last tensor's data belong to no tensor");
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  map_size_ = static_cast<size_t>(st.st_size);
  if (map_size_ > 0) {
    void* m = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      throw Error(path + ": cannot map: " + errno_text());
    }
    map_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  try {
    header_ = parse_safetensors_header(path, map_, map_size_, map_size_);
  } catch (...) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    map_ = nullptr;
    throw;
  }
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) throw Error(path_ + ": no tensor '" + name + "'");
  return *t;
}

const uint8_t* SafetensorsFile::data(const TensorInfo& tensor) const { return map_ + header_.data_start + tensor.begin; }

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const TensorToWrite*> order;
  std::set<std::string> seen;
  for (const TensorToWrite& t : tensors) {
    if (!seen.insert(t.name).second) throw Error(path + ": tensor '" + t.name + "' given twice");
    if (t.name == "__metadata__") throw Error(path + ": '__metadata__' cannot name a tensor");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) throw Error(path + ": tensor '" + t.name + "': a negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    if (numel * dtype_size(t.dtype) != t.bytes || (t.bytes > 0 && !t.data))
      throw Error(path + ": tensor '" + t.name + "': " + std::to_string(t.bytes) + " bytes for a shape of " +
                  std::to_string(numel) + " " + dtype_name(t.dtype) + " elements");
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t at = 0;
  for (const TensorToWrite* t : order) {
    h[t->name] = {{"dtype", dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {at, at + t->bytes}}};
    at += t->bytes;
  }
  std::string header = h.dump();
  header.append((8 - (8 + header.size()) % 8) % 8, ' ');  // the data starts 8-byte aligned
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(tmp + ": cannot write: " + errno_text());
    uint64_t n = header.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const TensorToWrite* t : order) out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->bytes));
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw Error(tmp + ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw Error(path + ": cannot move the written file into place");
  }
}

// ---- checkpoint folders ----------------------------------------------------------------------------

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  namespace fs = std::filesystem;
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single = dir + "/model.safetensors";
  if (fs::exists(index_path)) {
    std::ifstream in(index_path, std::ios::binary);
    json idx = json::parse(in, nullptr, false);
    if (idx.is_discarded() || !idx.is_object()) throw Error(index_path + ": not valid JSON");
    auto wm = idx.find("weight_map");
    if (wm == idx.end() || !wm->is_object()) throw Error(index_path + ": no \"weight_map\" object");
    std::map<std::string, const SafetensorsFile*> opened;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) throw Error(index_path + ": weight_map['" + it.key() + "'] must be a file name");
      const std::string file = it.value().get<std::string>();
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
        throw Error(index_path + ": weight_map['" + it.key() + "'] names '" + file + "', not a file in the folder");
      auto f = opened.find(file);
      if (f == opened.end()) {
        files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + file));
        f = opened.emplace(file, files_.back().get()).first;
      }
      const TensorInfo* t = f->second->find(it.key());
      if (!t) throw Error(f->second->path() + ": no tensor '" + it.key() + "', which the index places there");
      tensors_[it.key()] = {f->second, t};
    }
    for (const auto& file : files_)
      for (const TensorInfo& t : file->header().tensors)
        if (!tensors_.count(t.name) || tensors_[t.name].first != file.get())
          throw Error(file->path() + ": tensor '" + t.name + "' is not in the index (or the index places it elsewhere)");
  } else if (fs::exists(single)) {
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (const TensorInfo& t : files_.back()->header().tensors) tensors_[t.name] = {files_.back().get(), &t};
  } else {
    throw Error(dir + ": no model.safetensors or model.safetensors.index.json");
  }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, where] : tensors_) out.push_back(name);
  return out;
}

bool Checkpoint::contains(const std::string& name) const { return tensors_.count(name) > 0; }

std::pair<const SafetensorsFile*, const TensorInfo*> Checkpoint::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(dir_ + ": the checkpoint has no tensor '" + name + "'");
  return it->second;
}

void write_checkpoint(const std::string& dir, const std::vector<TensorToWrite>& tensors, uint64_t max_shard_bytes,
                      const std::map<std::string, std::string>& metadata) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.bytes;
  const std::string index_path = dir + "/model.safetensors.index.json";
  if (max_shard_bytes == 0 || total <= max_shard_bytes) {
    write_safetensors(dir + "/model.safetensors", tensors, metadata);
    fs::remove(index_path, ec);
    return;
  }
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->name < b->name; });
  std::vector<std::vector<TensorToWrite>> shards(1);
  uint64_t in_shard = 0;
  for (const TensorToWrite* t : order) {
    if (!shards.back().empty() && in_shard + t->bytes > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(*t);
    in_shard += t->bytes;
  }
  char name[64];
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    write_safetensors(dir + "/" + name, shards[i], metadata);
    for (const auto& t : shards[i]) weight_map[t.name] = name;
  }
  json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  write_file_atomic(index_path, index.dump(2) + "\n");
  fs::remove(dir + "/model.safetensors", ec);
}

}  // namespace r1::checkpoint

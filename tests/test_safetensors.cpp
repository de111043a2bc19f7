// safetensors: round trips (single file and shards), the exact byte layout Hugging Face reads, and
// every kind of broken or hostile file, each refused with one error naming the file and the tensor.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "checkpoint/safetensors.h"

using nlohmann::json;
using namespace r1::checkpoint;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/r1_test_safetensors_XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A file from a header (as JSON text) and `data_bytes` of data.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes, uint64_t claimed = 0) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  uint64_t n = claimed ? claimed : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << std::string(data_bytes, '\x01');
}

std::string error_of(const std::string& path) {
  try {
    r1::checkpoint::SafetensorsFile f(path);
  } catch (const r1::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("safetensors: round trip, layout and metadata", "[safetensors]") {
  TempDir dir;
  std::vector<float> w = {1.5f, -2.f, 3.25f, 0.f, 7.f, 8.f};
  std::vector<uint16_t> b = {0x3f80, 0x4000};
  std::vector<int64_t> ids = {42};
  r1::checkpoint::write_safetensors(dir.path + "/m.safetensors",
                    {{"z.weight", r1::checkpoint::DType::kF32, {2, 3}, w.data(), w.size() * 4},
                     {"a.bias", r1::checkpoint::DType::kBF16, {2}, b.data(), 4},
                     {"empty", r1::checkpoint::DType::kF32, {0, 4}, nullptr, 0},
                     {"ids", r1::checkpoint::DType::kI64, {}, ids.data(), 8}},
                    {{"format", "pt"}});
  // The bytes Hugging Face's reader expects: u64 length, JSON, data 8-byte aligned, names in order.
  std::string raw = slurp(dir.path + "/m.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  CHECK((8 + n) % 8 == 0);
  json h = json::parse(raw.substr(8, n));
  CHECK(h["__metadata__"]["format"] == "pt");
  CHECK(h["a.bias"]["dtype"] == "BF16");
  CHECK(h["a.bias"]["data_offsets"] == json::array({0, 4}));
  CHECK(h["ids"]["shape"] == json::array());
  CHECK(h["z.weight"]["shape"] == json::array({2, 3}));

  r1::checkpoint::SafetensorsFile f(dir.path + "/m.safetensors");
  CHECK(f.header().metadata.at("format") == "pt");
  CHECK(f.header().tensors.size() == 4);
  const r1::checkpoint::TensorInfo& t = f.at("z.weight");
  CHECK(t.dtype == r1::checkpoint::DType::kF32);
  CHECK(t.numel() == 6);
  CHECK(std::memcmp(f.data(t), w.data(), 24) == 0);
  CHECK(std::memcmp(f.data(f.at("a.bias")), b.data(), 4) == 0);
  int64_t id = 0;
  std::memcpy(&id, f.data(f.at("ids")), 8);
  CHECK(id == 42);
  CHECK(f.at("empty").bytes() == 0);
  CHECK(f.find("missing") == nullptr);
  CHECK_THROWS_WITH(f.at("missing"), Catch::Contains("m.safetensors") && Catch::Contains("no tensor 'missing'"));
  CHECK(r1::checkpoint::dtype_size(r1::checkpoint::DType::kBF16) == 2);
  CHECK(r1::checkpoint::parse_dtype("F8_E4M3") == r1::checkpoint::DType::kF8E4M3);
  CHECK_FALSE(r1::checkpoint::parse_dtype("F17").has_value());
}

TEST_CASE("safetensors: sharded checkpoints with Hugging Face's index", "[safetensors]") {
  TempDir dir;
  std::vector<std::vector<float>> data;
  std::vector<r1::checkpoint::TensorToWrite> tensors;
  for (int i = 0; i < 5; ++i) data.push_back(std::vector<float>(100, static_cast<float>(i)));
  for (int i = 0; i < 5; ++i)
    tensors.push_back({"layer." + std::to_string(i), r1::checkpoint::DType::kF32, {10, 10}, data[static_cast<size_t>(i)].data(), 400});
  r1::checkpoint::write_checkpoint(dir.path, tensors, 900);  // two tensors a shard
  CHECK(std::filesystem::exists(dir.path + "/model-00001-of-00003.safetensors"));
  CHECK(std::filesystem::exists(dir.path + "/model-00003-of-00003.safetensors"));
  CHECK_FALSE(std::filesystem::exists(dir.path + "/model.safetensors"));
  json index = json::parse(slurp(dir.path + "/model.safetensors.index.json"));
  CHECK(index["metadata"]["total_size"] == 2000);
  CHECK(index["weight_map"]["layer.4"] == "model-00003-of-00003.safetensors");
  r1::checkpoint::Checkpoint ck(dir.path);
  CHECK(ck.names().size() == 5);
  auto [file, info] = ck.at("layer.3");
  float x = 0;
  std::memcpy(&x, file->data(*info), 4);
  CHECK(x == 3.f);
  CHECK_THROWS_WITH(ck.at("layer.9"), Catch::Contains("no tensor 'layer.9'"));

  // Written again as one file: the shards' index goes, so the folder has one layout.
  r1::checkpoint::write_checkpoint(dir.path, tensors);
  CHECK_FALSE(std::filesystem::exists(dir.path + "/model.safetensors.index.json"));
  CHECK(r1::checkpoint::Checkpoint(dir.path).names().size() == 5);

  // A broken index: a tensor it places in a shard that lacks it; a file outside the folder.
  r1::checkpoint::write_checkpoint(dir.path, tensors, 900);
  json broken = index;
  broken["weight_map"]["layer.0"] = "model-00002-of-00003.safetensors";
  std::ofstream(dir.path + "/model.safetensors.index.json") << broken.dump();
  CHECK_THROWS_WITH(r1::checkpoint::Checkpoint(dir.path), Catch::Contains("model-00002-of-00003.safetensors") &&
                                              Catch::Contains("no tensor 'layer.0'"));
  broken = index;
  broken["weight_map"]["layer.0"] = "../elsewhere.safetensors";
  std::ofstream(dir.path + "/model.safetensors.index.json") << broken.dump();
  CHECK_THROWS_WITH(r1::checkpoint::Checkpoint(dir.path), Catch::Contains("not a file in the folder"));
  broken = index;
  broken["weight_map"].erase("layer.1");
  std::ofstream(dir.path + "/model.safetensors.index.json") << broken.dump();
  CHECK_THROWS_WITH(r1::checkpoint::Checkpoint(dir.path), Catch::Contains("tensor 'layer.1' is not in the index"));
  CHECK_THROWS_WITH(r1::checkpoint::Checkpoint(dir.path + "/nowhere"), Catch::Contains("no model.safetensors"));
}

TEST_CASE("safetensors: broken and hostile files get one error naming the file and tensor", "[safetensors]") {
  TempDir dir;
  const std::string p = dir.path + "/bad.safetensors";
  auto header = [](const std::string& dtype, const std::string& shape, uint64_t begin, uint64_t end) {
    return "{\"w\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + std::to_string(begin) +
           "," + std::to_string(end) + "]}}";
  };
  write_raw(p, header("F32", "[2]", 0, 8), 8);
  CHECK(error_of(p).empty());  // the well-formed one

  struct Case {
    const char* what;
    std::string header;
    size_t data;
    uint64_t claimed;
    const char* expect;
  };
  const Case cases[] = {
      {"truncated data", header("F32", "[4]", 0, 16), 8, 0, "beyond the file's 8 data bytes"},
      {"offsets beyond the file", header("F32", "[2]", 1000, 1008), 8, 0, "beyond the file"},
      {"a header claiming 100 GB", header("F32", "[2]", 0, 8), 8, 100ull << 30, "more than the 100 MiB"},
      {"a header longer than the file", header("F32", "[2]", 0, 8), 8, 4096, "truncated"},
      {"a wrong dtype string", header("F17", "[2]", 0, 8), 8, 0, "unknown dtype 'F17'"},
      {"shape and bytes disagree", header("F32", "[3]", 0, 8), 8, 0, "make 12 bytes but data_offsets hold 8"},
      {"a negative dimension", header("F32", "[-2]", 0, 8), 8, 0, "non-negative"},
      {"an overflowing shape", header("F32", "[4294967296,4294967296,4294967296]", 0, 8), 8, 0, "overflows"},
      {"offsets reversed", header("F32", "[2]", 8, 0), 8, 0, "end before they begin"},
      {"not JSON", "{\"w\": [1, 2", 8, 0, "not valid JSON"},
      {"not an object", "[1,2,3]", 8, 0, "not a JSON object"},
      {"an entry that is not an object", "{\"w\":3}", 0, 0, "tensor 'w': its entry must be an object"},
      {"no dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0, "no \"dtype\""},
      {"bad metadata", "{\"__metadata__\":{\"a\":1}}", 0, 0, "__metadata__['a'] must be a string"},
      {"unclaimed bytes", header("F32", "[2]", 0, 8), 16, 0, "8 bytes after the last tensor's data"},
      {"overlapping ranges",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       12, 0, "tensor 'b': its data overlaps"},
      {"a hole between tensors",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
       12, 0, "tensor 'b': a gap of 4 bytes"},
      {"a duplicated name (the hole it leaves)",
       "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
       8, 0, "tensor 'a': a gap of 4 bytes"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    write_raw(p, c.header, c.data, c.claimed);
    std::string e = error_of(p);
    CHECK(e.find("bad.safetensors") != std::string::npos);
    CHECK(e.find(c.expect) != std::string::npos);
  }
  // Files that are not safetensors at all.
  std::ofstream(p, std::ios::trunc) << "abc";
  CHECK(error_of(p).find("shorter than its 8-byte header length") != std::string::npos);
  std::ofstream(p, std::ios::trunc).close();
  CHECK(error_of(p).find("bad.safetensors") != std::string::npos);
  CHECK(error_of(dir.path + "/none.safetensors").find("cannot open") != std::string::npos);
  CHECK(error_of(dir.path).find("not a regular file") != std::string::npos);

  // Writing refuses tensors whose bytes do not match their shape, and duplicate names.
  float v[2] = {1, 2};
  CHECK_THROWS_WITH(r1::checkpoint::write_safetensors(p, {{"w", r1::checkpoint::DType::kF32, {3}, v, 8}}), Catch::Contains("8 bytes for a shape of 3"));
  CHECK_THROWS_WITH(r1::checkpoint::write_safetensors(p, {{"w", r1::checkpoint::DType::kF32, {2}, v, 8}, {"w", r1::checkpoint::DType::kF32, {2}, v, 8}}),
                    Catch::Contains("given twice"));
}

// Truncating a good file anywhere gives an error, never a crash or a silently short tensor.
TEST_CASE("safetensors: every truncation of a good file is refused", "[safetensors]") {
  TempDir dir;
  std::vector<float> w(64, 1.f);
  const std::string good = dir.path + "/good.safetensors", cut = dir.path + "/cut.safetensors";
  r1::checkpoint::write_safetensors(good, {{"a", r1::checkpoint::DType::kF32, {8, 8}, w.data(), 256}, {"b", r1::checkpoint::DType::kF32, {4}, w.data(), 16}});
  std::string raw = slurp(good);
  for (size_t len = 0; len < raw.size(); len += 3) {
    std::ofstream(cut, std::ios::binary | std::ios::trunc) << raw.substr(0, len);
    INFO("length " << len);
    CHECK_FALSE(error_of(cut).empty());
  }
  std::ofstream(cut, std::ios::binary | std::ios::trunc) << raw;
  CHECK(error_of(cut).empty());
}

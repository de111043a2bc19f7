// telemetry/tensorboard: CRC32C against the standard vectors, and event files read back by a decoder
// written here independently of the writer (its own bitwise CRC32C, TFRecord framing, protobuf wire
// format), so the file's bytes are checked, not the writer against itself. Also: corruption is caught by
// the CRCs, and unwritable folders and a full disk raise r1::Error naming the path.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "core/error.h"
#include "telemetry/tensorboard.h"

namespace fs = std::filesystem;
using r1::telemetry::TensorBoardWriter;

namespace {

// ---- The independent decoder ----
uint32_t ref_crc32c(const std::string& s) {
  uint32_t c = ~0u;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
  }
  return ~c;
}
uint32_t ref_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
uint64_t le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// TFRecord framing; throws std::runtime_error("... CRC mismatch ...") or "truncated".
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < file.size()) {
    if (file.size() - at < 12) throw std::runtime_error("truncated record header");
    std::string len_bytes = file.substr(at, 8);
    if (le(file, at + 8, 4) != ref_mask(ref_crc32c(len_bytes))) throw std::runtime_error("length CRC mismatch");
    uint64_t len = le(file, at, 8);
    if (file.size() - at - 12 < len + 4) throw std::runtime_error("truncated record");
    std::string data = file.substr(at + 12, len);
    if (le(file, at + 12 + len, 4) != ref_mask(ref_crc32c(data))) throw std::runtime_error("data CRC mismatch");
    out.push_back(data);
    at += 12 + len + 4;
  }
  return out;
}

struct Field {
  uint32_t number = 0, wire = 0;
  uint64_t value = 0;  // varint, fixed64 or fixed32 bits
  std::string bytes;   // wire type 2
};
uint64_t varint(const std::string& s, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= s.size()) throw std::runtime_error("truncated varint");
    auto b = static_cast<unsigned char>(s[at++]);
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint too long");
}
std::vector<Field> fields(const std::string& msg) {
  std::vector<Field> out;
  size_t at = 0;
  while (at < msg.size()) {
    Field f;
    uint64_t key = varint(msg, at);
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = key & 7;
    if (f.wire == 0) {
      f.value = varint(msg, at);
    } else if (f.wire == 1 || f.wire == 5) {
      int n = f.wire == 1 ? 8 : 4;
      if (msg.size() - at < static_cast<size_t>(n)) throw std::runtime_error("truncated fixed");
      f.value = le(msg, at, n);
      at += n;
    } else if (f.wire == 2) {
      uint64_t n = varint(msg, at);
      if (msg.size() - at < n) throw std::runtime_error("truncated bytes");
      f.bytes = msg.substr(at, n);
      at += n;
    } else {
      throw std::runtime_error("unexpected wire type " + std::to_string(f.wire));
    }
    out.push_back(f);
  }
  return out;
}

struct Event {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version, tag, text, plugin;
  bool has_scalar = false;
  float scalar = 0;
  int session_status = 0;  // SessionLog.status: 1 START
};
Event decode_event(const std::string& data) {
  Event e;
  for (const Field& f : fields(data)) {
    if (f.number == 1 && f.wire == 1) std::memcpy(&e.wall_time, &f.value, 8);
    else if (f.number == 2 && f.wire == 0) e.step = static_cast<int64_t>(f.value);
    else if (f.number == 3 && f.wire == 2) e.file_version = f.bytes;
    else if (f.number == 5 && f.wire == 2) {
      auto values = fields(f.bytes);
      REQUIRE(values.size() == 1);
      for (const Field& v : fields(values[0].bytes)) {
        if (v.number == 1) e.tag = v.bytes;
        if (v.number == 2 && v.wire == 5) {
          auto bits = static_cast<uint32_t>(v.value);
          std::memcpy(&e.scalar, &bits, 4);
          e.has_scalar = true;
        }
        if (v.number == 9)  // metadata.plugin_data.plugin_name
          e.plugin = fields(fields(v.bytes).at(0).bytes).at(0).bytes;
        if (v.number == 8)  // tensor: string_val = 8
          for (const Field& t : fields(v.bytes))
            if (t.number == 8) e.text = t.bytes;
      }
    } else if (f.number == 7 && f.wire == 2) {
      for (const Field& l : fields(f.bytes))
        if (l.number == 1 && l.wire == 0) e.session_status = static_cast<int>(l.value);
    } else {
      FAIL("unexpected Event field " << f.number << " wire type " << f.wire);
    }
  }
  return e;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

const fs::path kRoot = fs::temp_directory_path() / ("r1_test_tb_" + std::to_string(getpid()));
struct RemoveRoot {
  ~RemoveRoot() {
    std::error_code ec;
    fs::remove_all(kRoot, ec);
  }
} remove_root;

fs::path fresh_dir(const std::string& name) {
  fs::path dir = kRoot / name;
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST_CASE("tensorboard: crc32c matches the standard vectors", "[tensorboard]") {
  CHECK(r1::telemetry::crc32c("123456789", 9) == 0xE3069283u);
  std::string zeros(32, '\0');
  CHECK(r1::telemetry::crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  std::string ff(32, '\xff');
  CHECK(r1::telemetry::crc32c(ff.data(), ff.size()) == 0x62A8AB43u);
  CHECK(r1::telemetry::crc32c("", 0) == 0u);
  CHECK(r1::telemetry::masked_crc32c("123456789", 9) == ref_mask(0xE3069283u));
  CHECK(ref_crc32c("123456789") == 0xE3069283u);  // the test's own CRC is right too
}

TEST_CASE("tensorboard: scalars read back with tags, steps, values and wall times", "[tensorboard]") {
  fs::path dir = fresh_dir("scalars") / "nested" / "run";  // created by the writer, parents too
  const std::vector<std::string> tags = {"loss", "reward/mean", "kl"};
  const std::vector<int64_t> steps = {0, 1, 300, int64_t{1} << 40, 7};
  auto value = [](size_t t, size_t s) { return 0.125 * static_cast<double>(t) - 1.7 * static_cast<double>(s) + 0.1; };
  std::string path;
  double before = static_cast<double>(time(nullptr));
  {
    TensorBoardWriter w(dir.string());
    path = w.path();
    for (size_t s = 0; s < steps.size(); ++s)
      for (size_t t = 0; t < tags.size(); ++t) {
        if (t == 2) w.scalar(tags[t], value(t, s), steps[s], 1.5e9 + static_cast<double>(s));
        else w.scalar(tags[t], value(t, s), steps[s]);
      }
    w.text("notes", "hello <world> & \xC3\xA9", 3);
  }  // no flush(): the destructor writes the buffer
  double after = static_cast<double>(time(nullptr)) + 1;

  fs::path file(path);
  CHECK(file.parent_path() == dir);
  std::string name = file.filename().string();
  CHECK(name.rfind("events.out.tfevents.", 0) == 0);
  CHECK(name.size() > std::to_string(getpid()).size());
  CHECK(name.substr(name.size() - std::to_string(getpid()).size()) == std::to_string(getpid()));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  CHECK(name.find(std::string(".") + host + ".") != std::string::npos);

  auto records = read_records(slurp(path));
  REQUIRE(records.size() == 1 + tags.size() * steps.size() + 1);
  Event first = decode_event(records[0]);
  CHECK(first.file_version == "brain.Event:2");
  CHECK(first.wall_time >= before);
  CHECK(first.wall_time <= after);
  CHECK_FALSE(first.has_scalar);

  size_t r = 1;
  for (size_t s = 0; s < steps.size(); ++s)
    for (size_t t = 0; t < tags.size(); ++t, ++r) {
      Event e = decode_event(records[r]);
      INFO("record " << r);
      CHECK(e.tag == tags[t]);
      CHECK(e.step == steps[s]);
      CHECK(e.has_scalar);
      CHECK(e.scalar == static_cast<float>(value(t, s)));  // stored as float, bit for bit
      CHECK(e.file_version.empty());
      if (t == 2) CHECK(e.wall_time == 1.5e9 + static_cast<double>(s));
      else CHECK((e.wall_time >= before && e.wall_time <= after));
    }
  Event text = decode_event(records[r]);
  CHECK(text.tag == "notes");
  CHECK(text.step == 3);
  CHECK(text.plugin == "text");
  CHECK(text.text == "hello <world> & \xC3\xA9");
  CHECK_FALSE(text.has_scalar);
}

TEST_CASE("tensorboard: flush makes records visible while the writer lives - files never collide",
          "[tensorboard]") {
  fs::path dir = fresh_dir("flush");
  TensorBoardWriter a(dir.string());
  TensorBoardWriter b(dir.string());  // same folder, same second, same pid
  CHECK(a.path() != b.path());
  a.scalar("x", 2.5, 10);
  a.flush();
  auto records = read_records(slurp(a.path()));
  REQUIRE(records.size() == 2);
  CHECK(decode_event(records[1]).scalar == 2.5f);
  CHECK(read_records(slurp(b.path())).size() == 1);
}

TEST_CASE("tensorboard: a flipped or cut byte is caught by the CRCs", "[tensorboard]") {
  fs::path dir = fresh_dir("corrupt");
  std::string path;
  {
    TensorBoardWriter w(dir.string());
    path = w.path();
    for (int s = 0; s < 4; ++s) w.scalar("loss", 1.0 / (s + 1), s);
  }
  const std::string good = slurp(path);
  REQUIRE(read_records(good).size() == 5);

  std::string bad = good;
  bad[bad.size() - 7] ^= 0x01;  // inside the last record's data (its float value)
  CHECK_THROWS_WITH(read_records(bad), "data CRC mismatch");
  bad = good;
  bad[0] ^= 0x01;  // the first record's length
  CHECK_THROWS_WITH(read_records(bad), "length CRC mismatch");
  bad = good;
  bad[bad.size() - 1] ^= 0x80;  // the last data CRC itself
  CHECK_THROWS_WITH(read_records(bad), "data CRC mismatch");
  CHECK_THROWS_WITH(read_records(good.substr(0, good.size() - 3)), "truncated record");
  spit(path, bad);
  CHECK_THROWS_WITH(read_records(slurp(path)), "data CRC mismatch");
}

TEST_CASE("tensorboard: an unwritable folder is an r1::Error naming it", "[tensorboard]") {
  fs::path root = fresh_dir("unwritable");
  fs::create_directories(root);
  spit((root / "file").string(), "not a folder");
  std::string below_file = (root / "file" / "logs").string();
  CHECK_THROWS_AS(TensorBoardWriter(below_file), r1::Error);
  CHECK_THROWS_WITH(TensorBoardWriter(below_file), Catch::Contains(below_file));
  CHECK_THROWS_WITH(TensorBoardWriter("/proc/r1_no_such_dir"), Catch::Contains("/proc/r1_no_such_dir"));
  if (geteuid() != 0) {  // root writes through permission bits
    fs::path ro = root / "readonly";
    fs::create_directories(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH(TensorBoardWriter(ro.string()), Catch::Contains(ro.string()));
    fs::permissions(ro, fs::perms::owner_all);
  }
}

TEST_CASE("tensorboard: a full disk throws r1::Error and leaves only whole records", "[tensorboard]") {
  // RLIMIT_FSIZE makes writes past the limit fail with EFBIG, as a full disk fails with ENOSPC.
  fs::path dir = fresh_dir("full");
  TensorBoardWriter w(dir.string());
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 1000;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  int step = 0;
  try {
    for (; step < 1000; ++step) {
      w.scalar("a_rather_long_tag_name/to_fill_the_file", step, step);
      w.flush();
    }
  } catch (const r1::Error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  CHECK(step < 1000);
  CHECK_THAT(message, Catch::Contains(w.path()) && Catch::Contains("cannot write"));
  // The part-written record was cut off: what is there decodes, and writing goes on after it.
  CHECK(read_records(slurp(w.path())).size() == static_cast<size_t>(step) + 1);
  w.scalar("after", 1.0, 1);
  w.flush();
  auto records = read_records(slurp(w.path()));
  CHECK(decode_event(records.back()).tag == "after");
}

TEST_CASE("tensorboard: TensorBoard itself reads the file, where installed", "[tensorboard]") {
  if (std::system("/usr/bin/python3 -c 'import tensorboard' >/dev/null 2>&1") != 0) {
    WARN("/usr/bin/python3 has no tensorboard package: reading with TensorBoard skipped");
    return;
  }
  fs::path dir = fresh_dir("tensorboard");
  {
    TensorBoardWriter w(dir.string());
    for (int s = 0; s < 5; ++s) w.scalar("loss", 0.5 * s, s);
  }
  std::string cmd =
      "/usr/bin/python3 -c \"import sys; from tensorboard.backend.event_processing import event_accumulator as ea; "
      "a = ea.EventAccumulator(sys.argv[1]); a.Reload(); s = a.Scalars('loss'); "
      "sys.exit(0 if [(e.step, e.value) for e in s] == [(i, 0.5 * i) for i in range(5)] else 1)\" " +
      dir.string();
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("tensorboard: a restart marker is a SessionLog START at its step", "[tensorboard]") {
  fs::path dir = fresh_dir("restart");
  std::string path;
  {
    TensorBoardWriter w(dir.string());
    path = w.path();
    w.session_start(42);
    w.scalar("loss", 1.0, 43);
  }
  auto records = read_records(slurp(path));
  REQUIRE(records.size() == 3);
  Event marker = decode_event(records[1]);
  CHECK(marker.step == 42);
  CHECK(marker.session_status == 1);
  CHECK_FALSE(marker.has_scalar);
  CHECK(decode_event(records[2]).step == 43);
}

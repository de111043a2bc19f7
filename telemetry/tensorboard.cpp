// TensorBoard event files: CRC32C, TFRecord framing and a hand-written protobuf encoder for the few
// Event fields TensorBoard needs (wall_time, step, file_version, summary with scalar or text values,
// session_log for a restart).
// Field numbers are those of tensorflow/core/util/event.proto and framework/summary.proto, tensor.proto.
#include "telemetry/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "core/log.h"

namespace r1::telemetry {
namespace {

constexpr size_t kFlushThreshold = 64 * 1024;

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

// Protobuf wire format: tag = (field << 3) | wire type; 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire) { put_varint(out, (uint64_t{field} << 3) | wire); }
void put_fixed(std::string& out, uint64_t bits, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}
void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}
void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_tag(out, field, 1);
  put_fixed(out, bits, 8);
}
void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_tag(out, field, 5);
  put_fixed(out, bits, 4);
}
void put_int64(std::string& out, uint32_t field, int64_t v) {
  put_tag(out, field, 0);
  put_varint(out, static_cast<uint64_t>(v));  // int64: negatives as 10-byte two's complement
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Event { wall_time = 1; step = 2; file_version = 3 | summary = 5 }.
std::string event_header(double wall_time, int64_t step) {
  std::string e;
  put_double(e, 1, wall_time);
  if (step != 0) put_int64(e, 2, step);
  return e;
}

// Summary { repeated Value value = 1 }: one value per event.
std::string summary_event(double wall_time, int64_t step, const std::string& value) {
  std::string summary;
  put_bytes(summary, 1, value);
  std::string e = event_header(wall_time, step);
  put_bytes(e, 5, summary);
  return e;
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = kCrcTable[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  uint32_t crc = crc32c(data, n);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& log_dir) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) throw Error(log_dir + ": cannot create TensorBoard log folder: " + ec.message());

  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  double wall = now_seconds();
  std::string base = (std::filesystem::path(log_dir) / "events.out.tfevents.").string() +
                     std::to_string(static_cast<int64_t>(wall)) + "." + host + "." + std::to_string(getpid());
  // Two writers of one process started in the same second into one folder get distinct files.
  for (int n = 0; fd_ < 0; ++n) {
    path_ = n == 0 ? base : base + "." + std::to_string(n);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || n >= 1000))
      throw Error(path_ + ": cannot create TensorBoard event file: " + errno_text(errno));
  }
  std::string e = event_header(wall, 0);
  put_bytes(e, 3, "brain.Event:2");
  append_event(e);
  try {
    flush();
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    flush();
  } catch (const std::exception& e) {
    log::error() << e.what();
  }
  if (fd_ >= 0) ::close(fd_);
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  scalar(tag, value, step, now_seconds());
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  // Summary.Value { tag = 1; simple_value = 2 (float) }
  std::string v;
  put_bytes(v, 1, tag);
  put_float(v, 2, static_cast<float>(value));
  append_event(summary_event(wall_time, step, v));
}

void TensorBoardWriter::text(const std::string& tag, const std::string& value, int64_t step) {
  // Summary.Value { tag = 1; metadata = 9 { plugin_data = 1 { plugin_name = 1: "text" } };
  //                 tensor = 8 { dtype = 1: DT_STRING (7); tensor_shape = 2: {} (a scalar); string_val = 8 } }
  std::string plugin, metadata, tensor, v;
  put_bytes(plugin, 1, "text");
  put_bytes(metadata, 1, plugin);
  put_tag(tensor, 1, 0);
  put_varint(tensor, 7);
  put_bytes(tensor, 2, "");
  put_bytes(tensor, 8, value);
  put_bytes(v, 1, tag);
  put_bytes(v, 9, metadata);
  put_bytes(v, 8, tensor);
  append_event(summary_event(now_seconds(), step, v));
}

void TensorBoardWriter::session_start(int64_t step) {
  // Event { session_log = 7 { status = 1: START (1) } }
  std::string log;
  put_tag(log, 1, 0);
  put_varint(log, 1);
  std::string e = event_header(now_seconds(), step);
  put_bytes(e, 7, log);
  append_event(e);
}

void TensorBoardWriter::append_event(const std::string& event) {
  std::string length;
  put_fixed(length, event.size(), 8);
  std::lock_guard lock(mutex_);
  buffer_ += length;
  put_fixed(buffer_, masked_crc32c(length.data(), length.size()), 4);
  buffer_ += event;
  put_fixed(buffer_, masked_crc32c(event.data(), event.size()), 4);
  if (buffer_.size() >= kFlushThreshold) write_buffer();
}

void TensorBoardWriter::flush() {
  std::lock_guard lock(mutex_);
  write_buffer();
}

void TensorBoardWriter::write_buffer() {
  size_t done = 0;
  while (done < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      // Cut a partly written record off so that the file stays readable and later records can follow,
      // and drop what is pending: a full disk must not make the buffer grow without bound.
      if (::ftruncate(fd_, written_) == 0) ::lseek(fd_, written_, SEEK_SET);
      buffer_.clear();
      throw Error(path_ + ": cannot write TensorBoard event file: " + errno_text(err));
    }
    done += static_cast<size_t>(n);
  }
  written_ += static_cast<int64_t>(buffer_.size());
  buffer_.clear();
}

}  // namespace r1::telemetry

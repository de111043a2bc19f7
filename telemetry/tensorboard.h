// TensorBoard event files written natively, without TensorFlow: the trainer's metrics (loss, reward,
// KL, lengths per step) go to `events.out.tfevents.<unix seconds>.<hostname>.<pid>` in a log folder that
// `tensorboard --logdir` reads. The file is a sequence of TFRecords (length, masked CRC32C of the length,
// data, masked CRC32C of the data), each holding one `Event` protobuf, which is hand-encoded here (a few
// varints and length-delimited fields) so the library depends on nothing but the standard library.
// Write failures (disk full, unwritable folder) throw r1::Error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace r1::telemetry {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.
uint32_t crc32c(const void* data, size_t n);
// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t n);

class TensorBoardWriter {
 public:
  // Creates `log_dir` (and its parents) if missing and a new event file in it, starting with the
  // Event that carries file_version "brain.Event:2". Throws r1::Error naming the folder or the file.
  explicit TensorBoardWriter(const std::string& log_dir);
  // Flushes; a failure here is logged, never thrown.
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One scalar point (stored as a float, as TensorBoard's simple_value is); wall time now.
  void scalar(const std::string& tag, double value, int64_t step);
  void scalar(const std::string& tag, double value, int64_t step, double wall_time);
  // A text summary (the Text dashboard: a scalar DT_STRING tensor, plugin "text"); wall time now.
  void text(const std::string& tag, const std::string& value, int64_t step);

  // A restart marker (SessionLog START at `step`): TensorBoard then drops the points earlier files of
  // the folder hold for later steps (purge_orphaned_data), so a resumed run's redone steps show once.
  void session_start(int64_t step);

  // Writes buffered records to the file. Records are also written whenever the buffer passes 64 KiB.
  void flush();

  // The event file's full path.
  const std::string& path() const { return path_; }

 private:
  void append_event(const std::string& event);  // frames one encoded Event as a TFRecord
  void write_buffer();                           // caller holds mutex_

  std::string path_;
  int fd_ = -1;
  int64_t written_ = 0;  // bytes in the file, always whole records
  std::string buffer_;
  std::mutex mutex_;
};

}  // namespace r1::telemetry

// A progress line for long work, on stderr, redrawn at most 5 times a second, only when stderr is a
// terminal (logs and pipes stay clean) and the log level shows info. With a known total it draws a bar:
//   tokenize [##########----------]  50%  5.0/10.0 MB  2.50 MB/s  1234 lines
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace r1 {

class Progress {
 public:
  // `total_bytes` 0: unknown (no bar). `unit`: what items are called ("lines").
  Progress(std::string label, uint64_t total_bytes, std::string unit = "lines");
  ~Progress();
  void update(uint64_t done_bytes, uint64_t items);
  void finish();  // clears the line

  // The text of one progress line (pure; used by update and by tests).
  static std::string render(const std::string& label, uint64_t done_bytes, uint64_t total_bytes, uint64_t items,
                            const std::string& unit, double seconds);

 private:
  std::string label_, unit_;
  uint64_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace r1

#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/log.h"

namespace r1 {

Progress::Progress(std::string label, uint64_t total_bytes, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total_bytes),
      enabled_(isatty(STDERR_FILENO) && log::enabled(log::Level::info)),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() { finish(); }

std::string Progress::render(const std::string& label, uint64_t done_bytes, uint64_t total_bytes, uint64_t items,
                             const std::string& unit, double seconds) {
  char buffer[256];
  double mb = static_cast<double>(done_bytes) / 1e6;
  double rate = seconds > 0 ? mb / seconds : 0.0;
  std::string line = label;
  if (total_bytes > 0) {
    constexpr int kWidth = 20;
    double fraction = std::min(1.0, static_cast<double>(done_bytes) / static_cast<double>(total_bytes));
    int filled = static_cast<int>(fraction * kWidth);
    line += " [" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "]";
    std::snprintf(buffer, sizeof buffer, " %3d%%  %.1f/%.1f MB", static_cast<int>(fraction * 100), mb,
                  static_cast<double>(total_bytes) / 1e6);
  } else {
    std::snprintf(buffer, sizeof buffer, "  %.1f MB", mb);
  }
  line += buffer;
  std::snprintf(buffer, sizeof buffer, "  %.2f MB/s  %llu %s", rate, static_cast<unsigned long long>(items),
                unit.c_str());
  return line + buffer;
}

void Progress::update(uint64_t done_bytes, uint64_t items) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  double seconds = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%s", render(label_, done_bytes, total_, items, unit_, seconds).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace r1

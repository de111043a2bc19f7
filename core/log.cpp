#include "core/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace r1::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::mutex g_mutex;
Sink g_sink;  // guarded by g_mutex
const char* name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    default: return "";
  }
}
}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }
bool enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink) {
    g_sink(level, message);
    return;
  }
  std::fprintf(stderr, "[r1 %s] %.*s\n", name(level), static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

Sink set_sink(Sink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::swap(sink, g_sink);
  return sink;
}

}  // namespace r1::log

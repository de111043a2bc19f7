// The one logging facility of r1: leveled lines on stderr, "[r1 LEVEL] message".
//
// Why not spdlog: r1 logs a few lines per training step, never on a per-token hot path, so a
// dependency with its own formatting library buys nothing; this is a few lines and compiles fast.
// The `r1` front end sets the level from --quiet / --verbose.
#pragma once

#include <functional>
#include <sstream>
#include <string>
#include <string_view>

namespace r1::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level);
Level level();
bool enabled(Level level);
// Writes one whole line atomically (several threads may log at once).
void write(Level level, std::string_view message);

// Where written lines go: stderr, unless a sink is set (tests read what was logged this way). The sink
// is called under the same lock as the stderr write, one line at a time. Returns the sink it replaces;
// an empty sink restores stderr.
using Sink = std::function<void(Level level, std::string_view message)>;
Sink set_sink(Sink sink);

// Stream-style helpers: r1::log::info() << "loaded " << n << " tokens";
class Line {
 public:
  explicit Line(Level level) : level_(level), on_(enabled(level)) {}
  Line(const Line&) = delete;
  ~Line() {
    if (on_) write(level_, out_.str());
  }
  template <typename T>
  Line& operator<<(const T& value) {
    if (on_) out_ << value;
    return *this;
  }

 private:
  Level level_;
  bool on_;
  std::ostringstream out_;
};

inline Line debug() { return Line(Level::debug); }
inline Line info() { return Line(Level::info); }
inline Line warn() { return Line(Level::warn); }
inline Line error() { return Line(Level::error); }

}  // namespace r1::log

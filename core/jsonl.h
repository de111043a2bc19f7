// Reading JSON lines (one JSON value per line), the format of every r1 dataset and of the CLI's
// stdin/stdout. Blank lines are skipped; a malformed line is an r1::ConfigError that names the
// source and the line number ("<stdin>:7: malformed JSON: ...").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <istream>
#include <string>

namespace r1 {

class JsonLinesReader {
 public:
  JsonLinesReader(std::istream& in, std::string source) : in_(in), source_(std::move(source)) {}
  // Reads the next non-blank line into `row`; false at end of input. An ordered_json keeps each
  // object's keys in the order written (what a chat template's tojson must print).
  bool next(nlohmann::json& row);
  bool next(nlohmann::ordered_json& row);
  int64_t line() const { return line_; }  // 1-based number of the line last read
  uint64_t bytes_read() const { return bytes_; }
  const std::string& source() const { return source_; }
  // An error about the current line: "<source>:<line>: <what>".
  std::string where() const { return source_ + ":" + std::to_string(line_) + ": "; }

 private:
  std::istream& in_;
  std::string source_;
  int64_t line_ = 0;
  uint64_t bytes_ = 0;
  std::string buffer_;

  bool next_line();
};

// One JSON value as a line; invalid UTF-8 in strings is replaced rather than thrown on.
std::string to_json_line(const nlohmann::json& value);

}  // namespace r1

// Config is JSON read into typed structs. ConfigReader walks one JSON object, hands out typed values
// by key, and at finish() rejects every key nobody asked for, naming the closest valid one:
//
//   ConfigReader r(json, "grpo");
//   opts.beta = r.get("beta", 0.0);          // "grpo.beta: expected number, got string"
//   auto clip = r.child("clip");             // nested object, path "grpo.clip"
//   opts.clip_low = clip.get("low", 0.2);
//   clip.finish(); r.finish();               // "grpo.clp: unknown key (did you mean 'clip'?)"
//
// Errors are r1::ConfigError with the full key path. Keys starting with "_" or "//" are comments.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/choices.h"

namespace r1 {

class ConfigReader {
 public:
  // `json` must outlive the reader. `path` prefixes every error ("" for the top level).
  ConfigReader(const nlohmann::json& json, std::string path);
  ~ConfigReader();
  ConfigReader(ConfigReader&&) noexcept;

  bool has(std::string_view key) const;
  // Optional values: the default when the key is absent (or JSON null).
  bool get(std::string_view key, bool fallback);
  int64_t get(std::string_view key, int64_t fallback);
  int get(std::string_view key, int fallback);
  double get(std::string_view key, double fallback);
  std::string get(std::string_view key, const char* fallback);
  std::string get(std::string_view key, const std::string& fallback);
  std::vector<std::string> get(std::string_view key, const std::vector<std::string>& fallback);
  // A string that must be one of `allowed` ("scale: expected one of group|batch|none, got 'grp'").
  std::string get_choice(std::string_view key, const std::string& fallback,
                         const std::vector<std::string>& allowed);
  // Required values: missing key is an error naming the path.
  std::string require_string(std::string_view key);
  double require_number(std::string_view key);
  // Raw access for free-form fields (marks the key as known).
  const nlohmann::json* raw(std::string_view key);
  // A nested object (absent key: an empty object).
  ConfigReader child(std::string_view key);
  // Throws ConfigError for the first key that was never read.
  void finish() const;

  const std::string& path() const { return path_; }
  std::string key_path(std::string_view key) const;

 private:
  const nlohmann::json* find(std::string_view key);
  [[noreturn]] void type_error(std::string_view key, const char* expected, const nlohmann::json& value) const;

  const nlohmann::json* json_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
  std::unique_ptr<nlohmann::json> empty_;  // backs child() of an absent key
};

// Parses a JSON file; a syntax error names the file, line and column. Missing file: one clear error.
nlohmann::json read_json_file(const std::string& path);
// Parses one JSON text (e.g. a JSON-lines row); errors read "<source>:<line>: <what>".
nlohmann::json parse_json_text(std::string_view text, const std::string& source, int64_t line);
nlohmann::ordered_json parse_ordered_json_text(std::string_view text, const std::string& source, int64_t line);

// The object's "device" key (auto | cpu | cuda | cuda:N; default auto), parsed; model/device.h resolves
// it against the machine.
DeviceChoice read_device(ConfigReader& r);

}  // namespace r1

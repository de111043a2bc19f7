#include "core/config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/text.h"

namespace r1 {
namespace {

const char* type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "integer";
    case nlohmann::json::value_t::number_float: return "number";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::object: return "object";
    default: return "value";
  }
}

bool is_comment_key(std::string_view key) { return key.starts_with("_") || key.starts_with("//"); }

// Line and column (1-based) of a byte offset in a text.
std::pair<int64_t, int64_t> line_column(std::string_view text, size_t offset) {
  int64_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

ConfigReader::ConfigReader(const nlohmann::json& json, std::string path) : json_(&json), path_(std::move(path)) {
  if (!json.is_object()) {
    throw ConfigError((path_.empty() ? std::string("config") : path_) + ": expected object, got " + type_name(json));
  }
}
ConfigReader::~ConfigReader() = default;
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;

std::string ConfigReader::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

bool ConfigReader::has(std::string_view key) const {
  auto it = json_->find(key);
  return it != json_->end() && !it->is_null();
}

const nlohmann::json* ConfigReader::find(std::string_view key) {
  used_.emplace(key);
  auto it = json_->find(key);
  if (it == json_->end() || it->is_null()) return nullptr;
  return &*it;
}

void ConfigReader::type_error(std::string_view key, const char* expected, const nlohmann::json& value) const {
  throw ConfigError(key_path(key) + ": expected " + expected + ", got " + type_name(value));
}

bool ConfigReader::get(std::string_view key, bool fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_boolean()) type_error(key, "boolean", *v);
  return v->get<bool>();
}

int64_t ConfigReader::get(std::string_view key, int64_t fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (v->is_number_integer()) return v->get<int64_t>();
  // 1e3 or 4.0 are fine as integers when they are whole.
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  type_error(key, "integer", *v);
}

int ConfigReader::get(std::string_view key, int fallback) {
  int64_t v = get(key, static_cast<int64_t>(fallback));
  if (v < INT32_MIN || v > INT32_MAX) throw ConfigError(key_path(key) + ": integer out of range");
  return static_cast<int>(v);
}

double ConfigReader::get(std::string_view key, double fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_number()) type_error(key, "number", *v);
  return v->get<double>();
}

std::string ConfigReader::get(std::string_view key, const char* fallback) { return get(key, std::string(fallback)); }

std::string ConfigReader::get(std::string_view key, const std::string& fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_string()) type_error(key, "string", *v);
  return v->get<std::string>();
}

std::vector<std::string> ConfigReader::get(std::string_view key, const std::vector<std::string>& fallback) {
  const auto* v = find(key);
  if (!v) return fallback;
  if (!v->is_array()) type_error(key, "array of strings", *v);
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string()) {
      throw ConfigError(key_path(key) + "[" + std::to_string(i) + "]: expected string, got " + type_name(item));
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string ConfigReader::get_choice(std::string_view key, const std::string& fallback,
                                     const std::vector<std::string>& allowed) {
  std::string value = get(key, fallback);
  for (const auto& a : allowed) {
    if (a == value) return value;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : "|") + a;
  std::string message = key_path(key) + ": expected one of " + list + ", got '" + value + "'";
  if (auto near = closest_match(value, allowed); !near.empty()) message += " (did you mean '" + near + "'?)";
  throw ConfigError(message);
}

std::string ConfigReader::require_string(std::string_view key) {
  if (!has(key)) throw ConfigError(key_path(key) + ": required key is missing");
  return get(key, std::string());
}

double ConfigReader::require_number(std::string_view key) {
  if (!has(key)) throw ConfigError(key_path(key) + ": required key is missing");
  return get(key, 0.0);
}

const nlohmann::json* ConfigReader::raw(std::string_view key) { return find(key); }

ConfigReader ConfigReader::child(std::string_view key) {
  const auto* v = find(key);
  if (!v) {
    empty_ = std::make_unique<nlohmann::json>(nlohmann::json::object());
    return ConfigReader(*empty_, key_path(key));
  }
  if (!v->is_object()) type_error(key, "object", *v);
  return ConfigReader(*v, key_path(key));
}

void ConfigReader::finish() const {
  std::vector<std::string> known(used_.begin(), used_.end());
  for (const auto& [key, value] : json_->items()) {
    if (used_.count(key) || is_comment_key(key)) continue;
    std::string message = key_path(key) + ": unknown key";
    if (auto near = closest_match(key, known); !near.empty()) message += " (did you mean '" + near + "'?)";
    throw ConfigError(message);
  }
}

namespace {

template <class Json>
Json parse_json_line(std::string_view text, const std::string& source, int64_t line) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // nlohmann's message reads "[json.exception.parse_error.101] parse error at line 1, column 5: ...".
    auto colon = what.find("parse error");
    throw ConfigError(source + ":" + std::to_string(line) + ": malformed JSON: " +
                      (colon == std::string::npos ? what : what.substr(colon)));
  }
}

}  // namespace

nlohmann::json parse_json_text(std::string_view text, const std::string& source, int64_t line) {
  return parse_json_line<nlohmann::json>(text, source, line);
}

nlohmann::ordered_json parse_ordered_json_text(std::string_view text, const std::string& source, int64_t line) {
  return parse_json_line<nlohmann::ordered_json>(text, source, line);
}

nlohmann::json read_json_file(const std::string& path) {
  std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    auto [line, column] = line_column(text, e.byte == 0 ? 0 : e.byte - 1);
    std::string what = e.what();
    auto syntax = what.find("syntax error");
    throw ConfigError(path + ":" + std::to_string(line) + ":" + std::to_string(column) + ": malformed JSON: " +
                      (syntax == std::string::npos ? what : what.substr(syntax)));
  }
}

DeviceChoice read_device(ConfigReader& r) { return parse_device(r.get("device", "auto"), r.key_path("device")); }

}  // namespace r1

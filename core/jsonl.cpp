#include "core/jsonl.h"

#include "core/config.h"

namespace r1 {

bool JsonLinesReader::next_line() {
  while (std::getline(in_, buffer_)) {
    ++line_;
    bytes_ += buffer_.size() + 1;
    if (!buffer_.empty() && buffer_.back() == '\r') buffer_.pop_back();
    if (buffer_.find_first_not_of(" \t") == std::string::npos) continue;
    return true;
  }
  return false;
}

bool JsonLinesReader::next(nlohmann::json& row) {
  if (!next_line()) return false;
  row = parse_json_text(buffer_, source_, line_);
  return true;
}

bool JsonLinesReader::next(nlohmann::ordered_json& row) {
  if (!next_line()) return false;
  row = parse_ordered_json_text(buffer_, source_, line_);
  return true;
}

std::string to_json_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace r1

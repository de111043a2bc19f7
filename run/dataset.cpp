// Prompt datasets: see dataset.h.
#include "run/dataset.h"

#include <algorithm>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/jsonl.h"
#include "core/log.h"

namespace r1::run {

DatasetPosition DatasetPosition::from_json(const nlohmann::json& j) {
  DatasetPosition p;
  p.epoch = j.at("epoch").get<int64_t>();
  p.index = j.at("index").get<int64_t>();
  return p;
}

PromptRow parse_prompt_row(const nlohmann::json& row, const std::string& source, int64_t line) {
  const std::string where = source + ":" + std::to_string(line) + ": ";
  if (!row.is_object()) throw ConfigError(where + "expected a JSON object with \"prompt\" or \"messages\"");
  PromptRow out;
  out.line = line;
  const bool has_prompt = row.contains("prompt"), has_messages = row.contains("messages");
  if (has_prompt == has_messages)
    throw ConfigError(where + (has_prompt ? "has both \"prompt\" and \"messages\"; keep one"
                                          : "needs \"prompt\" (a string) or \"messages\" (a chat)"));
  if (has_prompt) {
    if (!row["prompt"].is_string() || row["prompt"].get<std::string>().empty())
      throw ConfigError(where + "\"prompt\" must be a non-empty string");
    out.prompt = row["prompt"].get<std::string>();
  } else {
    const auto& m = row["messages"];
    if (!m.is_array() || m.empty()) throw ConfigError(where + "\"messages\" must be a non-empty array");
    for (size_t i = 0; i < m.size(); ++i)
      if (!m[i].is_object() || !m[i].contains("role") || !m[i]["role"].is_string() || !m[i].contains("content") ||
          !m[i]["content"].is_string())
        throw ConfigError(where + "messages[" + std::to_string(i) + "] needs string \"role\" and \"content\"");
    out.messages = m;
  }
  for (const char* key : {"data_source", "source"})
    if (out.source.empty() && row.contains(key) && row[key].is_string()) out.source = row[key].get<std::string>();
  out.reference = nlohmann::json::object();
  for (const auto& [key, value] : row.items())
    if (key != "prompt" && key != "messages") out.reference[key] = value;
  return out;
}

PromptDataset PromptDataset::load(const std::string& path, bool skip_bad_lines, uint64_t seed, const RowParser& parse) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the dataset");
  PromptDataset d;
  d.seed_ = seed;
  d.path_ = path;
  JsonLinesReader reader(in, path);
  while (true) {
    nlohmann::json row;
    try {
      if (!reader.next(row)) break;
      d.rows_.push_back(parse ? parse(row, path, reader.line()) : parse_prompt_row(row, path, reader.line()));
    } catch (const ConfigError& e) {
      if (!skip_bad_lines) throw;
      if (d.skipped_++ == 0) log::warn() << e.what() << " (skipped; further bad lines are counted)";
    }
  }
  if (d.skipped_ > 0) log::warn() << path << ": " << d.skipped_ << " malformed lines skipped";
  if (d.rows_.empty()) throw Error(path + ": no usable rows");
  return d;
}

size_t PromptDataset::drop_rows(const std::function<std::optional<std::string>(const PromptRow&)>& refuse,
                                bool skip_bad_lines) {
  std::vector<PromptRow> kept;
  kept.reserve(rows_.size());
  size_t dropped = 0;
  for (PromptRow& r : rows_) {
    std::optional<std::string> why = refuse(r);
    if (!why) {
      kept.push_back(std::move(r));
      continue;
    }
    const std::string where = path_ + ":" + std::to_string(r.line) + ": " + *why;
    if (!skip_bad_lines) throw ConfigError(where);
    if (dropped++ == 0) log::warn() << where << " (skipped; further such rows are counted)";
  }
  rows_ = std::move(kept);
  skipped_ += dropped;
  if (dropped > 0) log::warn() << path_ << ": " << dropped << " rows left out";
  if (rows_.empty()) throw Error(path_ + ": no usable rows");
  return dropped;
}

std::vector<size_t> PromptDataset::order(int64_t epoch) const {
  std::vector<size_t> idx(rows_.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::mt19937_64 rng(seed_ * 1000003ULL + static_cast<uint64_t>(epoch));
  std::shuffle(idx.begin(), idx.end(), rng);
  return idx;
}

std::vector<size_t> PromptDataset::next(size_t n, DatasetPosition& p) const {
  std::vector<size_t> out;
  std::vector<size_t> ord = order(p.epoch);
  while (out.size() < n) {
    if (p.index >= static_cast<int64_t>(ord.size())) {
      ++p.epoch;
      p.index = 0;
      ord = order(p.epoch);
    }
    out.push_back(ord[static_cast<size_t>(p.index++)]);
  }
  return out;
}

}  // namespace r1::run

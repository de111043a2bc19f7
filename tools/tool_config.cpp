#include "tools/tool_config.h"

#include <set>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "tokenizer/tokenizer.h"
#include "tools/tool_kinds.h"

namespace r1::tools {
namespace {

using nlohmann::json;

struct FormatName {
  const char* name;
  CallFormat format;
};
const FormatName kFormats[] = {{"auto", CallFormat::kAuto},
                               {"hermes", CallFormat::kHermes},
                               {"deepseek", CallFormat::kDeepSeek},
                               {"llama3", CallFormat::kLlama3}};

// The format a Jinja template's source writes calls in, if it names one.
std::optional<CallFormat> format_of_source(const std::string& source) {
  if (source.find("<tool_call>") != std::string::npos) return CallFormat::kHermes;
  if (source.find("<｜tool▁calls▁begin｜>") != std::string::npos || source.find("tool▁call▁begin") != std::string::npos)
    return CallFormat::kDeepSeek;
  if (source.find("<|python_tag|>") != std::string::npos) return CallFormat::kLlama3;
  return std::nullopt;
}

ToolSpec read_tool(const json& entry, const std::string& path) {
  ConfigReader r(entry, path);
  ToolSpec spec;
  spec.kind = r.require_string("kind");
  const ToolKind* kind = find_kind(spec.kind);
  if (!kind) {
    std::string message = r.key_path("kind") + ": unknown tool kind '" + spec.kind + "'";
    if (auto near = closest_match(spec.kind, kind_names()); !near.empty()) message += " (did you mean '" + near + "'?)";
    std::string known;
    for (const auto& k : kind_names()) known += (known.empty() ? "" : ", ") + k;
    throw ConfigError(message + "; kinds: " + known);
  }
  spec.name = r.get("name", spec.kind);
  if (spec.name.empty() || spec.name.find_first_of(" \t\n\r\"'<>{}") != std::string::npos)
    throw ConfigError(r.key_path("name") + ": '" + spec.name + "' is not a tool name (letters, digits, '_', '-', '.')");
  spec.description = r.get("description", kind->default_description);
  kind->read(r, spec);
  r.finish();
  spec.schema = {{"type", "function"},
                 {"function", {{"name", spec.name}, {"description", spec.description}, {"parameters", kind->parameters(spec)}}}};
  return spec;
}

}  // namespace

const char* to_string(CallFormat format) {
  for (const auto& f : kFormats)
    if (f.format == format) return f.name;
  return "auto";
}

const ToolSpec* ToolConfig::find(const std::string& name) const {
  for (const ToolSpec& t : tools)
    if (t.name == name) return &t;
  return nullptr;
}

std::string ToolConfig::names() const {
  std::string out;
  for (const ToolSpec& t : tools) out += (out.empty() ? "" : ", ") + t.name;
  return out;
}

json ToolConfig::schemas() const {
  json out = json::array();
  for (const ToolSpec& t : tools) out.push_back(t.schema);
  return out;
}

ToolConfig read_tool_config(const json& config, const std::string& where) {
  if (!config.is_object()) throw ConfigError(where + ": expected an object");
  ConfigReader r(config, where);
  ToolConfig c;
  std::vector<std::string> format_names;
  for (const auto& f : kFormats) format_names.emplace_back(f.name);
  const std::string format = r.get_choice("format", "auto", format_names);
  for (const auto& f : kFormats)
    if (format == f.name) c.format = f.format;
  c.template_spec = r.get("template", c.template_spec);
  c.stop_after_call = r.get("stop_after_call", c.stop_after_call);
  auto positive = [&](const char* key, int64_t value) {
    if (value < 1) throw ConfigError(r.key_path(key) + ": must be at least 1");
    return value;
  };
  c.max_calls = positive("max_calls", r.get("max_calls", c.max_calls));
  c.max_turns = positive("max_turns", r.get("max_turns", c.max_turns));
  c.max_calls_per_turn = positive("max_calls_per_turn", r.get("max_calls_per_turn", c.max_calls_per_turn));
  c.max_seconds = r.get("max_seconds", c.max_seconds);
  if (!(c.max_seconds > 0)) throw ConfigError(r.key_path("max_seconds") + ": must be positive");
  c.failed_call_penalty = r.get("failed_call_penalty", c.failed_call_penalty);
  if (c.failed_call_penalty < 0) throw ConfigError(r.key_path("failed_call_penalty") + ": must be >= 0 (it is subtracted)");
  c.call_cap = r.get("call_cap", c.call_cap);
  if (c.call_cap < 0) throw ConfigError(r.key_path("call_cap") + ": must be >= 0 (0: no cap)");
  const json* list = r.raw("tools");
  if (!list) throw ConfigError(r.key_path("tools") + ": missing (a list of tools, e.g. [{\"kind\": \"python\"}])");
  if (!list->is_array() || list->empty()) throw ConfigError(r.key_path("tools") + ": expected a non-empty list of tools");
  std::set<std::string> names;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string path = r.key_path("tools") + "[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) throw ConfigError(path + ": expected an object");
    ToolSpec spec = read_tool((*list)[i], path);
    if (!names.insert(spec.name).second) throw ConfigError(path + ".name: tool '" + spec.name + "' appears twice");
    c.tools.push_back(std::move(spec));
  }
  r.finish();
  return c;
}

CallFormat resolve_format(CallFormat format, const std::string& spec, const Tokenizer* tokenizer) {
  if (format != CallFormat::kAuto) return format;
  std::vector<std::string> sources;
  if (spec.empty() || spec == "auto") {
    if (!tokenizer) throw ConfigError("tools.format: 'auto' with template 'auto' needs the model's tokenizer");
    for (const auto& [name, source] : tokenizer->chat_templates())
      if (name == "tool_use") sources.insert(sources.begin(), source);
      else if (name == "default") sources.push_back(source);
  } else if (spec.ends_with(".jinja")) {
    sources.push_back(read_file(spec));
  } else if (spec.ends_with(".json")) {
    return CallFormat::kHermes;
  } else if (spec.starts_with("deepseek")) {
    return CallFormat::kDeepSeek;
  } else if (spec.starts_with("llama3")) {
    return CallFormat::kLlama3;
  } else {
    return CallFormat::kHermes;  // r1-zero, chatml, qwen2.5, qwen3
  }
  for (const auto& s : sources)
    if (auto f = format_of_source(s)) return *f;
  return CallFormat::kHermes;
}

std::vector<std::string> call_stop_strings(CallFormat resolved, bool stop_after_call) {
  if (!stop_after_call) return {};
  switch (resolved) {
    case CallFormat::kHermes: return {"</tool_call>"};
    case CallFormat::kDeepSeek: return {"<｜tool▁call▁end｜>"};
    default: return {};
  }
}

}  // namespace r1::tools

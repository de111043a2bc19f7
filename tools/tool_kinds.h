// The kinds of tools, one table entry each (tool_kinds.cpp): the kind's options read from its entry
// of "tools", its schema (the description and parameters the model is shown), and how a Tool of it
// is made. Adding a kind is one entry; the kinds: python (python_tool.h), and the custom kinds external,
// plugin and remote (custom_tool.h). No LibTorch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tools/tool.h"
#include "tools/tool_config.h"

namespace r1 {
class ConfigReader;
}

namespace r1::tools {

struct ToolKind {
  const char* kind;
  const char* default_description;  // "": the entry must give a description
  // Reads the kind's options from its entry into spec (the caller rejects unread keys).
  void (*read)(ConfigReader& r, ToolSpec& spec);
  // The JSON schema of a call's arguments: {"type": "object", "properties": {...}, "required": [...]}.
  nlohmann::json (*parameters)(const ToolSpec& spec);
  std::unique_ptr<Tool> (*make)(const ToolSpec& spec, const ToolServices& services);
};

const ToolKind* find_kind(const std::string& kind);
std::vector<std::string> kind_names();

// "" when `arguments` fit the parameters' schema (an object; every required property present; each
// property's "type" when the schema gives one: string, number, integer, boolean, object, array),
// else what is wrong: "arguments.code: expected a string, got number".
std::string check_arguments(const nlohmann::json& parameters, const nlohmann::json& arguments);

}  // namespace r1::tools

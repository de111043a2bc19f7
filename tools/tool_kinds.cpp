#include "tools/tool_kinds.h"

#include "core/config.h"
#include "core/error.h"
#include "tools/python_tool.h"

namespace r1::tools {
namespace {

using nlohmann::json;

void read_python(ConfigReader& r, ToolSpec& spec) {
  PythonToolOptions& o = spec.python;
  o.timeout_s = r.get("timeout_s", o.timeout_s);
  if (!(o.timeout_s > 0 && o.timeout_s <= 600)) throw ConfigError(r.key_path("timeout_s") + ": must be in (0, 600]");
  o.memory_mb = r.get("memory_mb", o.memory_mb);
  if (o.memory_mb < 16 || o.memory_mb > 16384) throw ConfigError(r.key_path("memory_mb") + ": must be in [16, 16384]");
  o.max_output_bytes = r.get("max_output_bytes", o.max_output_bytes);
  if (o.max_output_bytes < 64 || o.max_output_bytes > (16 << 20))
    throw ConfigError(r.key_path("max_output_bytes") + ": must be in [64, 16777216]");
  o.replay = r.get_choice("state", "replay", {"replay", "none"}) == "replay";
}

json python_parameters(const ToolSpec&) {
  return {{"type", "object"},
          {"properties", {{"code", {{"type", "string"}, {"description", "The Python code to run"}}}}},
          {"required", json::array({"code"})}};
}

std::unique_ptr<Tool> make_python(const ToolSpec& spec, const ToolServices& services) {
  return std::make_unique<PythonTool>(spec.python, services);
}

const ToolKind kKinds[] = {
    {"python", "Run Python code; what it prints is returned", read_python, python_parameters, make_python},
};

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "integer";
    case json::value_t::number_float: return "number";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::null: return "null";
    default: return "value";
  }
}

bool has_type(const json& v, const std::string& type) {
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer") return v.is_number_integer() || (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())));
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  return true;  // a type this check does not know is the tool's to check
}

}  // namespace

const ToolKind* find_kind(const std::string& kind) {
  for (const ToolKind& k : kKinds)
    if (kind == k.kind) return &k;
  return nullptr;
}

std::vector<std::string> kind_names() {
  std::vector<std::string> out;
  for (const ToolKind& k : kKinds) out.emplace_back(k.kind);
  return out;
}

std::string check_arguments(const json& parameters, const json& arguments) {
  if (!arguments.is_object()) return std::string("arguments: expected an object, got ") + type_name(arguments);
  if (auto req = parameters.find("required"); req != parameters.end() && req->is_array()) {
    for (const json& name : *req)
      if (name.is_string() && !arguments.contains(name.get<std::string>()))
        return "arguments." + name.get<std::string>() + ": missing";
  }
  auto props = parameters.find("properties");
  if (props == parameters.end() || !props->is_object()) return "";
  for (const auto& [key, value] : arguments.items()) {
    auto p = props->find(key);
    if (p == props->end()) {
      if (parameters.value("additionalProperties", true) == false) return "arguments." + key + ": not a parameter of this tool";
      continue;
    }
    auto type = p->find("type");
    if (type != p->end() && type->is_string() && !has_type(value, type->get<std::string>()))
      return "arguments." + key + ": expected " + (type->get<std::string>() == "integer" ? "an " : "a ") +
             type->get<std::string>() + ", got " + type_name(value);
  }
  return "";
}

}  // namespace r1::tools

#include "tools/tool_kinds.h"

#include "core/config.h"
#include "core/error.h"
#include "tools/custom_tool.h"
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

// What the custom kinds share: a description (what the prompt's tool list says), the schema of their
// arguments, a timeout and an output cap.
void read_custom(ConfigReader& r, ToolSpec& spec) {
  CustomToolOptions& o = spec.custom;
  if (spec.description.empty())
    throw ConfigError(r.key_path("description") + ": missing (what the prompt's tool list tells the model the tool does)");
  o.parameters = {{"type", "object"}, {"properties", json::object()}};
  if (const json* p = r.raw("parameters")) {
    const std::string at = r.key_path("parameters");
    if (!p->is_object()) throw ConfigError(at + ": expected a JSON schema object ({\"type\": \"object\", \"properties\": {...}})");
    if (p->contains("type") && (*p)["type"] != "object") throw ConfigError(at + ".type: the arguments are an object: must be \"object\"");
    if (p->contains("properties") && !(*p)["properties"].is_object()) throw ConfigError(at + ".properties: expected an object");
    if (p->contains("required")) {
      const json& req = (*p)["required"];
      if (!req.is_array()) throw ConfigError(at + ".required: expected a list of property names");
      for (const json& name : req)
        if (!name.is_string()) throw ConfigError(at + ".required: expected a list of property names");
    }
    o.parameters = *p;
    if (!o.parameters.contains("type")) o.parameters["type"] = "object";
  }
  o.timeout_s = r.get("timeout_s", o.timeout_s);
  if (!(o.timeout_s > 0 && o.timeout_s <= 600)) throw ConfigError(r.key_path("timeout_s") + ": must be in (0, 600]");
  o.max_output_bytes = r.get("max_output_bytes", o.max_output_bytes);
  if (o.max_output_bytes < 64 || o.max_output_bytes > (16 << 20))
    throw ConfigError(r.key_path("max_output_bytes") + ": must be in [64, 16777216]");
}

void read_processes(ConfigReader& r, CustomToolOptions& o) {
  o.processes = r.get("processes", o.processes);
  if (o.processes < 1 || o.processes > 64) throw ConfigError(r.key_path("processes") + ": must be in [1, 64]");
}

void read_external(ConfigReader& r, ToolSpec& spec) {
  read_custom(r, spec);
  spec.custom.command = r.get("command", std::vector<std::string>{});
  if (spec.custom.command.empty() || spec.custom.command[0].empty())
    throw ConfigError(r.key_path("command") + ": must name a program ([\"python3\", \"my_tool.py\"])");
  read_processes(r, spec.custom);
}

void read_plugin(ConfigReader& r, ToolSpec& spec) {
  read_custom(r, spec);
  spec.custom.path = r.require_string("path");
  spec.custom.in_process = r.get("in_process", spec.custom.in_process);
  if (const json* c = r.raw("config")) {
    if (!c->is_object()) throw ConfigError(r.key_path("config") + ": expected an object (given to r1_tool_v1_create)");
    spec.custom.config = *c;
  }
  read_processes(r, spec.custom);
}

void read_remote(ConfigReader& r, ToolSpec& spec) {
  read_custom(r, spec);
  spec.custom.address = r.require_string("address");
  if (spec.custom.address.empty()) throw ConfigError(r.key_path("address") + ": must be host:port");
  spec.custom.token = r.get("token", spec.custom.token);
}

json custom_parameters(const ToolSpec& spec) { return spec.custom.parameters; }

std::unique_ptr<Tool> make_external(const ToolSpec& spec, const ToolServices&) { return make_external_tool(spec); }
std::unique_ptr<Tool> make_plugin(const ToolSpec& spec, const ToolServices&) { return make_plugin_tool(spec); }
std::unique_ptr<Tool> make_remote(const ToolSpec& spec, const ToolServices&) { return make_remote_tool(spec); }

const ToolKind kKinds[] = {
    {"python", "Run Python code; what it prints is returned", read_python, python_parameters, make_python},
    {"external", "", read_external, custom_parameters, make_external},  // custom_tool.h
    {"plugin", "", read_plugin, custom_parameters, make_plugin},
    {"remote", "", read_remote, custom_parameters, make_remote},
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

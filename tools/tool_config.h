// A stage's "tools" object (docs/tools.md), read into typed options with r1::ConfigReader:
//
//   "tools": {
//     "format": "auto" | "hermes" | "deepseek" | "llama3",  // how the model writes calls
//     "template": "auto",          // the chat template tool messages are rendered with (ChatTemplate::resolve)
//     "stop_after_call": false,    // end a turn right after each call's closing text (call_stops())
//     "max_calls": 8, "max_turns": 9, "max_seconds": 120, "max_calls_per_turn": 4,
//     "failed_call_penalty": 0.0, "call_cap": 0,   // reward shaping the trainer applies from ToolStats
//     "tools": [{"kind": "python", "name": "python", "timeout_s": 5, "memory_mb": 256,
//                "max_output_bytes": 2048, "state": "replay" | "none"},
//               // custom tools, the routes of custom rewards (custom_tool.h; docs/tools.md "Custom tools"):
//               {"kind": "external", "name": "search", "command": ["python3", "my_tool.py"],
//                "description": "...", "parameters": {JSON schema}, "timeout_s": 10,
//                "max_output_bytes": 4096, "processes": 1},
//               {"kind": "plugin", "name": "calc", "path": "libcalc.so", "in_process": false,
//                "config": {...}, "parameters": {...}, "timeout_s": 10, "max_output_bytes": 4096},
//               {"kind": "remote", "name": "lookup", "address": "host:port", "token": "...",
//                "parameters": {...}, "timeout_s": 10, "max_output_bytes": 4096}]
//   }
//
// Kinds: python (the sandbox), external (a program speaking JSON lines), plugin (a shared library of
// the C ABI in tool_plugin_abi.h, run in r1-plugin-host unless in_process), remote (a gRPC
// ToolService, proto/tool.proto).
//
// Each kind of tool is one entry of the table in tool_kinds.cpp (its options, its schema, how it is
// made). No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace r1 {
class Tokenizer;
}

namespace r1::tools {

// How calls are written in a turn (tool_call.h parses each).
enum class CallFormat {
  kAuto,      // from the chat template (resolve_format)
  kHermes,    // <tool_call>{"name": ..., "arguments": {...}}</tool_call>  (Qwen, r1-zero)
  kDeepSeek,  // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{...}\n```<｜tool▁call▁end｜>...
  kLlama3,    // <|python_tag|> then code (the python tool) or {"name": ..., "parameters": {...}}
};
const char* to_string(CallFormat format);

// The python tool's options (python_tool.h).
struct PythonToolOptions {
  double timeout_s = 5;            // wall clock and CPU, per call (replayed cells included)
  int64_t memory_mb = 256;
  int64_t max_output_bytes = 2048;  // what the model sees of the output
  bool replay = true;               // state "replay": earlier successful cells run again first; "none"
};

// The options of the custom kinds, external, plugin and remote (custom_tool.h).
struct CustomToolOptions {
  nlohmann::json parameters;          // the JSON schema of a call's arguments (default: an object, no properties)
  double timeout_s = 10;              // per call: the reply's deadline (cut to the trajectory's time left)
  int64_t max_output_bytes = 4096;    // what the model sees of the content (head and tail past it)
  std::vector<std::string> command;   // external: the program and its arguments
  int64_t processes = 1;              // external, plugin out of process: processes per tool, started as needed
  std::string path;                   // plugin: the shared library
  bool in_process = false;            // plugin: loaded into r1's process (a crash in it ends the run)
  nlohmann::json config = nlohmann::json::object();  // plugin: given to r1_tool_v1_create
  std::string address, token;         // remote: host:port, and the shared token sent as r1-token
};

// One tool of the set: its kind, the name the model calls it by, its schema (OpenAI's function-schema
// object, what the prompt's chat template lists) and its kind's options.
struct ToolSpec {
  std::string kind, name, description;
  nlohmann::json schema;  // {"type": "function", "function": {"name", "description", "parameters"}}
  PythonToolOptions python;  // kind "python"
  CustomToolOptions custom;  // kinds "external", "plugin", "remote"
};

struct ToolConfig {
  CallFormat format = CallFormat::kAuto;
  std::string template_spec = "auto";
  bool stop_after_call = false;
  int64_t max_calls = 8, max_turns = 9;
  double max_seconds = 120;
  int64_t max_calls_per_turn = 4;
  double failed_call_penalty = 0;  // read for the trainer; the host ignores them
  int64_t call_cap = 0;
  std::vector<ToolSpec> tools;

  // The tool called `name`, or nullptr.
  const ToolSpec* find(const std::string& name) const;
  // "python, search": the names, for error messages.
  std::string names() const;
  // The tools' schemas as a list, for ChatOptions::tools (jinja::Value::from_json of it).
  nlohmann::json schemas() const;
};

// Reads the "tools" object; errors are r1::ConfigError naming the key path under `where`
// ("tools.tools[0].timeout_s: must be positive"). Unknown keys are refused, naming the closest one.
ToolConfig read_tool_config(const nlohmann::json& json, const std::string& where = "tools");

// The call format of `format` for a chat template spec: itself unless auto; auto: hermes for the
// named r1-zero, chatml and qwen* templates, deepseek for deepseek-*, llama3 for llama3; for a Jinja
// template (the model's own, `auto`, or a .jinja file) what its source writes: "<tool_call>",
// "<｜tool▁calls▁begin｜>" or "<|python_tag|>" (hermes when it names none). Throws ConfigError when the
// template cannot be read.
CallFormat resolve_format(CallFormat format, const std::string& template_spec, const Tokenizer* tokenizer);

// The strings that end a turn right after a call, for a config that stops after each call:
// "</tool_call>" (hermes), "<｜tool▁call▁end｜>" (deepseek); none for llama3 (its call runs to the end
// of the turn) or when stop_after_call is false.
std::vector<std::string> call_stop_strings(CallFormat resolved, bool stop_after_call);

}  // namespace r1::tools

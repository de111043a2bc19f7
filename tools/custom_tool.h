// Custom tools, through the same routes as custom rewards (rewards/plugin.h, rewards/remote.h):
//
//   external  a program in any language, started on the tool's first call and kept running (one per
//             tool per host, or a small pool: "processes"), one JSON line in per call, one JSON line out
//             (core/line_child.h over core/process.h, as external rewards):
//               in:  {"id": 7, "name": "search", "arguments": {...}, "trajectory": "<id>"}
//               out: {"id": 7, "content": "...", "error": false}   ("id" optional; "error" optional)
//             A reply that is not JSON, a crash, a reply later than timeout_s (the program is killed)
//             or a reply line over the line cap restarts the program for the next call; a reply with no
//             string "content" does not. Each is an error message to the model.
//   plugin    a shared library of the C ABI in tool_plugin_abi.h, run in r1-plugin-host (cli/
//             plugin_host.cpp, "--tool" mode), which speaks the external protocol above, so a crash or a
//             hang costs the call and a restart; "in_process": true loads it into r1's process.
//   remote    a gRPC ToolService (proto/tool.proto): one Call per call with timeout_s as the deadline and
//             the token as r1-token metadata; an unreachable service is an error message.
//
// Every kind cuts content over max_output_bytes (its head and tail, "[... N bytes cut ...]" between, then
// "[output cut to N bytes]", marked an error), and never throws from call(). No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "tools/tool.h"
#include "tools/tool_config.h"

namespace r1::tools {

// The kinds' makers (tool_kinds.cpp's table). Throw r1::Error when the tool cannot be: an external
// program not found, a plugin that does not load (in process, or in its host, started at once).
std::unique_ptr<Tool> make_external_tool(const ToolSpec& spec);
std::unique_ptr<Tool> make_plugin_tool(const ToolSpec& spec);
std::unique_ptr<Tool> make_remote_tool(const ToolSpec& spec);

// What the model sees of a reply's content: over `cap` bytes, its head and tail and a note, marked an
// error; `cut_before` says the content was cut already (a plugin's buffer), which adds the note too.
ToolResult capped_result(std::string content, bool error, int64_t cap, bool cut_before = false);

// A call's deadline in seconds: timeout_s, cut to what the trajectory has left (at least 0.1 s).
double call_seconds(const CustomToolOptions& options, const ToolCallContext& context);
// "Error: timed out after 10 s".
std::string timeout_message(double seconds);

// A tool plugin loaded into this process (the in-process plugin tool, and r1-plugin-host --tool).
class ToolPlugin {
 public:
  // Throws r1::Error naming the path and the missing symbol, the other ABI version, or create's message.
  ToolPlugin(const std::string& path, const nlohmann::json& config);
  ~ToolPlugin();
  ToolPlugin(const ToolPlugin&) = delete;
  ToolPlugin& operator=(const ToolPlugin&) = delete;
  // One call with a buffer of cap + 1 bytes: content cut to `cap` (*cut says so, the note is the
  // caller's: capped_result). Never throws but std::bad_alloc.
  ToolResult call(const std::string& name, const std::string& arguments_json, const std::string& trajectory, int64_t cap,
                  bool* cut) const;

 private:
  std::string path_;
  void* handle_ = nullptr;
  void* state_ = nullptr;
  long long (*call_)(void*, const char*, const char*, const char*, char*, size_t, int*) = nullptr;
  void (*destroy_)(void*) = nullptr;
};

// r1-plugin-host: $R1_PLUGIN_HOST, beside the running program, or where the build put it ("" if none).
std::string find_tool_plugin_host();

}  // namespace r1::tools

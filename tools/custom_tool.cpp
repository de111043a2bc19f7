// What the custom kinds share (custom_tool.h): the output cap, a call's deadline, the plugin host's path.
#include "tools/custom_tool.h"

#include <algorithm>
#include <cstdio>

#include "core/process.h"
#include "tools/python_tool.h"

#ifndef R1_PLUGIN_HOST_BUILD_PATH
#define R1_PLUGIN_HOST_BUILD_PATH ""
#endif

namespace r1::tools {

ToolResult capped_result(std::string content, bool error, int64_t cap, bool cut_before) {
  bool cut = false;
  std::string shown = cut_middle(content, static_cast<size_t>(std::max<int64_t>(cap, 64)), &cut);
  if (cut || cut_before) {
    shown += "\n[output cut to " + std::to_string(cap) + " bytes]";
    error = true;
  }
  return {std::move(shown), error};
}

double call_seconds(const CustomToolOptions& options, const ToolCallContext& context) {
  return std::max(0.1, std::min(options.timeout_s, context.seconds_left));
}

std::string timeout_message(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return std::string("Error: timed out after ") + buf + " s";
}

std::string find_tool_plugin_host() {
  return find_helper("r1-plugin-host", "R1_PLUGIN_HOST", "cli", R1_PLUGIN_HOST_BUILD_PATH);
}

}  // namespace r1::tools

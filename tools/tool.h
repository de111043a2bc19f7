// One tool the model can call: what a call of it returns, and what it is given. Kinds of tools
// (tool_kinds.h) make Tool objects from their ToolSpec; the host (tool_host.h) calls them. No LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace r1::sandbox {
class Runner;
}

namespace r1::tools {

// What the model sees of a call: the tool message's content, and whether the call failed (an error,
// a timeout, a crash, output cut at its cap). Counted in ToolStats::errors.
struct ToolResult {
  std::string content;
  bool error = false;
};

// A call's surroundings: the trajectory's state for this tool (kept by its ToolSession from call to
// call; the python tool keeps its successful cells there), the time the trajectory has left, and the
// trajectory's id (unique across hosts: a random prefix per host and a counter; custom tools are given
// it so a stateful tool can keep per-trajectory state).
struct ToolCallContext {
  std::vector<std::string>* history = nullptr;
  double seconds_left = 1e9;
  std::string trajectory;
};

// What tools may need from their caller, injected (docs/architecture.md): the sandbox's runner,
// made on first use (sandbox::shared_sandbox()); may throw r1::Error when the sandbox cannot start.
struct ToolServices {
  std::function<std::shared_ptr<sandbox::Runner>()> runner;
};

class Tool {
 public:
  virtual ~Tool() = default;
  // Runs one call whose arguments passed the tool's schema (check_arguments). Never throws: a failure
  // is a result with error = true. Called from the host's threads, several calls at once.
  virtual ToolResult call(const nlohmann::json& arguments, ToolCallContext& context) = 0;
};

}  // namespace r1::tools

// The tools of a rollout: rollout::ToolProvider for the engine (rollout/tools.h). A ToolHost reads a
// group's "tools" config (cached by its text), says which strings end a turn at a call, and opens one
// ToolSession per trajectory; a session parses each turn's calls in the model's format
// (tool_call.h), runs them on the host's threads (the python tool in the sandbox), and answers with
// the tool messages rendered through the chat template and tokenized (tool_render.h). Limits per
// trajectory (max_calls, max_turns, max_seconds) end it with TurnOutcome::limit. No LibTorch.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rollout/tools.h"
#include "tools/tool_config.h"

namespace r1 {
class Tokenizer;
}
namespace r1::sandbox {
class Runner;
}

namespace r1::tools {

struct ToolHostOptions {
  size_t threads = 4;  // turns whose calls run at once (each python call waits for a sandbox slot)
};

class ToolHost : public rollout::ToolProvider {
 public:
  using RunnerFactory = std::function<std::shared_ptr<sandbox::Runner>()>;
  struct Prepared;  // a checked config: its tools, format, template and renderer (tool_host.cpp)
  struct Pool;      // the host's threads

  // `tokenizer` tokenizes the appended text and resolves "template": "auto"; it must outlive the host
  // and its sessions. `runner` is called once, on the first python call (sandbox::shared_sandbox()).
  ToolHost(const Tokenizer& tokenizer, RunnerFactory runner, ToolHostOptions options = {});
  // Waits for the turns whose calls are running; turns still queued end (finished, done called).
  // Sessions may outlive the host: their later turns end at once.
  ~ToolHost() override;

  // Reads the config (throws ConfigError naming the key: "tools.tools[0].timeout_s: ..."); the format
  // is resolved and the template checked to render tool messages.
  void check(const rollout::ToolUse& use) override;
  std::vector<std::string> call_stops(const rollout::ToolUse& use) override;
  std::unique_ptr<rollout::ToolSession> open(const rollout::ToolUse& use) override;

  // The config of a use, read and prepared once (thread-safe).
  const ToolConfig& config(const rollout::ToolUse& use);
  CallFormat format(const rollout::ToolUse& use);

 private:
  std::shared_ptr<const Prepared> prepare(const rollout::ToolUse& use);

  const Tokenizer& tokenizer_;
  std::shared_ptr<RunnerFactory> runner_;  // the caller's factory, called once
  std::shared_ptr<Pool> pool_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Prepared>> prepared_;
};

}  // namespace r1::tools

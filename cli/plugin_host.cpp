// r1-plugin-host: a plugin in a process of its own, so that a plugin that crashes, aborts, hangs or calls
// exit() costs one call and a restart, not the trainer. Two modes:
//
//   r1-plugin-host PATH CONFIG_JSON
//     a reward plugin (rewards/plugin_abi.h; rewards/plugin.h's make_hosted_plugin_reward), speaking the
//     external-reward protocol: one reply per request line, {"id", "reward", "reason"} or {"id", "error"};
//     a non-finite reward is written "nan", "inf" or "-inf".
//   r1-plugin-host --tool PATH CONFIG_JSON MAX_OUTPUT_BYTES
//     a tool plugin (tools/tool_plugin_abi.h; tools/custom_tool.h), speaking the external-tool protocol:
//     request {"id", "name", "arguments", "trajectory"}, reply {"id", "content", "error"} with "cut": true
//     when the content was cut at MAX_OUTPUT_BYTES.
//
// Both first write {"ready": true}, or {"error": "..."} and exit status 2 when the plugin does not load.
// Single-threaded; ends when its stdin does.
#include <cmath>
#include <functional>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "rewards/plugin.h"
#include "rewards/reward_set.h"
#include "tools/custom_tool.h"

namespace {

void say(const nlohmann::json& j) {
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n' << std::flush;
}

// Both protocols' loop: {"ready": true}, then one reply per request line, carrying the request's id;
// `answer` fills the reply, `failed` says in the protocol's own words what went wrong.
int serve_lines(const std::function<void(const nlohmann::json&, nlohmann::json&)>& answer,
                const std::function<void(const std::string&, nlohmann::json&)>& failed) {
  say({{"ready", true}});
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::json reply;
    try {
      const nlohmann::json request = nlohmann::json::parse(line);
      reply["id"] = request.value("id", nlohmann::json());
      answer(request, reply);
    } catch (const std::exception& e) {
      failed(e.what(), reply);
    }
    say(reply);
  }
  return 0;
}

int serve_reward(const char* path, const char* config_json) {
  using namespace r1::rewards;
  std::unique_ptr<Reward> plugin;
  try {
    const nlohmann::json config = nlohmann::json::parse(config_json);
    plugin = load_plugin_reward("plugin", path, config);
  } catch (const std::exception& e) {
    say({{"error", e.what()}});
    return 2;
  }
  return serve_lines(
      [&](const nlohmann::json& request, nlohmann::json& reply) {
        const Score s = plugin->score(sample_from_json(request), {}, Deadline());
        if (std::isfinite(s.value)) reply["reward"] = s.value;
        else reply["reward"] = std::isnan(s.value) ? "nan" : s.value > 0 ? "inf" : "-inf";
        if (!s.reason.empty()) reply["reason"] = s.reason;
      },
      [](const std::string& what, nlohmann::json& reply) { reply["error"] = what; });
}

int serve_tool(const char* path, const char* config_json, const char* max_output_bytes) {
  std::unique_ptr<r1::tools::ToolPlugin> plugin;
  long long cap = 0;
  try {
    cap = std::stoll(max_output_bytes);
    plugin = std::make_unique<r1::tools::ToolPlugin>(path, nlohmann::json::parse(config_json));
  } catch (const std::exception& e) {
    say({{"error", e.what()}});
    return 2;
  }
  return serve_lines(
      [&](const nlohmann::json& request, nlohmann::json& reply) {
        bool cut = false;
        const r1::tools::ToolResult r =
            plugin->call(request.value("name", ""), request.value("arguments", nlohmann::json::object()).dump(),
                         request.value("trajectory", ""), cap, &cut);
        reply["content"] = r.content;
        reply["error"] = r.error;
        if (cut) reply["cut"] = true;
      },
      [](const std::string& what, nlohmann::json& reply) {
        reply["content"] = "Error: " + what;
        reply["error"] = true;
      });
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (argc == 5 && std::string(argv[1]) == "--tool") return serve_tool(argv[2], argv[3], argv[4]);
  if (argc == 3) return serve_reward(argv[1], argv[2]);
  say({{"error", "usage: r1-plugin-host PATH CONFIG_JSON | r1-plugin-host --tool PATH CONFIG_JSON MAX_OUTPUT_BYTES"}});
  return 2;
}

// r1-plugin-host PATH CONFIG_JSON: a reward plugin (plugin_abi.h) in a process of its own, so that a
// plugin that crashes, aborts or calls exit() costs a sample's score and a restart, not the trainer
// (plugin.h's make_hosted_plugin_reward). It speaks the external-reward protocol: first
// {"ready": true} (or {"error": "..."} and exit status 2 when the plugin does not load), then one
// reply per request line, {"id", "reward", "reason"} or {"id", "error"}; a non-finite reward is
// written "nan", "inf" or "-inf". Single-threaded; ends when its stdin does.
#include <cmath>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "rewards/plugin.h"
#include "rewards/reward_set.h"

int main(int argc, char** argv) {
  using namespace r1::rewards;
  std::ios::sync_with_stdio(false);
  auto say = [](const nlohmann::json& j) { std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n' << std::flush; };
  if (argc != 3) {
    say({{"error", "usage: r1-plugin-host PATH CONFIG_JSON"}});
    return 2;
  }
  std::unique_ptr<Reward> plugin;
  try {
    const nlohmann::json config = nlohmann::json::parse(argv[2]);
    plugin = load_plugin_reward("plugin", argv[1], config);
  } catch (const std::exception& e) {
    say({{"error", e.what()}});
    return 2;
  }
  say({{"ready", true}});
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::json reply;
    try {
      const nlohmann::json request = nlohmann::json::parse(line);
      reply["id"] = request.value("id", nlohmann::json());
      const Score s = plugin->score(sample_from_json(request), {}, Deadline());
      if (std::isfinite(s.value)) reply["reward"] = s.value;
      else reply["reward"] = std::isnan(s.value) ? "nan" : s.value > 0 ? "inf" : "-inf";
      if (!s.reason.empty()) reply["reason"] = s.reason;
    } catch (const std::exception& e) {
      reply["error"] = e.what();
    }
    say(reply);
  }
  return 0;
}

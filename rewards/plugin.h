// Custom rewards from outside r1:
//   plugin    a shared library speaking the C ABI of plugin_abi.h, loaded with dlopen;
//   external  a program in any language, started once and kept running, speaking JSON lines on
//             stdin/stdout (one sample in, one {"reward": x, "reason": "..."} out), restarted when it
//             dies; a reply later than the time budget kills it (it restarts on the next sample),
//             garbage or a crash is a 0 with the reason.
#pragma once

#include <memory>
#include <vector>

#include "rewards/reward.h"

namespace r1::rewards {

// Throws r1::Error naming the path and the missing symbol or wrong version.
std::unique_ptr<Reward> load_plugin_reward(const std::string& id, const std::string& path, const nlohmann::json& config);

struct ExternalOptions {
  std::vector<std::string> command;  // program and arguments (the time budget is the reward's own)
};
std::unique_ptr<Reward> make_external_reward(const std::string& id, ExternalOptions options);

// The JSON sent to plugins and external programs for a sample.
nlohmann::json sample_to_json(const Sample& sample);

}  // namespace r1::rewards

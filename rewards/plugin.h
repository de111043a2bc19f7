// Custom rewards from outside r1:
//   plugin    a shared library speaking the C ABI of plugin_abi.h, loaded with dlopen, by default in a
//             host process of its own (r1-plugin-host, speaking the external protocol below), or in
//             r1's process for trusted plugins (in_process);
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
  std::string what = "reward program";  // how messages name it
  // The program first writes {"ready": true}, or {"error": "..."} and exits: it is then started when
  // the reward is built, so a program that cannot start is refused with the reward set (plugin hosts).
  bool ready_line = false;
  // This many crashes in a row end the run (RewardFatal) rather than costing samples forever; 0: never.
  int max_crashes_in_a_row = 0;
};

// A plugin run in `r1-plugin-host`, a process of its own (the default for "plugin"): a crash costs
// the sample's score and a restart, not the trainer; three in a row stop the run. Load errors are
// reported here, as for an in-process plugin.
std::unique_ptr<Reward> make_hosted_plugin_reward(const std::string& id, const std::string& path, const nlohmann::json& config);
// The host program: beside the running program, $R1_PLUGIN_HOST, or where the build put it ("" if none).
std::string find_plugin_host();
std::unique_ptr<Reward> make_external_reward(const std::string& id, ExternalOptions options);

// The JSON sent to plugins and external programs for a sample.
nlohmann::json sample_to_json(const Sample& sample);

}  // namespace r1::rewards

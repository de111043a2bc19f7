#include "rewards/plugin.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/process.h"
#include "rewards/plugin_abi.h"

namespace r1::rewards {
namespace {

class PluginReward : public Reward {
 public:
  using Version = int (*)();
  using Create = void* (*)(const char*, char*, size_t);
  using ScoreFn = int (*)(void*, const r1_reward_v1_sample*, r1_reward_v1_result*);
  using Destroy = void (*)(void*);

  PluginReward(std::string id, const std::string& path, const nlohmann::json& config) : id_(std::move(id)) {
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw Error("reward plugin " + path + ": cannot load: " + dlerror());
    auto symbol = [&](const char* name) {
      void* p = dlsym(handle_, name);
      if (!p) {
        dlclose(handle_);
        handle_ = nullptr;
        throw Error("reward plugin " + path + ": missing symbol " + name + " (see rewards/plugin_abi.h)");
      }
      return p;
    };
    auto version = reinterpret_cast<Version>(symbol("r1_reward_v1_abi_version"));
    auto create = reinterpret_cast<Create>(symbol("r1_reward_v1_create"));
    score_ = reinterpret_cast<ScoreFn>(symbol("r1_reward_v1_score"));
    destroy_ = reinterpret_cast<Destroy>(symbol("r1_reward_v1_destroy"));
    if (int v = version(); v != R1_REWARD_ABI_VERSION) {
      dlclose(handle_);
      handle_ = nullptr;
      throw Error("reward plugin " + path + ": ABI version " + std::to_string(v) + ", r1 speaks " +
                  std::to_string(R1_REWARD_ABI_VERSION));
    }
    char error[512] = {};
    state_ = create(config.dump().c_str(), error, sizeof error);
    if (!state_) {
      dlclose(handle_);
      handle_ = nullptr;
      throw Error("reward plugin " + path + ": create failed: " + (error[0] ? error : "no message"));
    }
  }
  ~PluginReward() override {
    if (state_) destroy_(state_);
    if (handle_) dlclose(handle_);
  }

  const std::string& name() const override { return id_; }

  Score score(const Sample& sample, const Components&, const Deadline&) const override {
    std::string reference = sample.reference.dump();
    r1_reward_v1_sample s{sample.prompt.c_str(), sample.completion.c_str(), sample.target_language.c_str(),
                          reference.c_str(), sample.completion_tokens, sample.truncated ? 1 : 0};
    r1_reward_v1_result r{};
    int status = score_(state_, &s, &r);
    r.reason[sizeof r.reason - 1] = '\0';
    if (status != 0) throw Error(r.reason[0] ? r.reason : "plugin failed with status " + std::to_string(status));
    return Score{r.value, {}, r.reason};
  }

 private:
  std::string id_;
  void* handle_ = nullptr;
  void* state_ = nullptr;
  ScoreFn score_ = nullptr;
  Destroy destroy_ = nullptr;
};

}  // namespace

std::unique_ptr<Reward> load_plugin_reward(const std::string& id, const std::string& path, const nlohmann::json& config) {
  return std::make_unique<PluginReward>(id, path, config);
}

std::string find_plugin_host() {
  return find_helper("r1-plugin-host", "R1_PLUGIN_HOST", "cli", R1_PLUGIN_HOST_BUILD_PATH);
}

std::unique_ptr<Reward> make_hosted_plugin_reward(const std::string& id, const std::string& path, const nlohmann::json& config) {
  const std::string host = find_plugin_host();
  if (host.empty())
    throw Error("reward plugin " + path + ": r1-plugin-host (which runs plugins in a process of their own) was not found "
                "beside r1; set R1_PLUGIN_HOST to it, or \"in_process\": true for a plugin you trust");
  ExternalOptions o;
  // A relative path is the caller's: the host runs in the same folder, but say it whole.
  std::error_code ec;
  const std::filesystem::path whole = std::filesystem::absolute(path, ec);
  o.command = {host, ec ? path : whole.string(), config.dump()};
  o.what = "reward plugin";
  o.ready_line = true;
  o.max_crashes_in_a_row = 3;
  return make_external_reward(id, std::move(o));
}

nlohmann::json sample_to_json(const Sample& sample) {
  nlohmann::json j = {{"prompt", sample.prompt},
                      {"completion", sample.completion},
                      {"target_language", sample.target_language},
                      {"reference", sample.reference},
                      {"truncated", sample.truncated}};
  if (sample.completion_tokens >= 0) j["completion_tokens"] = sample.completion_tokens;
  return j;
}

}  // namespace r1::rewards

// An example r1 reward plugin (C ABI v1, rewards/plugin_abi.h): rewards a completion that mentions
// the sample's keyword. Config: {"field": "keyword", "bonus": 1.0}; reference {"keyword": "Pythagoras"}.
//
// Build: part of r1's build (target r1_example_keyword_reward), or on its own:
//   g++ -shared -fPIC -O2 -I<r1 checkout> keyword_reward.cpp -o libkeyword_reward.so
// Use:   [{"kind": "plugin", "name": "keyword", "path": "/path/libkeyword_reward.so",
//          "config": {"field": "keyword", "bonus": 1.0}}]
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <string>

#include "rewards/plugin_abi.h"

namespace {
struct State {
  std::string field = "keyword";
  double bonus = 1.0;
};
void set_reason(r1_reward_v1_result* r, const std::string& text) {
  std::snprintf(r->reason, sizeof r->reason, "%s", text.c_str());
}
}  // namespace

extern "C" {

int r1_reward_v1_abi_version(void) { return R1_REWARD_ABI_VERSION; }

void* r1_reward_v1_create(const char* config_json, char* error, size_t error_size) {
  try {
    auto config = nlohmann::json::parse(config_json);
    auto* state = new State;
    state->field = config.value("field", state->field);
    state->bonus = config.value("bonus", state->bonus);
    return state;
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "bad config: %s", e.what());
    return nullptr;
  }
}

int r1_reward_v1_score(void* state_ptr, const r1_reward_v1_sample* sample, r1_reward_v1_result* result) {
  const auto* state = static_cast<const State*>(state_ptr);
  try {
    auto reference = nlohmann::json::parse(sample->reference_json);
    if (!reference.contains(state->field) || !reference[state->field].is_string()) {
      set_reason(result, "no reference field '" + state->field + "'");
      return 1;
    }
    std::string keyword = reference[state->field].get<std::string>();
    bool found = std::strstr(sample->completion, keyword.c_str()) != nullptr;
    result->value = found ? state->bonus : 0.0;
    set_reason(result, found ? "" : "keyword missing");
    return 0;
  } catch (const std::exception& e) {
    set_reason(result, e.what());
    return 1;
  }
}

void r1_reward_v1_destroy(void* state) { delete static_cast<State*>(state); }

}  // extern "C"
